// `roamdns zone-check [--origin NAME] FILE...`: validates zone files as named-checkzone does,
// printing every problem as `file:line: message` and `file: loaded serial N` for good files.
import { parseArgs } from 'node:util';
import { isUsable, loadZoneFile, zoneSerial } from '../server/zone-check.js';
import { originKey } from '../server/zone-parser.js';
import type { ZoneProblem } from '../server/zone-state.js';

export const ZONE_CHECK_USAGE = `Usage: roamdns zone-check [--origin NAME] FILE...

Checks each zone file like named-checkzone: RFC 1035 syntax ($ORIGIN, $TTL,
$INCLUDE, $GENERATE, parentheses, quoted strings, RFC 3597 \\# data), then the
zone itself (one SOA at the apex, NS records, CNAME alone, in-zone NS targets
with addresses). Out-of-zone data is ignored with a warning.

The origin is --origin NAME, else the file name (example.com.zone ->
example.com.), else the file's first $ORIGIN.

Prints every problem as 'file:line: message' ('warning: ' marks warnings)
and 'file: loaded serial N' for each file that loads.

Exit status: 0 all files load, 1 some file has errors, 2 bad usage.
`;

export interface ZoneCheckIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: ZoneCheckIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** One problem as `file:line: [warning: ]message` (no line number when it concerns the whole file). */
export function formatProblem(p: ZoneProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return `${where}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

export async function zoneCheckMain(argv: string[], io: ZoneCheckIo = stdio): Promise<number> {
  let values: { origin?: string; help?: boolean };
  let files: string[];
  try {
    const parsed = parseArgs({ args: argv, options: { origin: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    values = parsed.values;
    files = parsed.positionals;
  } catch (e) {
    io.err(`roamdns zone-check: ${(e as Error).message}\n\n${ZONE_CHECK_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(ZONE_CHECK_USAGE);
    return 0;
  }
  if (files.length === 0) {
    io.err(`roamdns zone-check: no zone file given\n\n${ZONE_CHECK_USAGE}`);
    return 2;
  }
  const origin = values.origin === undefined ? undefined : originKey(values.origin);
  if (values.origin !== undefined && origin === undefined) {
    io.err(`roamdns zone-check: --origin '${values.origin}' is not a valid domain name\n`);
    return 2;
  }
  let failed = false;
  for (const file of files) {
    const zone = loadZoneFile(file, { origin });
    for (const p of zone.problems) io.out(formatProblem(p) + '\n');
    if (isUsable(zone)) {
      io.out(`${file}: loaded serial ${zoneSerial(zone) ?? 0}\n`);
    } else {
      io.out(`${file}: not loaded due to errors\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
