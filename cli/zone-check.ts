// `roamdns zone-check [--origin NAME] FILE...`: validates zone files as named-checkzone does,
// printing every problem as `file:line: message` and `file: loaded serial N` for good files.
import { parseArgs } from 'node:util';
import { isUsable, loadZoneFile, zoneSerial } from '../server/zone-check.js';
import { originKey } from '../server/zone-parser.js';
import { formatProblem } from '../server/zone-state.js';
import { zoneFiles } from '../server/zone-store.js';
import { ConfigError, loadConfig, resolveFromConfig } from './config.js';

export const ZONE_CHECK_USAGE = `Usage: roamdns zone-check [--origin NAME] FILE...
       roamdns zone-check [--config FILE]

Checks each zone file like named-checkzone: RFC 1035 syntax ($ORIGIN, $TTL,
$INCLUDE, $GENERATE, parentheses, quoted strings, RFC 3597 \\# data), then the
zone itself (one SOA at the apex, NS records, CNAME alone, in-zone NS targets
with addresses). Out-of-zone data is ignored with a warning.

With no FILE, checks every zone file the config's 'zones' names
(--config defaults to ./roamdns.yaml).

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


export async function zoneCheckMain(argv: string[], io: ZoneCheckIo = stdio): Promise<number> {
  let values: { origin?: string; help?: boolean; config?: string };
  let files: string[];
  try {
    const parsed = parseArgs({ args: argv, options: { origin: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
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
    const fromConfig = configZoneFiles(values.config ?? 'roamdns.yaml', io);
    if (!fromConfig) return 2;
    files = fromConfig;
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

/** The zone files a config names, or undefined after printing why not. */
function configZoneFiles(configFile: string, io: ZoneCheckIo): string[] | undefined {
  try {
    const cfg = loadConfig(configFile);
    const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
    const files = zoneFiles(source);
    if (files.length === 0) io.err(`roamdns zone-check: no zone files in ${String(source)}\n`);
    return files.length ? files : undefined;
  } catch (e) {
    io.err(e instanceof ConfigError ? `${e.message}\n` : `roamdns zone-check: ${(e as Error).message}\n`);
    return undefined;
  }
}
