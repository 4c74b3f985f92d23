// Config loader fuzzing (issue "Hardening"): mutations of roamdns.yaml, of the configs the tests
// and the README use and of a config that sets every key; a wrong value of every type for every
// key of the schema; and hostile YAML (alias bombs, deep nesting, huge numbers, odd tags, bytes
// that are not UTF-8). Every input goes through loadConfig, as `serve`, `check` and `zone-check`
// read the file. For each: the config loads, or loading throws a ConfigError and nothing else;
// every problem has a line inside the file; every line of the message starts with `file:line: `;
// the input is done within PER_INPUT_MS.
// Inputs come from a seeded PRNG (mulberry32): CONFIG_FUZZ_SEED=n replays a run, and
// CONFIG_FUZZ_CASE=k runs only input k of it; every failure message names both.
// CONFIG_FUZZ_TRACE=1 writes each hostile input's name to stderr before it runs (to find a hang).
import { readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, configSpec, loadConfig, MAX_CONFIG_PROBLEMS_SHOWN } from '../../cli/config.js';
import type { Spec } from '../../cli/schema.js';
import { makeTempDir, REPO_ROOT } from '../helpers/roamdns.js';
import { Rng } from '../helpers/rng.js';
import { Tally } from '../helpers/fuzz-tally.js';

const SEED = Number(process.env.CONFIG_FUZZ_SEED ?? 0xc0f16f22) >>> 0;
const ONLY = process.env.CONFIG_FUZZ_CASE === undefined ? undefined : Number(process.env.CONFIG_FUZZ_CASE);
const MUTATED_INPUTS = 5000;
const PER_INPUT_MS = 1000;

const rngFor = (caseNo: number): Rng => new Rng((SEED ^ Math.imul(caseNo + 1, 0x9e3779b1)) >>> 0);
const replay = (caseNo: number): string => `CONFIG_FUZZ_SEED=${SEED} CONFIG_FUZZ_CASE=${caseNo}`;
const wanted = (caseNo: number): boolean => ONLY === undefined || ONLY === caseNo;

// ---- the corpus --------------------------------------------------------------------------------

/** A valid config that sets every section, so that mutations reach every part of the schema. */
const FULL = `# every section
zones: [zones/a.example.zone, zones/b.example.zone]
dns:
  listen: [127.0.0.1:5353, "[::1]:5353"]
  transfer_allow: [127.0.0.1/32, ::1/128, 10.0.0.0/8]
  tcp_idle_timeout: 10s
  tcp_max_connections: 500
  workers: auto
  tsig_keys:
    xfr-key: { algorithm: hmac-sha256, secret: "${Buffer.alloc(32, 7).toString('base64')}" }
  transfer_keys: [xfr-key]
  notify: [192.0.2.53:53]
  notify_key: xfr-key
  rrl:
    responses_per_second: 20
    slip: 2
    window: 15
    ipv4_prefix_length: 24
    ipv6_prefix_length: 56
    max_entries: 100000
    exempt: [127.0.0.1/32]
status:
  listen: 127.0.0.1:8053
  token_file: status.token
pools:
  www.example.com:
    check:
      http: { scheme: https, method: HEAD, port: 443, path: /healthz, host: www.example.com, expect_status: [200-299, 3xx], body_contains: ok, tls_verify: false }
      interval: 1s
      timeout: 500ms
      rise: 2
      fall: 3
      jitter: 100ms
    when_all_down: none
    degraded_ttl: 10
    max_answers: 4
  api.example.com:
    check: { tcp: { port: 8443 } }
cluster:
  listen: 0.0.0.0:7946
  nodes:
    www1: { address: 198.51.100.2, weight: 2, status_url: "http://198.51.100.2:8054/" }
    www2: { address: 198.51.100.3, port: 7947 }
  secret_file: /etc/roamdns/cluster.key
  heartbeat: 25ms
  dead_after: 400ms
  mature: 2s
  vips_from: [www.example.com]
  vip_prefix: { ipv4: 24, ipv6: 64 }
  interface: eth0
  prefer: { 198.51.100.201: www1 }
  service_check: { http: "http://127.0.0.1:80/", interval: 1s, timeout: 500ms, rise: 2, fall: 3 }
  notify_timeout: 5s
  announce: { count: 3, interval: 200ms }
  status_listen: 127.0.0.1:8054
log:
  level: debug
  format: json
`;

