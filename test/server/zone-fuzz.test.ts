// Zone parser fuzzing (issue "Hardening"): random text and mutations of every zone file in the
// fixture corpus go through what `roamdns zone-check` and the zone store run (parseZoneText /
// loadZoneFile, then checkZone, then buildZone + lookups + AXFR for the zones that load).
// For every input: no exception and no 'internal-error' problem (the parser's catch-all for its
// own bugs), every problem names a file that was read and a line inside it, the problem list stays
// bounded, the input is done within PER_INPUT_MS, and the heap stays bounded. $INCLUDE only ever
// reads files inside a temp folder this test creates.
// Inputs come from a seeded PRNG (mulberry32): ZONE_FUZZ_SEED=n replays a run, and
// ZONE_FUZZ_CASE=k runs only input k of it; every failure message names both. A hang blocks the
// worker, so vitest shows nothing: ZONE_FUZZ_TRACE=1 writes each hostile input's name and the
// time of each phase to stderr as it goes.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { zoneCheckMain } from '../../cli/zone-check.js';
import { axfrMessages } from '../../server/axfr.js';
import { lookup } from '../../server/lookup.js';
import { keyToLabels, labelsToKey } from '../../server/name.js';
import { renderResponse } from '../../server/response.js';
import { nameToWire, RRType } from '../../server/rr.js';
import type { Query } from '../../server/wire.js';
import { checkZone, isUsable, loadZoneFile } from '../../server/zone-check.js';
import { MAX_GENERATE_RECORDS, MAX_INCLUDE_DEPTH, MAX_INCLUDES } from '../../server/zone-directives.js';
import { MAX_RECORD_OCTETS } from '../../server/zone-records.js';
import { MAX_PROBLEMS, originFromFileName, parseZoneText, type ParsedZone } from '../../server/zone-parser.js';
import { formatProblem } from '../../server/zone-state.js';
import { buildZone, ZoneSet, type Zone } from '../../server/zone.js';
import { makeTempDir, parseMessage, REPO_ROOT } from '../helpers/roamdns.js';
import { Rng } from '../helpers/rng.js';
import { Tally } from '../helpers/fuzz-tally.js';

const SEED = Number(process.env.ZONE_FUZZ_SEED ?? 0x20ae5eed) >>> 0;
const ONLY = process.env.ZONE_FUZZ_CASE === undefined ? undefined : Number(process.env.ZONE_FUZZ_CASE);
const RANDOM_INPUTS = 2000;
const MUTATED_INPUTS = 6000;
const INCLUDE_GRAPHS = 300;
/** A hang or a catastrophic regex shows up as one input taking seconds. */
const PER_INPUT_MS = 2000;
/**
 * Inputs that $GENERATE the most records a zone may have (65536), some with 250-octet names:
 * linear work on up to 15 MB of names (1 to 6 s on this loaded 2-core machine), not a hang.
 */
const AT_CAP_MS = 10_000;
const HEAP_LIMIT = 1536 * 1024 * 1024;
/** Problems that concern a whole file and so carry line 0. */
const WHOLE_FILE_CODES = new Set(['no-origin', 'file-unreadable', 'no-soa', 'no-ns']);

/** Each input has its own generator, so one input can be replayed alone (ZONE_FUZZ_CASE). */
const rngFor = (caseNo: number): Rng => new Rng((SEED ^ Math.imul(caseNo + 1, 0x9e3779b1)) >>> 0);
const replay = (caseNo: number): string => `ZONE_FUZZ_SEED=${SEED} ZONE_FUZZ_CASE=${caseNo}`;
const wanted = (caseNo: number): boolean => ONLY === undefined || ONLY === caseNo;

// ---- the corpus --------------------------------------------------------------------------------

let tmp = '';
/** Corpus files copied into tmp/corpus (so their $INCLUDEs resolve inside tmp): path -> latin1 text. */
const corpus: { file: string; text: string }[] = [];

function listZoneFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listZoneFiles(p));
    else if (/\.(zone|inc)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

beforeAll(async () => {
  tmp = await makeTempDir('roamdns-zone-fuzz');
  const roots = [['test/fixtures', 'fixtures'], ['zones', 'zones']] as const;
  for (const [from, to] of roots) {
    cpSync(path.join(REPO_ROOT, from), path.join(tmp, 'corpus', to), { recursive: true, filter: (src) => statSync(src).isDirectory() || /\.(zone|inc)$/.test(src) });
  }
  for (const file of listZoneFiles(path.join(tmp, 'corpus'))) corpus.push({ file, text: readFileSync(file, 'latin1') });
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---- running one input -------------------------------------------------------------------------

interface Outcome { ms: number; accepted: boolean; parsed: ParsedZone }
const lineCount = (text: string): number => text.split('\n').length;
const preview = (text: string): string => JSON.stringify(text.length > 300 ? text.slice(0, 300) + '…' : text);

/** Reads only files inside the temp folder; remembers every text it handed out (for the line checks). */
function guardedReader(texts: Map<string, string>): (p: string) => string {
  return (p) => {
    const abs = path.resolve(p);
    if (!abs.startsWith(tmp + path.sep)) throw Object.assign(new Error(`fuzz: refusing to read ${abs} outside the temp folder`), { code: 'EACCES' });
    const text = readFileSync(abs, 'latin1');
    texts.set(p, text);
    return text;
  };
}

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
function makeQuery(labels: string[], qtype: number): Query {
  return { id: 0x4242, opcode: 0, rd: false, cd: false, qlabels: labels, qkey: labelsToKey(labels), qtype, qclass: 1, question: Buffer.concat([nameToWire(labels), u16(qtype), u16(1)]) };
}

/** What the server does with a zone that loads: answer from it, transfer it. */
function serveChecks(zone: Zone): string | undefined {
  const zones = new ZoneSet(new Map([[zone.origin, zone]]));
  let asked = 0;
  for (const [key, node] of zone.nodes) {
    if (asked++ >= 12) break;
    const labels = keyToLabels(key);
    const types = new Set(node.sets.slice(0, 2).map((set) => set.type).concat([RRType.A, RRType.ANY]));
    for (const qtype of types) {
      const result = lookup(zones, key, labels, qtype);
      for (const transport of ['udp', 'tcp'] as const) {
        const reply = parseMessage(renderResponse(makeQuery(labels, qtype), result, transport));
        if (reply.id !== 0x4242) return `reply to ${key}/${qtype} has the wrong id`;
      }
    }
  }
  const xfr = axfrMessages(zones, makeQuery(zone.originLabels, 252), true);
  if (zone.recordCount > 5000) return undefined; // decoding them all would take longer than the rest
  let rrs = 0;
  for (const m of xfr.messages) rrs += parseMessage(m).answer.length;
  if (rrs !== zone.recordCount + 1) return `AXFR carried ${rrs} records for a zone of ${zone.recordCount}`;
  return undefined;
}

/**
 * Parses and checks one input; returns a failure description or the outcome.
 * `texts` maps each file name a problem may carry to its text (the reader adds included files).
 */
function runOne(text: string, file: string, origin: string | undefined, texts = new Map<string, string>(), limitMs = PER_INPUT_MS): { failure?: string; outcome?: Outcome } {
  texts.set(file, text);
  const t0 = performance.now();
  let parsed: ParsedZone;
  let accepted = false;
  let ms = 0;
  try {
    // Timed: what `roamdns zone-check` and the zone store do (parse, check, build the zone).
    const raw = parseZoneText(text, { file, origin, readFile: guardedReader(texts) });
    const t1 = performance.now();
    parsed = checkZone(raw);
    const t2 = performance.now();
    accepted = isUsable(parsed);
    const zone = accepted ? buildZone(parsed.origin, parsed.records) : undefined;
    ms = performance.now() - t0;
    if (process.env.ZONE_FUZZ_TRACE) writeSync(2, `  parse ${(t1 - t0).toFixed(0)} ms, check ${(t2 - t1).toFixed(0)} ms, build ${(t0 + ms - t2).toFixed(0)} ms\n`);
    const bad = zone && serveChecks(zone);
    if (bad) return { failure: `zone loads but ${bad}` };
  } catch (e) {
    return { failure: `threw ${(e as Error).stack ?? String(e)}` };
  }
  const failure = problemsFailure(parsed, texts) ?? (ms > limitMs ? `took ${ms.toFixed(0)} ms (limit ${limitMs})` : undefined)
    ?? (process.memoryUsage().heapUsed > HEAP_LIMIT ? `heap at ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB` : undefined);
  return failure ? { failure } : { outcome: { ms, accepted, parsed } };
}

function problemsFailure(parsed: ParsedZone, texts: Map<string, string>): string | undefined {
  if (parsed.problems.length > 2 * MAX_PROBLEMS + 2) return `${parsed.problems.length} problems (bound ${2 * MAX_PROBLEMS + 2})`;
  for (const p of parsed.problems) {
    const shown = formatProblem(p);
    if (p.code === 'internal-error') return `parser bug caught by its catch-all: ${shown}`;
    const text = texts.get(p.file);
    if (text === undefined) return `problem names a file that was not read: ${JSON.stringify(p)}`;
    if (!Number.isInteger(p.line) || p.line < 0 || p.line > lineCount(text)) return `problem line ${p.line} is outside ${p.file} (${lineCount(text)} lines): ${shown}`;
    if (p.line === 0 && !WHOLE_FILE_CODES.has(p.code)) return `problem without a line: ${JSON.stringify(p)}`;
    if (p.message.length === 0 || /[\x00-\x1f\x7f]/.test(p.message)) return `problem message is empty or has control characters: ${JSON.stringify(p)}`;
  }
  return undefined;
}

function record(t: Tally, caseNo: number, what: string, input: string, r: ReturnType<typeof runOne>): void {
  t.record(caseNo, what, replay(caseNo), () => preview(input), r);
}

function report(label: string, t: Tally, startedAt: number): void {
  t.report('zone fuzz', SEED, label, startedAt);
}

// ---- input generators --------------------------------------------------------------------------

const LONG_LABEL = 'a'.repeat(64);
const TOKENS: readonly string[] = [
  '(', ')', '((', '))', '"', '\\', ';', '\\;', '\\"', '\\(', '@', '*', '.', '..', '$', '$$', '\\#', '\\# 0', '\\# 4 c0000201',
  '$INCLUDE', '$INCLUDE nested-inner.inc', '$INCLUDE nested-outer.inc', '$INCLUDE missing.inc', '$INCLUDE .', '$INCLUDE loop.inc sub',
  '$INCLUDE "quoted name.inc"', '$ORIGIN', '$ORIGIN .', '$ORIGIN sub', '$ORIGIN x.example.', '$TTL', '$TTL 1h', '$TTL -1', '$TTL 4294967296', '$BOGUS',
  '$GENERATE 1-100000 h$ A 192.0.2.1', '$GENERATE 0-4294967295 h$ A 192.0.2.1', '$GENERATE 1-3 h$', '$GENERATE 5-1 h$ A 192.0.2.$',
  '$GENERATE 1-2 ${0,99999,d} A 192.0.2.1', '$GENERATE 1-2 h${-5,3,n} TXT "${1,9,X}"', '$GENERATE 1-2/0 h$ A 192.0.2.1', '$GENERATE 1-9 ${ A 1.2.3.4',
  '99999999999999999999999', '4294967295', '4294967296', '2147483648', '-1', '+1', '0x10', '1e9', '1w2d3h4m5s', '1h30', 'NaN', 'Infinity',
  LONG_LABEL, 'a'.repeat(1000), `${'a.'.repeat(130)}`, `${'abcdefgh.'.repeat(40)}`, '\\000', '\\255', '\\256', '\\99', '\\0', '\\065\\066',
  '\x00', '\x00\x00\x00', '\xff\xfe', '\xc3\x28', '\xe2\x82', '\x7f', '\x1b[31m', '\r\n', '\r', '\n', '\t', ' ', '\n\t',
  'IN', 'CH', 'CLASS0', 'CLASS65535', 'CLASS65536', 'TYPE0', 'TYPE65535', 'TYPE65536', 'TYPE99999999999', 'A', 'AAAA', 'NS', 'SOA', 'MX', 'TXT',
  'CNAME', 'DNAME', 'SRV', 'CAA', 'DS', 'SSHFP', 'TLSA', 'NAPTR', 'HINFO', 'PTR', 'LOC', 'MD', 'ANY', 'OPT', 'AXFR',
  '192.0.2.1', '256.0.0.1', '01.2.3.4', '::1', '::ffff:1.2.3.4', '1::2::3', 'fe80::1%eth0', '"txt"', '"a;b(c)"', `"${'x'.repeat(300)}"`,
];
/** Pieces of record lines: [valid, invalid] for each field. */
const RECORD_PIECES = {
  owner: [['@', 'www', 'a.b', '*', '*.w', 'ns1', 'mail', 'h1', 'sub', 'x.fuzz.example.', ' ', '\t'], ['.', '\\@', LONG_LABEL, '"q"', 'x.example.com.', 'a..b']],
  ttl: [['', '', '300', '0', '1h', '2147483647', '1w2d'], ['2147483648', '4294967296', '-5', '1x', '1h30']],
  klass: [['', '', 'IN', 'in'], ['CH', 'CLASS1', 'CLASS3', 'HS']],
  rr: [['A 192.0.2.1', 'A 192.0.2.2', 'AAAA 2001:db8::1', 'NS ns1', 'MX 10 mail', 'MX 0 .', 'TXT "hi" "there"', 'TXT ""', 'SRV 0 5 80 www',
    'CAA 0 issue "ca.example"', 'DS 1 8 2 ' + 'ab'.repeat(32), 'SSHFP 1 1 ' + 'cd'.repeat(20), 'TLSA 3 1 1 ' + 'ef'.repeat(32),
    'NAPTR 1 1 "u" "E2U+sip" "!^.*$!sip:x@y!" .', 'HINFO "cpu" "os"', 'PTR www', 'TYPE65280 \\# 3 abcdef', 'A \\# 4 c0000201',
    'TXT ( "multi" \n "line" )', 'CNAME www', 'DNAME other.example.'],
  ['SOA ns1 host ( 1 2 3 4 5 )', 'SOA ns1 host 1 2 3 4', 'TXT', 'CAA 0 b@d "x"', 'DS 1 8 2 abc', 'NAPTR 1 1 "u" "s" "!(a!\\2!" .',
    'A \\# 5 c000020100', 'LOC 1 2 3', 'A 1.2.3', 'MX 70000 mail', 'NS 192.0.2.1', 'TXT "unterminated', 'A 192.0.2.1 extra', 'MD host']],
};

/** A record line; each field is an invalid piece with probability `pBad`. */
function randomRecordLine(r: Rng, pBad = 0.3): string {
  const piece = (f: keyof typeof RECORD_PIECES): string => r.pick(RECORD_PIECES[f][r.chance(pBad) ? 1 : 0]!);
  const ttl = piece('ttl');
  const klass = piece('klass');
  const head = r.chance(0.5) ? [ttl, klass] : [klass, ttl];
  return [piece('owner'), ...head, piece('rr')].filter((x) => x !== '').join(' ');
}

/** (a) random inputs: octets, token soup, and line-shaped records with random pieces. */
function randomInput(r: Rng): string {
  switch (r.int(4)) {
    case 0: return r.octets(r.int(2000));
    case 1: {
      const parts: string[] = [];
      for (let n = r.int(120); n > 0; n--) parts.push(r.pick(TOKENS), r.pick([' ', ' ', '\t', '\n', '\n', '']));
      return parts.join('');
    }
    case 2: {
      // Often all valid pieces, so that many of these zones load and are served.
      const pBad = r.pick([0, 0, 0.01, 0.05, 0.2]);
      const lines = ['$TTL 300', '@ SOA ns1 hostmaster 1 3600 600 86400 60', '@ NS ns1', 'ns1 A 192.0.2.53'];
      for (let n = r.int(40); n > 0; n--) lines.push(r.chance(pBad) ? r.pick(TOKENS) : randomRecordLine(r, pBad));
      return lines.join(r.chance(0.2) ? '\r\n' : '\n') + (r.chance(0.5) ? '\n' : '');
    }
    default: {
      const alphabet = 'aA.@$()";\\ \t\n\r019*#-_INSOATXMCH:\x00\xff';
      let s = '';
      for (let n = r.int(400); n > 0; n--) s += alphabet[r.int(alphabet.length)];
      return s;
    }
  }
}

/** (b) one mutation of a corpus text. */
function mutate(r: Rng, text: string, file: string): string {
  const lines = text.split('\n');
  const at = (): number => r.int(text.length + 1);
  switch (r.int(13)) {
    case 0: { const i = r.int(Math.max(text.length, 1)); return text.slice(0, i) + String.fromCharCode(r.int(256)) + text.slice(i + 1); }
    case 1: { const i = r.int(Math.max(text.length, 1)); return text.slice(0, i) + String.fromCharCode((text.charCodeAt(i) || 0) ^ (1 << r.int(8))) + text.slice(i + 1); }
    case 2: lines.splice(r.int(lines.length), 1); return lines.join('\n');
    case 3: { const i = r.int(lines.length); lines.splice(i, 0, lines[i]!); return lines.join('\n'); }
    case 4: { const i = r.int(lines.length), j = r.int(lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; return lines.join('\n'); }
    case 5: return text.slice(0, at());
    case 6: case 7: { const i = at(); return text.slice(0, i) + r.pick(TOKENS) + text.slice(i); }
    case 8: { const i = r.int(lines.length + 1); lines.splice(i, 0, r.chance(0.5) ? randomRecordLine(r) : r.pick(TOKENS)); return lines.join('\n'); }
    case 9: return text.replace(/\n/g, '\r\n');
    case 10: { const i = at(); return text.slice(0, i) + r.pick(['\x00', '\x80\x81\xfe\xff', '\xef\xbb\xbf', r.octets(1 + r.int(16))]) + text.slice(i); }
    case 11: { const other = r.pick(corpus).text; const s = r.int(other.length + 1); const i = at(); return text.slice(0, i) + other.slice(s, s + r.int(200)) + text.slice(i); }
    default: { const i = at(); return text.slice(0, i) + `$INCLUDE ${r.pick([path.basename(file), 'nested-outer.inc', 'nowhere.inc', '.', 'include'])}\n` + text.slice(i); }
  }
}

// ---- the fuzzers -------------------------------------------------------------------------------

describe('zone parser fuzzing', () => {
  test('(a) random inputs', () => {
    const started = performance.now();
    const t = new Tally();
    const file = path.join(tmp, 'random', 'fuzz.example.zone');
    mkdirSync(path.dirname(file), { recursive: true });
    for (let k = 0; k < RANDOM_INPUTS; k++) {
      if (!wanted(k)) continue;
      const r = rngFor(k);
      const text = randomInput(r);
      const origin = r.chance(0.8) ? 'fuzz.example.' : undefined;
      record(t, k, 'random', text, runOne(text, file, origin));
    }
    report('random', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });

  test('(b) mutations of every corpus zone file', () => {
    expect(corpus.length).toBeGreaterThan(50);
    const started = performance.now();
    const t = new Tally();
    for (let n = 0; n < MUTATED_INPUTS; n++) {
      const k = RANDOM_INPUTS + n;
      if (!wanted(k)) continue;
      const r = rngFor(k);
      // Every corpus file is mutated about equally often: the first rounds walk the corpus in order.
      const base = corpus[n % corpus.length]!;
      let text = base.text;
      for (let m = 1 + r.int(r.chance(0.2) ? 8 : 3); m > 0; m--) text = mutate(r, text, base.file);
      // The origin comes from the file name as the zone store does, else from the first $ORIGIN.
      const origin = r.chance(0.9) ? originFromFileName(base.file) : undefined;
      record(t, k, `mutated ${path.relative(tmp, base.file)}`, text, runOne(text, base.file, origin));
    }
    report('mutated', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });

  test('hostile inputs: huge, deep, repeated; each refused or loaded in time, with a line', () => {
    const SOA = '$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n';
    const txt255 = `"${'x'.repeat(255)}"`;
    const hostile: [string, string, RegExp | undefined, number?][] = [
      ['$GENERATE over the record cap', `${SOA}$GENERATE 1-100000 h$ A 192.0.2.1\n`, /over 65536 generated records/],
      ['$GENERATE with the widest range', `${SOA}$GENERATE 0-2147483647 h$ A 192.0.2.1\n`, /over 65536 generated records/],
      ['$GENERATE range past 2^31', `${SOA}$GENERATE 0-4294967295 h$ A 192.0.2.1\n`, /is not start-stop/],
      ['$GENERATE at the record cap', `${SOA}$GENERATE 1-${MAX_GENERATE_RECORDS} h$ A 192.0.2.1\n`, undefined, AT_CAP_MS],
      ['$GENERATE caps add up', `${SOA}$GENERATE 1-2 a$ A 192.0.2.1\n$GENERATE 1-65535 b$ A 192.0.2.1\n`, /fuzz\.example\.zone:6: .*over 65536 generated records/],
      ['$GENERATE huge width', `${SOA}$GENERATE 1-2 h\${0,999999999,d} A 192.0.2.1\n`, /./],
      ['$GENERATE huge nibble width', `${SOA}$GENERATE 1-2 \${0,999999999,n} A 192.0.2.1\n`, /./],
      ['$GENERATE huge offset', `${SOA}$GENERATE 1-2 h\${99999999999999999999999,3,x} A 192.0.2.1\n`, undefined],
      ['$GENERATE 64 KiB RDATA 65536 times', `${SOA}$GENERATE 1-65536 h$ TXT "${Array(250).fill(`\\"${'y'.repeat(250)}\\"`).join(' ')}"\n`, /./],
      ['$GENERATE deep names 16384 times', `${SOA}$GENERATE 0-16383 $${'.a'.repeat(110)} A 192.0.2.1\n`, undefined, AT_CAP_MS],
      ['$GENERATE deep MX targets 65536 times', `${SOA}$GENERATE 0-65535 m$ MX "10 $${'.b'.repeat(110)}"\n`, /has no address records/, AT_CAP_MS],
      ['$GENERATE deep delegations 16384 times', `${SOA}$GENERATE 0-16383 $${'.c'.repeat(100)} NS ns.$${'.c'.repeat(100)}\n`, /has no required glue/, AT_CAP_MS],
      ['100k open parentheses', `${SOA}www A (${'('.repeat(100_000)}\n`, /never closed/],
      ['100k close parentheses', `${SOA}www A 192.0.2.1 ${')'.repeat(100_000)}\n`, /without a matching/],
      ['100k quotes', `${SOA}www TXT ${'"'.repeat(100_001)}\n`, /./],
      ['100k backslashes', `${SOA}www TXT ${'\\'.repeat(100_001)}\n`, /./],
      ['100k semicolons', `${SOA}${';'.repeat(100_000)}\n`, undefined],
      ['200k empty lines', `${SOA}${'\n'.repeat(200_000)}www A 192.0.2.1\n`, undefined],
      ['200k CRs', `${SOA}${'\r'.repeat(200_000)}www A 192.0.2.1\n`, undefined],
      ['1 MB token', `${SOA}${'a'.repeat(1 << 20)} A 192.0.2.1\n`, /over 63/],
      ['name of 100k dots', `${SOA}${'.'.repeat(100_000)} A 192.0.2.1\n`, /empty label/],
      ['name of 100k labels', `${SOA}${'a.'.repeat(100_000)} A 192.0.2.1\n`, /over 255/],
      ['1 MB quoted string', `${SOA}www TXT "${'q'.repeat(1 << 20)}"\n`, /over 255/],
      ['RDATA of 100k strings', `${SOA}www TXT ${'"a" '.repeat(100_000)}\n`, /over 65535/],
      ['RDATA over 65535 octets', `${SOA}www TXT ${Array(257).fill(txt255).join(' ')}\n`, /over 65535/],
      ['RDATA of 65535 octets', `${SOA}www TXT ${Array(255).fill(txt255).join(' ')} "${'x'.repeat(254)}"\n`, /fuzz\.example\.zone:5: record is 65563 octets/],
      ['generic RDATA of 65535 octets', `${SOA}www TYPE65280 \\# 65535 ${'ab'.repeat(65535)}\n`, /:5: record is 65563 octets/],
      ['RDATA as large as fits', `${SOA}www TYPE65280 \\# ${MAX_RECORD_OCTETS - 28} ${'ab'.repeat(MAX_RECORD_OCTETS - 28)}\n`, undefined],
      ['RDATA as large as fits, long owner', `${SOA}${'o'.repeat(63)}.${'w'.repeat(63)}.${'n'.repeat(63)}.${'e'.repeat(40)} TYPE65280 \\# ${MAX_RECORD_OCTETS - 255 - 10} ${'ab'.repeat(MAX_RECORD_OCTETS - 265)}\n`, undefined],
      ['generic RDATA length lies', `${SOA}www TYPE65280 \\# 99999999999 ab\n`, /out of range/],
      ['10k bad lines', `${SOA}${'www A 1.2.3\n'.repeat(10_000)}`, /stopped after 100 errors/],
      ['10k warnings', `${SOA}${Array.from({ length: 10_000 }, (_, i) => `w${i} 4294967295 A 192.0.2.1`).join('\n')}\n`, /further warnings/],
      ['100k NULs', `${SOA}${'\x00'.repeat(100_000)}\n`, /./],
      ['100k random octets', new Rng(SEED).octets(100_000), /./],
      ['huge TTL number', `${SOA}www 99999999999999999999999999999999 A 192.0.2.1\n`, /./],
      ['huge serial', `$TTL 1\n@ SOA ns1 h 99999999999999999999 1 1 1 1\n`, /out of range/],
      ['long $ORIGIN chain', `${SOA}${'$ORIGIN a\n'.repeat(200)}www A 192.0.2.1\n`, /over 255/],
    ];
    const started = performance.now();
    const t = new Tally();
    const file = path.join(tmp, 'hostile', 'fuzz.example.zone');
    mkdirSync(path.dirname(file), { recursive: true });
    hostile.forEach(([label, text, expected, limitMs], i) => {
      if (!wanted(100_000 + i)) return;
      if (process.env.ZONE_FUZZ_TRACE) writeSync(2, `hostile ${i}: ${label}\n`);
      const r = runOne(text, file, 'fuzz.example.', new Map(), limitMs);
      record(t, 100_000 + i, `hostile: ${label}`, text, r);
      if (!r.outcome || !expected) return;
      const shown = r.outcome.parsed.problems.map(formatProblem).join('\n');
      if (!expected.test(shown) && t.failures.length < 5) t.failures.push(`hostile '${label}': problems do not match ${expected}:\n${shown.slice(0, 500) || '(none)'}`);
    });
    report('hostile', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });
});

// ---- $INCLUDE, with the real file reader, inside a temp folder ---------------------------------

describe('$INCLUDE fuzzing (real files in a temp folder)', () => {
  const SOA = '$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n';

  /** Loads `top` as zone-check does, with every file in `files` written under a fresh folder. */
  function loadTree(label: string, files: Record<string, string>, top: string): { failure?: string; outcome?: Outcome; dir: string } {
    const dir = path.join(tmp, 'inc', label);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text, 'latin1');
    }
    const file = path.join(dir, top);
    const t0 = performance.now();
    let parsed: ParsedZone;
    try {
      parsed = loadZoneFile(file);
    } catch (e) {
      return { failure: `threw ${(e as Error).stack}`, dir };
    }
    const ms = performance.now() - t0;
    const texts = new Map<string, string>();
    for (const name of Object.keys(files)) texts.set(path.join(dir, name), files[name]!);
    const failure = problemsFailure(parsed, texts) ?? (ms > PER_INPUT_MS ? `took ${ms.toFixed(0)} ms` : undefined);
    return failure ? { failure, dir } : { outcome: { ms, accepted: isUsable(parsed), parsed }, dir };
  }

  const problemsOf = (r: ReturnType<typeof loadTree>): string => r.outcome!.parsed.problems.map(formatProblem).join('\n');

  test('loops, depth, missing files, folders and special files give a clear error quickly', () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['self', { 'self.example.zone': `${SOA}$INCLUDE self.example.zone\n` }, /self\.example\.zone:5: .*already being read \(loop\)/],
      ['a-b loop', { 'ab.example.zone': `${SOA}$INCLUDE a.inc\n`, 'a.inc': 'x A 192.0.2.1\n$INCLUDE b.inc\n', 'b.inc': '$INCLUDE a.inc\n' }, /b\.inc:1: .*loop/],
      ['loop through ./ and ../', { 'dots.example.zone': `${SOA}$INCLUDE sub/../sub/./c.inc\n`, 'sub/c.inc': '$INCLUDE ../dots.example.zone\n' }, /c\.inc:1: .*loop/],
      ['missing', { 'miss.example.zone': `${SOA}$INCLUDE nowhere.inc\n` }, /miss\.example\.zone:5: cannot read \$INCLUDE file 'nowhere\.inc' \(ENOENT\)/],
      ['folder', { 'dir.example.zone': `${SOA}$INCLUDE sub\n`, 'sub/x.inc': '' }, /dir\.example\.zone:5: cannot read \$INCLUDE file 'sub' \(EISDIR\)/],
      ['dot', { 'dot.example.zone': `${SOA}$INCLUDE .\n` }, /dot\.example\.zone:5: cannot read \$INCLUDE file '\.'/],
      ['NUL in the path', { 'nul.example.zone': `${SOA}$INCLUDE a\x00b.inc\n` }, /nul\.example\.zone:5: cannot read \$INCLUDE file/],
      ['very long path', { 'long.example.zone': `${SOA}$INCLUDE ${'x'.repeat(5000)}.inc\n` }, /long\.example\.zone:5: cannot read \$INCLUDE file/],
      ['empty quoted path', { 'eq.example.zone': `${SOA}$INCLUDE ""\n` }, /eq\.example\.zone:5: /],
      ['chain deeper than the limit', Object.fromEntries([['deep.example.zone', `${SOA}$INCLUDE f0.inc\n`],
        ...Array.from({ length: 3 * MAX_INCLUDE_DEPTH }, (_, i) => [`f${i}.inc`, `h${i} A 192.0.2.1\n$INCLUDE f${i + 1}.inc\n`])]), /nests deeper than 16 files/],
      // Within the depth limit, so no error stops it early: 10^15 reads of 16 small files.
      ['fan-out bomb: 15 levels of 10 includes each', Object.fromEntries([['fan.example.zone', `${SOA}$INCLUDE l0.inc\n`],
        ...Array.from({ length: MAX_INCLUDE_DEPTH - 1 }, (_, i) => [`l${i}.inc`, `l${i} A 192.0.2.1\n${`$INCLUDE l${i + 1}.inc\n`.repeat(10)}`]),
        [`l${MAX_INCLUDE_DEPTH - 1}.inc`, 'leaf TXT "leaf"\n']]), new RegExp(`l\\d+\\.inc:\\d+: \\$INCLUDE 'l\\d+\\.inc' is one too many: a zone may read ${MAX_INCLUDES} \\$INCLUDE files in all`)],
      ['fan-out of large files', { 'big.example.zone': `${SOA}${'$INCLUDE big.inc\n'.repeat(100)}`, 'big.inc': `; ${'x'.repeat(1 << 20)}\nh A 192.0.2.1\n` },
        /big\.example\.zone:68: \$INCLUDE 'big\.inc' is one too many: a zone may read 64 MiB of \$INCLUDE text in all/],
    ];
    for (const [label, files, expected] of cases) {
      const top = Object.keys(files)[0]!;
      const r = loadTree(label.replace(/\W+/g, '-'), files, top);
      expect(r.failure, `${label}: ${r.failure}`).toBeUndefined();
      expect(r.outcome!.accepted, label).toBe(false);
      expect(problemsOf(r), label).toMatch(expected);
    }
  });

  test('a FIFO or a device is refused, not read (it would block or never end)', () => {
    const dir = path.join(tmp, 'inc', 'fifo');
    mkdirSync(dir, { recursive: true });
    execFileSync('mkfifo', [path.join(dir, 'pipe.inc')]);
    writeFileSync(path.join(dir, 'fifo.example.zone'), `${SOA}$INCLUDE pipe.inc\n$INCLUDE /dev/zero\n`);
    const t0 = performance.now();
    const z = loadZoneFile(path.join(dir, 'fifo.example.zone'));
    expect(performance.now() - t0).toBeLessThan(PER_INPUT_MS);
    const shown = z.problems.map(formatProblem).join('\n');
    expect(shown).toMatch(/fifo\.example\.zone:5: cannot read \$INCLUDE file 'pipe\.inc' \(.*not a regular file/);
    expect(shown).toMatch(/fifo\.example\.zone:6: cannot read \$INCLUDE file '\/dev\/zero' \(.*not a regular file/);
  });

  test('random include graphs (loops, repeats, missing files, folders) end quickly with a line', async () => {
    const started = performance.now();
    const t = new Tally();
    const snippets = corpus.map((c) => c.text.split('\n').filter((l) => !/^\s*\$INCLUDE/i.test(l)));
    let cliRuns = 0;
    for (let g = 0; g < INCLUDE_GRAPHS; g++) {
      const k = 200_000 + g;
      if (!wanted(k)) continue;
      const r = rngFor(k);
      const n = 2 + r.int(7);
      const names = Array.from({ length: n }, (_, i) => (i === 0 ? 'top.example.zone' : r.chance(0.2) ? `sub/f${i}.inc` : `f${i}.inc`));
      const files: Record<string, string> = { 'folder/x.inc': 'x A 192.0.2.1\n' };
      for (let i = 0; i < n; i++) {
        const own = path.dirname(names[i]!);
        const lines = i === 0 ? SOA.trimEnd().split('\n') : [];
        for (let l = r.int(12); l > 0; l--) lines.push(r.pick(r.pick(snippets)) ?? '');
        for (let inc = r.int(5); inc > 0; inc--) {
          const target = r.chance(0.8) ? path.relative(own, r.pick(names)) : r.pick(['missing.inc', 'folder', '.', 'folder/x.inc', 'sub']);
          const origin = r.chance(0.3) ? ` ${r.pick(['sub', 'x.top.example.', '@', '.', LONG_LABEL, '"q"'])}` : '';
          lines.splice(r.int(lines.length + 1), 0, `$INCLUDE ${target || '.'}${origin}`);
        }
        let text = lines.join('\n') + '\n';
        if (r.chance(0.3)) text = mutate(r, text, names[i]!);
        files[names[i]!] = text;
      }
      const res = loadTree(`g${g}`, files, names[0]!);
      const input = Object.entries(files).map(([f, s]) => `--- ${f}\n${s}`).join('');
      record(t, k, 'include graph', input, res);
      // The CLI prints each problem as file:line: message; check its output for a few graphs.
      if (res.outcome && cliRuns++ < 10) {
        let out = '';
        const io = { out: (s: string) => { out += s; }, err: (s: string) => { out += s; } };
        const code = await zoneCheckMain([path.join(res.dir, names[0]!)], io);
        expect(code, out).toBe(res.outcome.accepted ? 0 : 1);
        for (const line of out.trimEnd().split('\n')) expect(line.startsWith(res.dir + path.sep), line).toBe(true);
      }
    }
    report('include graphs', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });
});
