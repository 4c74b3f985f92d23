// The fast path (prebuilt answers) and the general path (lookup + render) give identical bytes
// for every query of a corpus built from the differential fixture zones: every owner name (and
// names below them, wildcard matches, names that do not exist), in mixed case, for many types,
// over UDP and TCP, with and without EDNS (and DO). Each rotation is compared.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { AnswerCache, peek } from '../../server/answer-cache.js';
import { lookup } from '../../server/lookup.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { renderResponse, rotationCount } from '../../server/response.js';
import { parseQuery } from '../../server/wire.js';
import { loadZone } from '../../server/zone-store.js';
import { buildZone, ZoneSet, type Zone } from '../../server/zone.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { encodeMessage } from '../helpers/roamdns.js';

const DIR = path.join(import.meta.dirname, '../fixtures/zones/diff');
const zones = new ZoneSet(new Map(readdirSync(DIR).filter((f) => f.endsWith('.zone')).map((f) => {
  const z = loadZone(path.join(DIR, f)).zone as Zone;
  return [z.origin, z] as const;
})));

const TYPES = ['A', 'AAAA', 'NS', 'SOA', 'MX', 'TXT', 'SRV', 'CNAME', 'CAA', 'PTR', 'DS', 'ANY', 'TYPE65534'];
const mixCase = (n: string) => n.split('').map((c, i) => (i % 3 === 0 ? c.toUpperCase() : c)).join('');

function corpusNames(): string[] {
  const names = new Set<string>();
  for (const z of zones.zones.values()) {
    for (const key of z.nodes.keys()) {
      names.add(key);
      names.add(key.startsWith('*.') ? `match.${key.slice(2)}` : `nope.${key}`);
    }
  }
  names.add('outside.example.org.');
  return [...names].flatMap((n) => [n, mixCase(n)]);
}

const variantsOf = [
  { transport: 'udp' as const, edns: false },
  { transport: 'udp' as const, edns: { udpSize: 1232 } },
  { transport: 'udp' as const, edns: { udpSize: 4096, do: true } },
  { transport: 'tcp' as const, edns: false },
  { transport: 'tcp' as const, edns: { udpSize: 1232, do: true } },
];