/** Configs the tests use (test/cli/config.test.ts, the helpers) besides the files below. */
const INLINE = [
  '',
  'zones: [a.zone, b.zone]\ndns:\n  listen: ["[::1]:53", 127.0.0.1:53]\n  tcp_idle_timeout: 1m30s\n',
  'pools:\n  www.example.com:\n    check: { http: { port: 80, path: /healthz } }\ncluster:\n  nodes:\n    www1: { address: 198.51.100.2 }\n    www2: { address: 198.51.100.3 }\n  secret_file: /etc/roamdns/cluster.key\n  vips_from: [www.example.com]\n',
  'dns:\n  rrl: { responses_per_second: 10, exempt: [] }\n',
  'zones: ["zones/x.zone"]\ndns:\n  listen: [127.0.0.1:0]\nstatus:\n  listen: 127.0.0.1:0\n  token_file: a.token\n',
];

const corpus: string[] = [];
let tmp = '';

beforeAll(async () => {
  tmp = await makeTempDir('roamdns-config-fuzz');
  corpus.push(FULL, ...INLINE, readFileSync(path.join(REPO_ROOT, 'roamdns.yaml'), 'utf8'));
  const e2e = path.join(REPO_ROOT, 'test/fixtures/e2e');
  for (const d of readdirSync(e2e).sort()) {
    try { corpus.push(readFileSync(path.join(e2e, d, 'roamdns.yaml'), 'utf8')); } catch { /* no config in this fixture */ }
  }
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  corpus.push(...[...readme.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---- running one input -------------------------------------------------------------------------

/** Lines as a reader counts them; YAML also ends a line at a lone CR. */
const lineCount = (text: string): number => Math.max(text.split('\n').length, text.split(/\r\n|\r|\n/).length);
const preview = (text: string): string => JSON.stringify(text.length > 300 ? text.slice(0, 300) + '…' : text);

interface Outcome { ms: number; accepted: boolean; error?: ConfigError }

/** Writes the input to a file and loads it; returns a failure description or the outcome. */
function runOne(input: string | Buffer, name = 'roamdns.yaml'): { failure?: string; outcome?: Outcome } {
  const file = path.join(tmp, name);
  writeFileSync(file, input);
  const text = readFileSync(file, 'utf8');
  const t0 = performance.now();
  let error: ConfigError | undefined;
  try {
    const cfg = loadConfig(file);
    JSON.stringify(cfg);
    if (cfg.file !== path.resolve(file)) return { failure: `config.file is ${cfg.file}` };
  } catch (e) {
    if (!(e instanceof ConfigError)) return { failure: `threw something else than a ConfigError: ${(e as Error)?.stack ?? String(e)}` };
    error = e;
  }
  const ms = performance.now() - t0;
  if (ms > PER_INPUT_MS) return { failure: `took ${ms.toFixed(0)} ms (limit ${PER_INPUT_MS})` };
  if (error) {
    const bad = errorFailure(error, file, text);
    if (bad) return { failure: bad };
  }
  return { outcome: { ms, accepted: !error, error } };
}

function errorFailure(e: ConfigError, file: string, text: string): string | undefined {
  if (e.file !== file) return `ConfigError.file is ${e.file}, not ${file}`;
  if (e.problems.length === 0) return 'ConfigError without problems';
  const lines = lineCount(text);
  for (const p of e.problems) {
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lines) return `problem line ${p.line} is not a line of the file (${lines} lines): ${JSON.stringify(p)}`;
    if (p.message.trim() === '') return `empty problem message: ${JSON.stringify(p)}`;
  }
  const all = e.message.split('\n');
  // At most MAX_CONFIG_PROBLEMS_SHOWN problems are listed, then one line counts the rest.
  const hidden = e.problems.length - MAX_CONFIG_PROBLEMS_SHOWN;
  const shown = hidden > 0 ? all.slice(0, -1) : all;
  if (hidden > 0 && all.at(-1) !== `${file}: … and ${hidden} more problems`) return `the last line does not count the ${hidden} problems not shown: ${JSON.stringify(all.at(-1))}`;
  if (shown.length !== Math.min(e.problems.length, MAX_CONFIG_PROBLEMS_SHOWN)) return `the message has ${all.length} lines for ${e.problems.length} problems:\n${e.message.slice(0, 500)}`;
  for (const [i, line] of shown.entries()) {
    if (!line.startsWith(`${file}:${e.problems[i]!.line}: `)) return `message line does not start with file:line: ${JSON.stringify(line.slice(0, 200))}`;
    if (/[\x00-\x1f\x7f]/.test(line)) return `message line has control characters: ${JSON.stringify(line.slice(0, 200))}`;
  }
  return undefined;
}

function record(t: Tally, caseNo: number, what: string, input: string | Buffer, r: ReturnType<typeof runOne>): void {
  t.record(caseNo, what, replay(caseNo), () => (typeof input === 'string' ? preview(input) : `<${input.length} octets> ${preview(input.toString('latin1'))}`), r);
}

function report(label: string, t: Tally, startedAt: number): void {
  t.report('config fuzz', SEED, label, startedAt);
}

// ---- values and mutations ----------------------------------------------------------------------

/** Values of every YAML type and many wrong shapes; each is tried for every key of the schema. */
const VALUES: readonly string[] = [
  '5', '0', '-1', '-0', '1.5', '1e999', '-1e999', '99999999999999999999999', '0x7fffffffffffffffffff', '0o777', '.inf', '-.inf', '.nan',
  'true', 'false', 'yes', 'null', '~', '', '[]', '{}', '[1, [2, [3]]]', '{a: {b: {c: 1}}}', '"str"', "'str'", '"\\x1b[31mred\\n2nd line"',
  '-5s', '-1ms', '1ms', '0s', '1.5s', '99999999999999999999d', '1h30m', '10 seconds', '1e3s',
  '!!binary aGVsbG8=', '!!str 5', '!!int "5"', '!!float x', '!custom x', '!!set {a, b}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '2001-12-14',
  '*nowhere', '&anchor x', '"127.0.0.1:99999"', '"[::1]:53"', '"localhost:53"', '":53"', '"1.2.3.4"', '"300.1.1.1:53"', '"::1:53"',
  '"[fe80::1%eth0]:53"', '"1.2.3.4:-1"', '"1.2.3.4:0x35"', '"10.0.0.0/33"', '"::/129"', '"10.0.0.0/-1"', '"10.0.0.0/1.5"', '"a/b/c"',
  `"${'a'.repeat(5000)}:53"`, `"${':'.repeat(5000)}"`, `${'9'.repeat(400)}`, '"\\0"', '"\\u0000"', '"é"', 'hmac-md5', 'auto', '65', '0:0',
];

/** Every key path of the schema with a stand-in name where the schema has a map. */
function keyPaths(spec: Spec, prefix: string[], out: { path: string[]; spec: Spec }[] = []): { path: string[]; spec: Spec }[] {
  if (prefix.length > 0) out.push({ path: prefix, spec });
  if (spec.kind === 'object') for (const [k, f] of Object.entries(spec.fields)) keyPaths(f.spec, [...prefix, k], out);
  if (spec.kind === 'map') keyPaths(spec.of, [...prefix, prefix.at(-1) === 'prefer' ? '198.51.100.201' : 'x1'], out);
  return out;
}

/** Block YAML setting `value` at `keys`, e.g. ['dns', 'rrl', 'slip'] -> "dns:\n  rrl:\n    slip: value". */
function nested(keys: string[], value: string): string {
  return keys.map((k, i) => `${'  '.repeat(i)}${k}:${i === keys.length - 1 ? (value === '' ? '' : ' ' + value) : ''}`).join('\n') + '\n';
}

function mutate(r: Rng, text: string): string {
  const lines = text.split('\n');
  const at = (): number => r.int(text.length + 1);
  switch (r.int(13)) {
    case 0: { const i = r.int(Math.max(text.length, 1)); return text.slice(0, i) + String.fromCharCode(r.int(128)) + text.slice(i + 1); }
    case 1: lines.splice(r.int(lines.length), 1); return lines.join('\n');
    case 2: { const i = r.int(lines.length); lines.splice(i, 0, lines[i]!); return lines.join('\n'); }
    case 3: { const i = r.int(lines.length), j = r.int(lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; return lines.join('\n'); }
    case 4: return text.slice(0, at());
    case 5: { const i = r.int(lines.length); lines[i] = r.chance(0.5) ? ' '.repeat(1 + r.int(4)) + lines[i] : lines[i]!.replace(/^ {1,2}/, ''); return lines.join('\n'); }
    case 6: { // a scalar value replaced by one of VALUES
      const i = r.int(lines.length);
      lines[i] = lines[i]!.replace(/(:\s*)(\S.*)$/, (_m, sep: string) => sep + r.pick(VALUES));
      return lines.join('\n');
    }
    case 7: { // an unknown key, at the indentation of an existing line
      const i = r.int(lines.length);
      lines.splice(i, 0, `${/^\s*/.exec(lines[i] ?? '')![0]}${r.pick(['bogus', 'zone', 'Listen', 'dns', '<<', '"quoted key"', '? complex', '- item', '__proto__', 'constructor', 'toString', 'hasOwnProperty'])}: ${r.pick(VALUES)}`);
      return lines.join('\n');
    }
    case 8: { const i = at(); return text.slice(0, i) + r.pick(['{', '}', '[', ']', ':', '- ', '&a ', '*a', '!', '|', '>', '"', "'", '#', '%', '@', '`', '\t', '\x00', '\ufeff', '\r']) + text.slice(i); }
    case 9: return text.replace(/\n/g, '\r\n');
    case 10: { const i = at(); return text.slice(0, i) + '\n---\n' + text.slice(i); }
    case 11: { const other = r.pick(corpus); const s = r.int(other.length + 1); const i = at(); return text.slice(0, i) + other.slice(s, s + r.int(200)) + text.slice(i); }
    default: { const i = at(); return text.slice(0, i) + r.pick(VALUES) + text.slice(i); }
  }
}

/** "Billion laughs": anchors a0..a<levels>, each listing the previous one ten times (10^levels leaves in all). */
function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

// ---- the fuzzers -------------------------------------------------------------------------------

describe('config loader fuzzing', () => {
  test('the corpus itself: the full config loads', () => {
    const r = runOne(FULL);
    expect(r.failure).toBeUndefined();
    expect(r.outcome!.error?.message).toBeUndefined();
  });

  test('mutations of roamdns.yaml, the test and README configs and a full config', () => {
    const started = performance.now();
    const t = new Tally();
    for (let k = 0; k < MUTATED_INPUTS; k++) {
      if (!wanted(k)) continue;
      const r = rngFor(k);
      let text = corpus[k % corpus.length]!;
      for (let m = 1 + r.int(r.chance(0.2) ? 6 : 2); m > 0; m--) text = mutate(r, text);
      // Some inputs get bytes that are not UTF-8 (the loader reads the file as UTF-8).
      const input = r.chance(0.05) ? Buffer.concat([Buffer.from(text.slice(0, text.length >> 1)), r.bytes(1 + r.int(8)), Buffer.from(text.slice(text.length >> 1))]) : text;
      record(t, k, `mutated corpus[${k % corpus.length}]`, input, runOne(input));
    }
    report('mutated', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });

  test('a wrong value of every type for every key of the schema', () => {
    const started = performance.now();
    const t = new Tally();
    const paths = keyPaths(configSpec, []);
    expect(paths.length).toBeGreaterThan(60);
    let k = 100_000;
    for (const { path: keys, spec } of paths) {
      const values = [...VALUES];
      if (spec.kind === 'list' || spec.kind === 'stringOrList') values.push(...VALUES.map((v) => `[${v}]`), `[${VALUES.slice(0, 20).join(', ')}]`);
      for (const v of values) {
        k++;
        if (!wanted(k)) continue;
        const text = nested(keys, v);
        record(t, k, `${keys.join('.')} = ${v}`, text, runOne(text));
      }
    }
    report('every key', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });

  test('hostile YAML: alias bombs, deep nesting, huge input, odd documents', () => {
    const deepBlock = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n';
    const hostile: [string, string | Buffer][] = [
      ['alias bomb under unknown keys', aliasBomb(9)],
      ['alias bomb as dns.listen', `${aliasBomb(8)}dns:\n  listen: *a8\n`],
      ['alias bomb in dns.listen', `${aliasBomb(8)}dns:\n  listen: [${Array(10).fill('*a8').join(', ')}]\n`],
      ['alias bomb as the pools', `${aliasBomb(8)}pools: { ${Array.from({ length: 10 }, (_, i) => `p${i}: { check: { http: { expect_status: *a8 } } }`).join(', ')} }\n`],
      ['alias bomb as zones', `x: &a [a, a, a, a, a, a, a, a]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nz: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nzones: [*c, *c, *c, *c, *c, *c, *c, *c]\n`],
      ['alias bomb as pools', `pools: &p\n  a: &a { check: { tcp: { port: 80 } } }\n  b: *a\ncluster: &c { nodes: *p, vips_from: [*p, *p], secret_file: *p }\nlog: *c\n`],
      ['merge key bomb (YAML 1.1)', `%YAML 1.1\n---\nbase: &b { level: info }\nlog:\n  <<: *b\n  <<: [*b, *b]\n`],
      ['alias to itself', 'a: &a [*a]\n'],
      ['alias before its anchor', 'zones: *later\nx: &later zones/\n'],
      ['alias as a key', 'x: &k dns\n*k : { listen: [127.0.0.1:53] }\n'],
      ['alias for a section', 'x: &d { listen: [127.0.0.1:5353] }\ndns: *d\n'],
      ['alias for a value', 'x: &t 2s\ndns:\n  tcp_idle_timeout: *t\n'],
      ['10k nested flow lists', `zones: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`],
      ['10k nested flow maps', `dns: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`],
      ['3000 nested block maps', deepBlock],
      ['3000 nested block lists', Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}-`).join('\n') + ' x\n'],
      ['100k unclosed brackets', `zones: ${'['.repeat(100_000)}\n`],
      ['20k keys', Array.from({ length: 20_000 }, (_, i) => `k${i}: ${i}`).join('\n') + '\n'],
      ['20k list items', `dns:\n  listen: [${Array(20_000).fill('127.0.0.1:53').join(', ')}]\n`],
      ['1 MB scalar', `zones: ${'a'.repeat(1 << 20)}\n`],
      ['1 MB listen address', `dns:\n  listen: ["${'1'.repeat(1 << 20)}:53"]\n`],
      ['1 MB duration', `dns:\n  tcp_idle_timeout: ${'1h'.repeat(1 << 19)}\n`],
      ['duplicate keys', 'zones: a\ndns: {}\nzones: b\n'],
      ['duplicate nested keys', 'dns:\n  listen: [127.0.0.1:53]\n  listen: [127.0.0.1:54]\n'],
      ['empty file', ''],
      ['only a comment', '# nothing\n'],
      ['only ---', '---\n'],
      ['only ...', '...\n'],
      ['two documents', 'zones: a\n---\nzones: b\n'],
      ['a scalar document', 'just a string\n'],
      ['a list document', '- a\n- b\n'],
      ['null document', 'null\n'],
      ['tagged document', '--- !!set\n? a\n? b\n'],
      ['YAML 1.1 with timestamp and binary', '%YAML 1.1\n---\nzones: !!binary aGVsbG8=\ndns: { tcp_idle_timeout: 2001-12-14 }\n'],
      ['unknown directive', '%FOO bar\n---\nzones: a\n'],
      ['a tab for indentation', 'dns:\n\tlisten: [127.0.0.1:53]\n'],
      ['NUL bytes', 'zones: a\x00b\n\x00\n'],
      ['BOM', '\ufeffzones: zones/\n'],
      ['not UTF-8', Buffer.from([0x7a, 0x6f, 0x6e, 0x65, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0x80, 0x3a, 0x20, 0x31, 0x0a])],
      ['UTF-16 with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('zones: zones/\n', 'utf16le')])],
      ['CR line ends only', 'zones: a\rdns:\r  listen: [127.0.0.1:53]\r'],
      ['huge numbers', 'dns:\n  tcp_max_connections: 1e400\n  rrl: { slip: 99999999999999999999999, window: -1e400 }\n'],
      ['negative durations', 'dns:\n  tcp_idle_timeout: -10s\npools:\n  w: { check: { interval: -1s, timeout: -0ms, tcp: { port: 1 } } }\n'],
      ['bad listen addresses', 'dns:\n  listen: ["", ":", "[::1]", "[::1]:", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:053", "[1.2.3.4]:53", "::1:53", "0:53"]\nstatus:\n  listen: "localhost:8053"\n'],
      ['a key that is a map', '? { a: 1 }\n: x\n'],
      ['a key that is a list', '? [dns]\n: x\n'],
      ['an empty key', ': x\n'],
      ['a null key in a section', 'dns:\n  : x\n  ~: y\n'],
      ['empty sections', 'dns:\nstatus:\npools:\ncluster:\nlog:\n'],
      ['a pool without a value', 'pools:\n  www.example.com:\n'],
      ['a node without a value', 'cluster:\n  nodes:\n    www1:\n  secret_file: k\n  vips_from: [a]\n'],
      ['a tsig key without a value', 'dns:\n  tsig_keys:\n    k:\n'],
      ['a set of pools (YAML 1.1)', '%YAML 1.1\n---\npools: !!set { ? www.example.com }\n'],
      ['keys named like Object.prototype members', '__proto__: 1\nconstructor: 2\ndns:\n  toString: 3\n  hasOwnProperty: { a: 1 }\n'],
      ['a pool named __proto__', 'pools:\n  __proto__: { check: { tcp: { port: 80 } } }\n  constructor: { check: { tcp: { port: 81 } } }\n'],
      ['a list of pairs', 'dns:\n  listen: [a: 1, b: 2]\n'],
      ['a map key that is a list', 'pools:\n  ? [a, b]\n  : { check: { tcp: { port: 80 } } }\n'],
    ];
    const started = performance.now();
    const t = new Tally();
    hostile.forEach(([label, input], i) => {
      if (!wanted(200_000 + i)) return;
      if (process.env.CONFIG_FUZZ_TRACE) writeSync(2, `hostile ${i}: ${label}\n`);
      record(t, 200_000 + i, `hostile: ${label}`, input, runOne(input));
    });
    report('hostile', t, started);
    expect(t.failures, t.failures.join('\n\n')).toEqual([]);
  });
});
