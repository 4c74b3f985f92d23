#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what the tests need (Debian packages,
# node modules), builds, runs vitest, and ends with the totals alone on one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests drive: dig (client), named-checkzone (zone verdicts), named and knotd (reference
# servers and secondaries), ip/nft (namespace cluster and its packet loss), arping and ndptool (the
# agent's gratuitous ARP and unsolicited NA). iputils-arping, not Habets' arping: it sends its frame
# in ~3 ms where the other takes ~55 ms to start, which is most of a graceful move's gap.
# chromium: the status page test loads GET / in it, headless, through playwright-core (never a
# downloaded browser). openssl: the HTTPS probe test makes its certificate at run time.
# dnsperf: the soak (test/soak) keeps a steady query rate on serve while faults are injected.
PKGS=(bind9 bind9-utils bind9-dnsutils knot knot-dnsutils iproute2 nftables iputils-arping libndp-tools chromium openssl dnsperf)
BINS=(named named-checkzone dig knotd kdig ip nft arping ndptool chromium openssl dnsperf)
missing=()
for i in "${!BINS[@]}"; do
  command -v "${BINS[$i]}" >/dev/null 2>&1 || [ -x "/usr/sbin/${BINS[$i]}" ] || missing+=("${PKGS[$i]}")
done
# Habets' arping answers to the same name; replace it with iputils' (they conflict in Debian).
if command -v arping >/dev/null 2>&1 && ! arping -V 2>&1 | grep -q iputils; then missing+=(iputils-arping); fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test/run.sh: missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "test/run.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the daemons it installs; the tests run their own instances on loopback ports.
for svc in named bind9 knot nsd keepalived; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" >/dev/null 2>&1) || true
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent

report="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + (r.numRuntimeErrorTests ?? 0)} failed`);
' "$report" || { echo "0 passed, 1 failed"; status=1; }
exit "$status"