describe('fast path = general path', () => {
  test.each(['minimal', 'full'] as const)('identical bytes over the whole corpus, every rotation (dns.any: %s)', (any) => {
    const cache = new AnswerCache(dnsMetrics(new Registry()), any);
    let compared = 0, fast = 0;
    let id = 1;
    for (const name of corpusNames()) {
      for (const qtype of TYPES) {
        for (const v of variantsOf) {
          const msg = encodeMessage({ id: id++ & 0xffff, rd: id % 2 === 0, cd: id % 5 === 0, questions: [{ name, type: qtype }], edns: v.edns });
          const parsed = parseQuery(msg);
          if (parsed.kind !== 'query') throw new Error(`corpus query did not parse: ${name} ${qtype}`);
          const q = parsed.query;
          const result = lookup(zones, q.qkey, q.qlabels, q.qtype, undefined, any);
          const n = rotationCount(result);
          for (let k = 0; k < n; k++) {
            const general = renderResponse(q, result, v.transport, k);
            const got = cache.answer(msg, v.transport, zones, undefined);
            expect(got, `fast path declined ${name} ${qtype} ${JSON.stringify(v)}`).toBeDefined();
            expect(got!.equals(general), `bytes differ for ${name} ${qtype} ${JSON.stringify(v)} rotation ${k}`).toBe(true);
            compared++;
          }
          fast++;
        }
      }
    }
    console.log(`fast path (any: ${any}): ${fast} queries, ${compared} responses compared byte for byte, ${cache.size} cache entries, ${cache.directAnswers} answers written straight from the zone`);
    expect(fast).toBeGreaterThan(2000);
    expect(cache.directAnswers).toBeGreaterThan(500);
  });

  test('unusual queries are left to the general path', () => {
    const q = (spec: Parameters<typeof encodeMessage>[0]) => encodeMessage(spec);
    const base = { questions: [{ name: 'www.example.com.', type: 'A' }] };
    expect(peek(q(base), 'udp')).toBeDefined();
    expect(peek(q({ ...base, edns: { udpSize: 800 } }), 'udp')).toBeUndefined(); // odd size: general path truncates to it
    expect(peek(q({ ...base, edns: { udpSize: 800 } }), 'tcp')).toBeDefined();
    expect(peek(q({ ...base, edns: { version: 1 } }), 'udp')).toBeUndefined(); // BADVERS
    expect(peek(q({ questions: [{ name: 'example.com.', type: 'AXFR' }] }), 'tcp')).toBeUndefined();
    expect(peek(q({ questions: [{ name: 'www.example.com.', type: 'A', class: 'CH' }] }), 'udp')).toBeUndefined();
    expect(peek(q({ ...base, opcode: 4 }), 'udp')).toBeUndefined();
    expect(peek(q({ questions: [{ name: 'caf\\233.example.com.', type: 'A' }] }), 'udp')).toBeUndefined(); // non-ASCII octet
    expect(peek(Buffer.concat([q(base), Buffer.from([0])]), 'udp')).toBeUndefined(); // trailing byte
  });

  test('health-managed names: the same bytes and the same round-robin from the overlay (up, degraded, fail-open, limited)', async () => {
    const { buildOverlay } = await import('../../server/pool-overlay.js');
    const key = 'www.example.com.';
    const vips = (zones.find(key)!.nodes.get(key)!.get(1)!.rdatas).map((r) => r.join('.'));
    expect(vips.length).toBeGreaterThan(1);
    const cases = [
      { what: 'all up', served: () => true, whenAllDown: 'all' as const, max: 8 },
      { what: 'one down', served: (_: string, vip: string) => vip !== vips[0], whenAllDown: 'all' as const, max: 8 },
      { what: 'all down, fail-open', served: () => false, whenAllDown: 'all' as const, max: 8 },
      { what: 'one answer per response', served: () => true, whenAllDown: 'all' as const, max: 1 },
    ];
    for (const c of cases) {
      const policy = [{ key, name: 'www.example.com', whenAllDown: c.whenAllDown, degradedTtlSeconds: 5, maxAnswers: c.max }];
      const overlay = buildOverlay(zones, policy, c.served);
      const metrics = dnsMetrics(new Registry());
      const cache = new AnswerCache(metrics);
      const pool = overlay.get(key, 1)!;
      if (pool.kind !== 'rrset') throw new Error('expected records');
      for (let i = 0; i < 6; i++) {
        for (const v of variantsOf) {
          const msg = encodeMessage({ id: 7 + i, rd: i % 2 === 0, questions: [{ name: i % 2 ? 'WWW.example.COM.' : key, type: 'A' }], edns: v.edns });
          const q = (parseQuery(msg) as { kind: 'query'; query: import('../../server/wire.js').Query }).query;
          const cursor = pool.rrset.next;
          const general = renderResponse(q, lookup(zones, q.qkey, q.qlabels, q.qtype, overlay, 'minimal'), v.transport);
          const afterGeneral = pool.rrset.next;
          pool.rrset.next = cursor;
          const direct = cache.answer(msg, v.transport, zones, overlay)!;
          expect(direct.equals(general), `${c.what}: bytes differ (${JSON.stringify(v)}, query ${i})`).toBe(true);
          expect(pool.rrset.next, `${c.what}: the cursor moves as on the general path`).toBe(afterGeneral);
        }
      }
      expect(cache.directAnswers, c.what).toBe(6 * variantsOf.length);
      expect(metrics.poolAnswers.get({ pool: key, degraded: pool.degraded ? 'yes' : 'no' }), c.what).toBe(6 * variantsOf.length);
    }
  });

  test('the cache follows zone swaps and drops pool answers when health changes', async () => {
    const { buildOverlay } = await import('../../server/pool-overlay.js');
    const cache = new AnswerCache(dnsMetrics(new Registry()));
    const msg = encodeMessage({ id: 9, questions: [{ name: 'www.example.com.', type: 'A' }] });
    const policy = [{ key: 'www.example.com.', name: 'www.example.com', whenAllDown: 'none' as const, degradedTtlSeconds: 5, maxAnswers: 8 }];
    const up = buildOverlay(zones, policy, () => true);
    const down = buildOverlay(zones, policy, () => false);
    const a1 = cache.answer(msg, 'udp', zones, up)!;
    expect(a1.readUInt16BE(6)).toBeGreaterThan(0); // answers
    const a2 = cache.answer(msg, 'udp', zones, down)!;
    expect(a2.readUInt16BE(6)).toBe(0); // NODATA now
    const other = new ZoneSet(new Map());
    const a3 = cache.answer(msg, 'udp', other, undefined)!;
    expect(a3[3]! & 0xf).toBe(5); // REFUSED once the zone is gone
  });

  test('NXDOMAIN written from the zone: the SOA names compressed against the question as the general path does', () => {
    // The SOA's MNAME and RNAME are names of this zone that do not exist: an NXDOMAIN for one of
    // them (or a name below it) compresses MNAME/RNAME into the question, so its bytes differ from
    // another name of the same length; each is still the general path's.
    const origin = 'nx.example.';
    const text = [
      `$ORIGIN ${origin}`, '$TTL 300',
      '@ IN SOA ghost hostmaster.sub 1 3600 600 86400 60',
      '@ IN NS ns1', 'ns1 IN A 198.51.100.1', 'www IN A 198.51.100.2', 'deep.ent IN A 198.51.100.3',
      'cut IN NS ns.elsewhere.test.', 'wild IN TXT "w"', '*.wild IN A 198.51.100.4',
    ].join('\n') + '\n';
    const parsed = parseZoneText(text, { file: 'nx.zone', origin });
    expect(parsed.problems ?? []).toEqual([]);
    const nz = new ZoneSet(new Map([[origin, buildZone(origin, parsed.records)]]));
    const cache = new AnswerCache(dnsMetrics(new Registry()));
    const names = [
      'ghosx.nx.example.', 'ghost.nx.example.', 'GHOST.nx.example.', 'a.ghost.nx.example.', 'a.ghosx.nx.example.',
      'sub.nx.example.', 'suc.nx.example.', 'hostmaster.sub.nx.example.', 'hostmaster.sux.nx.example.',
      'x.www.nx.example.', 'x.ent.nx.example.', 'ent.nx.example.', 'x.cut.nx.example.', 'y.x.cut.nx.example.', 'x.wild.nx.example.',
      'nope.nx.example.', 'nopf.nx.example.', 'q.nope.nx.example.',
    ];
    const seen = new Map<string, number>();
    let id = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (const name of names) {
        for (const v of variantsOf) {
          for (const type of ['A', 'AAAA', 'MX', 'DS']) {
            const msg = encodeMessage({ id: id++ & 0xffff, rd: id % 2 === 0, cd: id % 3 === 0, questions: [{ name, type }], edns: v.edns });
            const q = (parseQuery(msg) as { query: Parameters<typeof renderResponse>[0] & { qkey: string; qlabels: string[]; qtype: number } }).query;
            const result = lookup(nz, q.qkey, q.qlabels, q.qtype, undefined, 'minimal');
            const general = renderResponse(q, result, v.transport, 0);
            const before = cache.directAnswers;
            const got = cache.answer(msg, v.transport, nz, undefined);
            expect(got?.equals(general), `bytes differ for ${name} ${type} ${JSON.stringify(v)}`).toBe(true);
            if (cache.directAnswers > before) seen.set(`${name} ${result.kind}`, (seen.get(`${name} ${result.kind}`) ?? 0) + 1);
          }
        }
      }
    }
    const direct = [...seen.keys()];
    // Only names that do not exist, and none whose closest encloser is a cut or has a wildcard, nor the SOA's own names.
    expect(direct.every((k) => k.endsWith(' nxdomain'))).toBe(true);
    for (const name of ['ghosx.nx.example.', 'suc.nx.example.', 'nope.nx.example.', 'nopf.nx.example.', 'q.nope.nx.example.', 'x.www.nx.example.', 'x.ent.nx.example.', 'a.ghosx.nx.example.']) {
      expect(direct, name).toContain(`${name} nxdomain`);
    }
    for (const name of ['ghost.nx.example.', 'a.ghost.nx.example.', 'sub.nx.example.', 'hostmaster.sub.nx.example.', 'x.cut.nx.example.', 'x.wild.nx.example.']) {
      expect(direct.some((k) => k.startsWith(`${name} `)), name).toBe(false);
    }
  });

  test('aliases: CNAME and the target’s A/AAAA written from the zone, the same bytes and rotation; what is left to the general path', async () => {
    const { buildOverlay } = await import('../../server/pool-overlay.js');
    const origin = 'al.example.';
    const zoneText = (extra: string[] = []) => [
      `$ORIGIN ${origin}`, '$TTL 300',
      '@ IN SOA ns1 hostmaster 1 3600 600 86400 60', '@ IN NS ns1', '@ IN A 198.51.100.9', 'ns1 IN A 198.51.100.1',
      'host IN A 198.51.100.2', 'host IN A 198.51.100.3', 'host IN A 198.51.100.4', 'host IN AAAA 2001:db8::2', 'host IN AAAA 2001:db8::3',
      'Mixed.Case IN A 198.51.100.5', 'x.a4 IN A 198.51.100.6', 'www IN A 198.51.100.10', 'www IN A 198.51.100.11',
      ...Array.from({ length: 50 }, (_, i) => `big IN AAAA 2001:db8::${(100 + i).toString(16)}`),
      'a1 IN CNAME host', 'a2 120 IN CNAME HOST.AL.EXAMPLE.', 'a3 IN CNAME @', 'a4 IN CNAME x.a4', 'deep.er.a5 IN CNAME host',
      'a6 IN CNAME Mixed.Case', 'chain IN CNAME a1', 'nodata IN CNAME ns1', 'cut IN NS ns.elsewhere.test.', 'intocut IN CNAME www.cut',
      'wild IN TXT "w"', '*.wild IN A 198.51.100.7', 'intowild IN CNAME x.wild', 'dangling IN CNAME nothing',
      'external IN CNAME www.example.org.', 'pool IN CNAME www', 'many IN CNAME big',
      'abcd IN CNAME host', 'x.yy IN CNAME x.zz', 'x.zz IN A 198.51.100.8', '*.wc IN CNAME host', ...extra,
    ].join('\n') + '\n';
    const zoneOf = (o: string, text: string) => {
      const parsed = parseZoneText(text, { file: `${o}zone`, origin: o });
      expect(parsed.problems ?? []).toEqual([]);
      return buildZone(o, parsed.records);
    };
    // Labels of the same length as the question's but not equal (abcd/host, yy/zz): shared only from the right, up to the first that differs.
    // `*.wc` asked as such is the wildcard's own node (RFC 4592 §2.2.1: written from the index); `x.wc` matches it (left to the general path).
    const names = ['a1', 'a2', 'a3', 'a4', 'deep.er.a5', 'a6', 'abcd', 'x.yy', '*.wc', 'x.wc', 'chain', 'nodata', 'intocut', 'intowild', 'dangling', 'external', 'pool', 'many'].map((n) => `${n}.${origin}`);
    /** Asks every name for A and AAAA in every variant, each rotation; returns "name type transport" of the answers written from the zone. */
    const run = (set: ZoneSet, overlay?: Parameters<AnswerCache['answer']>[3]) => {
      const cache = new AnswerCache(dnsMetrics(new Registry()));
      const direct = new Set<string>();
      let id = 1;
      for (const name of names.flatMap((n) => [n, mixCase(n), n.toUpperCase()])) {
        for (const type of ['A', 'AAAA']) {
          for (const v of variantsOf) {
            const msg = encodeMessage({ id: id++ & 0xffff, rd: id % 2 === 0, cd: id % 3 === 0, questions: [{ name, type }], edns: v.edns });
            const q = (parseQuery(msg) as { query: Parameters<typeof renderResponse>[0] & { qkey: string; qlabels: string[]; qtype: number } }).query;
            const result = lookup(set, q.qkey, q.qlabels, q.qtype, overlay, 'minimal');
            for (let k = 0; k < rotationCount(result); k++) {
              const before = cache.directAnswers;
              const got = cache.answer(msg, v.transport, set, overlay);
              expect(got?.equals(renderResponse(q, result, v.transport, k)), `bytes differ for ${name} ${type} ${JSON.stringify(v)} rotation ${k}`).toBe(true);
              if (cache.directAnswers > before) direct.add(`${name.toLowerCase()} ${type} ${v.transport}`);
            }
          }
        }
      }
      return direct;
    };
    const zone = zoneOf(origin, zoneText());
    const alone = run(new ZoneSet(new Map([[origin, zone]])));
    const both = ['A', 'AAAA'].flatMap((t) => ['udp', 'tcp'].map((tr) => `${t} ${tr}`));
    for (const n of ['a1', 'a2', 'deep.er.a5', '*.wc']) for (const k of both) expect(alone, `${n} ${k}`).toContain(`${n}.${origin} ${k}`);
    for (const n of ['a3', 'a4', 'a6', 'nodata', 'pool', 'abcd', 'x.yy']) for (const tr of ['udp', 'tcp']) expect(alone, `${n} A ${tr}`).toContain(`${n}.${origin} A ${tr}`);
    expect(alone).toContain(`many.${origin} AAAA tcp`); // 50 AAAA records: over UDP (EDNS 1232 too) the general path truncates
    expect(alone).not.toContain(`many.${origin} AAAA udp`);
    expect(alone).not.toContain(`many.${origin} A tcp`); // NODATA
    for (const n of ['chain', 'intocut', 'intowild', 'dangling', 'external', 'x.wc']) expect([...alone].some((k) => k.startsWith(`${n}.${origin} `)), n).toBe(false);
    expect([...alone].some((k) => k.startsWith(`nodata.${origin} AAAA`))).toBe(false); // NODATA after the CNAME
    // The target health-managed: the overlay's answer, from the general path.
    const set = new ZoneSet(new Map([[origin, zone]]));
    const overlay = buildOverlay(set, [{ key: `www.${origin}`, name: `www.${origin}`, whenAllDown: 'all', degradedTtlSeconds: 5, maxAnswers: 8 }], (_: string, vip: string) => vip !== '198.51.100.10');
    const managed = run(set, overlay);
    expect([...managed].some((k) => k.startsWith(`pool.${origin} `))).toBe(false);
    expect(managed).toContain(`a1.${origin} A udp`);
    // A zone we serve below this one: the general path stops the chase there, so none is written from the zone.
    const sub = `sub.${origin}`;
    const withSub = run(new ZoneSet(new Map([[origin, zone], [sub, zoneOf(sub, `$ORIGIN ${sub}\n$TTL 300\n@ IN SOA ns1 h 1 1 1 1 1\n@ IN NS ns1\nns1 IN A 198.51.100.1\n`)]])));
    expect(withSub.size).toBe(0);
  });

  /** A cache whose general-path builds are counted. */
  function countingCache(): { cache: AnswerCache; builds: () => number } {
    const cache = new AnswerCache(dnsMetrics(new Registry()));
    let builds = 0;
    const inner = cache as unknown as { build: (...a: unknown[]) => unknown };
    const build = inner.build.bind(cache);
    inner.build = (...a: unknown[]) => { builds++; return build(...a); };
    return { cache, builds: () => builds };
  }

  test('a random-subdomain flood (NXDOMAIN) is answered from the zone: no entry per name, one render per name length', () => {
    const { cache, builds } = countingCache();
    const ask = (name: string, type = 'A') => cache.answer(encodeMessage({ id: 1, questions: [{ name, type }] }), 'udp', zones, undefined);
    ask('example.com.', 'SOA'); // an entry
    expect(builds()).toBe(1);
    const lengths = new Set<number>();
    for (let i = 0; i < 120_000; i++) {
      const name = `r${i}.example.com.`;
      lengths.add(name.length);
      expect(ask(name, i % 2 ? 'A' : 'TXT')![3]! & 0xf).toBe(3);
    }
    expect(cache.size).toBe(1);
    expect(builds()).toBe(1 + lengths.size);
    expect(cache.directAnswers).toBe(120_000);
  });

  test('a flood of names in no zone (REFUSED) does not evict the hot answers; memory stays bounded', () => {
    const { cache, builds } = countingCache();
    const ask = (name: string, type = 'A') => cache.answer(encodeMessage({ id: 1, questions: [{ name, type }] }), 'udp', zones, undefined);
    const hot = () => ask('example.com.', 'SOA');
    hot();
    expect(builds()).toBe(1);
    for (let i = 0; i < 120_000; i++) expect(ask(`r${i}.not-served.test.`)![3]! & 0xf).toBe(5);
    const before = builds();
    hot();
    expect(builds()).toBe(before); // still cached
    expect(cache.size).toBeLessThanOrEqual(100_000 + 1); // negative tier: two generations of 50,000 at most
    ask('r119999.not-served.test.'); // recent negative: still cached
    expect(builds()).toBe(before);
    ask('r0.not-served.test.'); // aged out with its generation: built again
    expect(builds()).toBe(before + 1);
  });
});
