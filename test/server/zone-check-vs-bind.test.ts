// Differential test: every zone file of test/fixtures/zones/check gets the same verdict from
// roamdns (loadZoneFile, in process) as from Debian's named-checkzone, and when both accept,
// the same records. The expected verdicts and problem codes are in the folder's README table.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalRdataKey } from '../../server/rdata-wire.js';
import type { ResourceRecord } from '../../server/rr.js';
import { isUsable, loadZoneFile } from '../../server/zone-check.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { zoneCheckMain } from '../../cli/zone-check.js';

const DIR = join(import.meta.dirname, '../fixtures/zones/check');

/** Files where roamdns deliberately differs from BIND: the verdicts each must give, and why. */
const DOCUMENTED_DIFFERENCES: Record<string, { bind: Verdict; roamdns: Verdict; why: string }> = {
  'differ-loc-text-form.example.zone': { bind: 'accept', roamdns: 'reject', why: 'LOC is only read in RFC 3597 form' },
};

type Verdict = 'accept' | 'reject';
interface Row { file: string; bind: Verdict; roamdns: Verdict; codes: string[]; what: string }

function findNamedCheckzone(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin'];
  return dirs.map((d) => join(d, 'named-checkzone')).find((p) => p && existsSync(p));
}

const NAMED_CHECKZONE = findNamedCheckzone();
const MISSING = 'named-checkzone not found: apt-get install bind9-utils';

/** Rows of the README table: | `file` | bind | roamdns | codes | what |. */
function readTable(): Row[] {
  const rows: Row[] = [];
  for (const line of readFileSync(join(DIR, 'README.md'), 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` \| (accept|reject) \| (accept|reject) \| ([^|]*) \| (.*) \|$/.exec(line);
    if (!m) continue;
    const codes = m[4]!.trim() === '-' ? [] : m[4]!.split(',').map((c) => c.trim());
    rows.push({ file: m[1]!, bind: m[2] as Verdict, roamdns: m[3] as Verdict, codes, what: m[5]! });
  }
  return rows;
}

const DUMP_DIR = mkdtempSync(join(tmpdir(), 'roamdns-checkzone-'));
afterAll(() => rmSync(DUMP_DIR, { recursive: true, force: true }));

/** BIND's verdict and, when it accepts, its canonical dump (-D) of the zone. */
function runBind(file: string, origin: string): { verdict: Verdict; output: string; dump?: string } {
  if (!NAMED_CHECKZONE) throw new Error(MISSING);
  const out = join(DUMP_DIR, file + '.dump');
  // -i local: no getaddrinfo lookups of out-of-zone targets (network rule); those only warn anyway.
  const r = spawnSync(NAMED_CHECKZONE, ['-i', 'local', '-D', '-o', out, origin, file], { cwd: DIR, encoding: 'utf8', timeout: 20_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status === 0) return { verdict: 'accept', output, dump: readFileSync(out, 'latin1') };
  if (r.status === 1) return { verdict: 'reject', output };
  throw new Error(`named-checkzone ${file} ended abnormally (status ${r.status}, ${r.error?.message ?? r.signal}): ${output}`);
}

function recordKeys(records: ResourceRecord[]): string[] {
  return records.map((rr) => `${rr.owner} ${rr.type} ${rr.ttlSeconds} ${Buffer.from(canonicalRdataKey(rr.type, rr.rdata), 'latin1').toString('hex')}`).sort();
}

const rows = readTable();
const files = readdirSync(DIR).filter((f) => f.endsWith('.zone')).sort();
const agreed: string[] = [];

describe('zone-check agrees with named-checkzone', () => {
  it('named-checkzone is installed', () => {
    expect(NAMED_CHECKZONE, MISSING).toBeDefined();
  });

  it('the README table lists every fixture exactly once, and nothing else', () => {
    expect(rows.map((r) => r.file).sort()).toEqual(files);
    expect(files.length).toBeGreaterThanOrEqual(35);
  });

  it.each(rows.map((r) => [r.file, r] as const))('%s', async (file, row) => {
    const origin = file.slice(0, -'.zone'.length);
    const bind = runBind(file, origin);
    const zone = loadZoneFile(join(DIR, file));
    const ours: Verdict = isUsable(zone) ? 'accept' : 'reject';
    // The `roamdns zone-check FILE` command itself gives the same verdict, as its exit status.
    let printed = '';
    const exit = await zoneCheckMain([join(DIR, file)], { out: (t) => { printed += t; }, err: (t) => { printed += t; } });
    expect(exit, `roamdns zone-check exit status for ${file}\n${printed}`).toBe(ours === 'accept' ? 0 : 1);
    if (ours === 'reject') expect(printed).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}(:\\d+)?: `));
    const problems = zone.problems.map((p) => `${p.line}: ${p.severity}: [${p.code}] ${p.message}`).join('\n');
    const context = `${row.what}\nBIND says:\n${bind.output}\nroamdns says:\n${problems}`;

    expect(bind.verdict, `README's named-checkzone column is wrong for ${file}\n${context}`).toBe(row.bind);
    expect(ours, `roamdns verdict for ${file}\n${context}`).toBe(row.roamdns);
    const difference = DOCUMENTED_DIFFERENCES[file];
    if (difference) {
      expect({ bind: bind.verdict, roamdns: ours }).toEqual({ bind: difference.bind, roamdns: difference.roamdns });
    } else {
      expect(ours, `verdicts differ for ${file} and it is not a documented difference\n${context}`).toBe(bind.verdict);
      agreed.push(file);
    }
    const severity = ours === 'accept' ? 'warning' : 'error';
    const codes = new Set(zone.problems.filter((p) => p.severity === severity).map((p) => p.code));
    for (const code of row.codes) expect(codes.has(code), `expected ${severity} '${code}' for ${file}\n${context}`).toBe(true);

    if (bind.dump !== undefined && ours === 'accept') {
      const theirs = parseZoneText(bind.dump, { file: `${file} (BIND dump)`, origin: zone.origin });
      expect(theirs.problems, 'our parser reads BIND dump').toEqual([]);
      expect(recordKeys(zone.records), `records of ${file} differ from BIND's dump`).toEqual(recordKeys(theirs.records));
    }
  });

  it('agreement figure', () => {
    const expected = files.length - Object.keys(DOCUMENTED_DIFFERENCES).length;
    console.log(`zone-check vs named-checkzone: same verdict on ${agreed.length}/${files.length} files (${Object.keys(DOCUMENTED_DIFFERENCES).length} documented difference)`);
    expect(agreed.length).toBe(expected);
  });
});
