// Config loading: defaults, every problem reported with its line and key, unknown keys refused.
import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig } from '../../cli/config.js';
import { parseDuration } from '../../cli/schema.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'roamdns.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

describe('parseConfig', () => {
  test('an empty file gives the shipped defaults', () => {
    const cfg = parseConfig('', '/etc/roamdns/roamdns.yaml');
    expect(cfg.zones).toBe('zones/');
    expect(cfg.dns.listen).toEqual(['127.0.0.1:5353']);
    expect(cfg.dns.tcp_idle_timeout).toBe(10_000);
    expect(cfg.status.listen).toBe('127.0.0.1:8053');
    expect(cfg.file).toBe('/etc/roamdns/roamdns.yaml');
  });

  test('durations and lists are read', () => {
    const cfg = parseConfig('zones: [a.zone, b.zone]\ndns:\n  listen: ["[::1]:53", 127.0.0.1:53]\n  tcp_idle_timeout: 1m30s\n', 'x.yaml');
    expect(cfg.zones).toEqual(['a.zone', 'b.zone']);
    expect(cfg.dns.listen).toEqual(['[::1]:53', '127.0.0.1:53']);
    expect(cfg.dns.tcp_idle_timeout).toBe(90_000);
  });

  const bad: [string, string, RegExp][] = [
    ['unknown top-level key', 'zone: zones/\n', /^roamdns\.yaml:1: unknown key 'zone' \(allowed here: zones, dns/],
    ['unknown nested key', 'dns:\n  listen: [127.0.0.1:53]\n  lisen: 1\n', /^roamdns\.yaml:3: unknown key 'dns\.lisen'/],
    ['bad duration', 'dns:\n  tcp_idle_timeout: 10 seconds\n', /^roamdns\.yaml:2: dns\.tcp_idle_timeout: '10 seconds' is not a duration/],
    ['duration out of range', 'dns:\n  tcp_idle_timeout: 1ms\n', /^roamdns\.yaml:2: dns\.tcp_idle_timeout: 1ms is out of range/],
    ['bad listen address', 'dns:\n  listen: [localhost:53]\n', /^roamdns\.yaml:2: dns\.listen\[0\]: 'localhost:53': 'localhost' is not an IP address/],
    ['port out of range', 'dns:\n  listen: [127.0.0.1:99999]\n', /dns\.listen\[0\]: .*port must be 0\.\.65535/],
    ['bad CIDR', 'dns:\n  transfer_allow: [10.0.0.0/33]\n', /^roamdns\.yaml:2: dns\.transfer_allow\[0\]: '10\.0\.0\.0\/33': prefix length must be 0\.\.32/],
    ['wrong type', 'dns: 5\n', /^roamdns\.yaml:1: dns must be a mapping/],
    ['bad enum', 'log:\n  level: loud\n', /^roamdns\.yaml:2: log\.level: 'loud' must be one of trace, debug, info, warn, error/],
    ['YAML syntax error', 'dns:\n  listen: [127.0.0.1:53\n', /^roamdns\.yaml:\d+: YAML syntax/],
    ['duplicate key', 'zones: a\nzones: b\n', /^roamdns\.yaml:\d+: YAML syntax: .*[Mm]ap keys must be unique/],
  ];
  test.each(bad)('%s', (_label, text, expected) => {
    const p = problems(text);
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatch(expected);
  });

  test('every problem is reported, not only the first', () => {
    const p = problems('zone: x\ndns:\n  tcp_idle_timeout: soon\nlog:\n  level: loud\n');
    expect(p).toHaveLength(3);
    expect(p.map((l) => l.split(':')[1])).toEqual(['1', '3', '5']);
  });
});

describe('parseDuration', () => {
  test.each([
    ['200ms', 200], ['1s', 1000], ['1m30s', 90_000], ['1h', 3_600_000], ['1.5s', 1500], ['2d', 172_800_000],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  test.each(['', '5', 's', '1x', '1s ', '-1s'])('%j is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('pools and cluster sections', () => {
  const cluster = 'cluster:\n  nodes:\n    www1: { address: 198.51.100.2 }\n    www2: { address: 198.51.100.3 }\n  secret_file: /etc/roamdns/cluster.key\n  vips_from: [www.example.com]\n';
  test('defaults are filled in', () => {
    const cfg = parseConfig(`pools:\n  www.example.com:\n    check: { http: { port: 80, path: /healthz } }\n${cluster}`, 'x.yaml');
    expect(cfg.pools['www.example.com']).toMatchObject({ when_all_down: 'all', degraded_ttl: 10, max_answers: 8, check: { interval: 1000, timeout: 500, rise: 2, fall: 3, http: { path: '/healthz', tls_verify: true } } });
    expect(cfg.cluster).toMatchObject({ listen: '0.0.0.0:7946', interface: 'eth0', vip_prefix: { ipv4: 32, ipv6: 128 }, announce: { count: 3, interval: 200 }, status_listen: '127.0.0.1:8054' });
    expect(cfg.cluster?.service_check).toBeUndefined();
  });
  test('no cluster section means no cluster', () => {
    expect(parseConfig('', 'x.yaml').cluster).toBeUndefined();
    expect(parseConfig('', 'x.yaml').pools).toEqual({});
  });
  test.each([
    ['cluster without nodes', 'cluster:\n  secret_file: k\n  vips_from: [a]\n', /roamdns\.yaml:2: missing required key 'cluster\.nodes'/],
    ['bad node address', cluster.replace('198.51.100.3', 'www2.local'), /roamdns\.yaml:4: cluster\.nodes\.www2\.address: 'www2\.local' is not an IP address/],
    ['pool without a check', 'pools:\n  www.example.com:\n    degraded_ttl: 5\n', /roamdns\.yaml:3: missing required key 'pools\.www\.example\.com\.check'/],
    ['bad status class', 'pools:\n  w:\n    check: { http: { expect_status: [20x] } }\n', /roamdns\.yaml:3: pools\.w\.check\.http\.expect_status\[0\]: '20x' is not a status code/],
  ])('%s', (_l, text, expected) => expect(problems(text)[0]).toMatch(expected));
});

// Each of these crashed the loader, took minutes, or gave an error without a line or on several
// lines before it was fixed; test/cli/config-fuzz.test.ts found them.
describe('hostile YAML (found by config-fuzz.test.ts)', () => {
  test('keys named like Object.prototype members are unknown keys, not a TypeError', () => {
    expect(problems('hasOwnProperty: -1\n__proto__: 1\ndns:\n  constructor: 2\n')).toEqual([
      expect.stringMatching(/^roamdns\.yaml:1: unknown key 'hasOwnProperty' \(allowed here: zones, dns/),
      expect.stringMatching(/^roamdns\.yaml:2: unknown key '__proto__'/),
      expect.stringMatching(/^roamdns\.yaml:4: unknown key 'dns\.constructor'/),
    ]);
  });

  test('a pool named __proto__ is a pool, not the prototype of the pools object', () => {
    const cfg = parseConfig('pools:\n  __proto__: { check: { tcp: { port: 80 } } }\n', 'x.yaml');
    expect(Object.keys(cfg.pools)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(cfg.pools)).toBe(Object.prototype);
  });

  test('control characters in values and in YAML syntax errors are escaped: one problem, one line', () => {
    expect(problems('log:\n  level: "a\\x1b[31m\\nb"\n')).toEqual(["roamdns.yaml:2: log.level: 'a\\x1b[31m\\nb' must be one of trace, debug, info, warn, error"]);
    expect(problems('>\x00')).toEqual(['roamdns.yaml:1: YAML syntax: Block scalar header includes extra characters: >\\x00']);
  });

  test('a problem in a pair without a range (`[a: 1]`, !!omap, !!set) has the line of its key', () => {
    expect(problems('dns:\n  listen: [a: 1]\n')).toEqual(['roamdns.yaml:2: dns.listen[0] must be a string, not a mapping']);
    expect(problems('%YAML 1.1\n---\nzones: !!omap [a: 1]\n')[0]).toMatch(/^roamdns\.yaml:3: zones\[0\] must be a string/);
    expect(problems('%YAML 1.1\n---\npools: !!set { ? www.example.com }\n')).toEqual(['roamdns.yaml:3: pools.www.example.com must be a mapping']);
  });

  test('duplicate keys are found in linear time (the yaml package compares every pair: 20k keys took seconds)', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `k${i}: ${i}`).join('\n') + '\nk7: again\n';
    const t0 = performance.now();
    let err: ConfigError | undefined;
    try { parseConfig(text, 'roamdns.yaml'); } catch (e) { err = e as ConfigError; }
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err!.problems).toHaveLength(20_001); // the message lists the first 100
    expect(err!.problems.at(-1)).toMatchObject({ line: 20_001, message: "YAML syntax: map keys must be unique ('k7' is already on line 8)" });
    expect(problems('dns:\n  listen: [127.0.0.1:53]\n  listen: [127.0.0.1:54]\n')).toEqual(["roamdns.yaml:3: YAML syntax: map keys must be unique ('dns.listen' is already on line 2)"]);
  });

  test('aliases are refused with their line (a "billion laughs" stays ten lines)', () => {
    expect(problems('x: &t 2s\ndns:\n  tcp_idle_timeout: *t\n')).toEqual([
      expect.stringMatching(/^roamdns\.yaml:1: unknown key 'x'/),
      'roamdns.yaml:3: dns.tcp_idle_timeout: YAML aliases (*t) are not supported; write the value out',
    ]);
    const bomb = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`)];
    const t0 = performance.now();
    const p = problems(`${bomb.join('\n')}\ndns:\n  listen: *a9\n`);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(p.at(-1)).toBe('roamdns.yaml:12: dns.listen: YAML aliases (*a9) are not supported; write the value out');
  });

  test('a map key that is not a plain name is refused with its line', () => {
    expect(problems('pools:\n  ? [a, b]\n  : { check: { tcp: { port: 80 } } }\n')).toEqual(['roamdns.yaml:2: pools: a key must be a plain name, not a list']);
  });

  test('a config with thousands of problems lists the first 100 and counts the rest', () => {
    const text = Array.from({ length: 2000 }, (_, i) => `bogus_key_${i}: 1`).join('\n') + '\n';
    try {
      parseConfig(text, 'many.yaml');
      throw new Error('accepted');
    } catch (e) {
      const lines = (e as Error).message.split('\n');
      expect(lines).toHaveLength(101);
      expect(lines[0]).toMatch(/^many\.yaml:1: /);
      expect(lines[100]).toBe('many.yaml: … and 1900 more problems');
      expect((e as { problems: unknown[] }).problems).toHaveLength(2000);
    }
  });
});
