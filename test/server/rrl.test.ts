// Response rate limiting (server/rrl.ts): account arithmetic with a fake clock (a flooding source
// is held at its rate while another is untouched, slip ratio, refill and the window, bounded
// memory), tokens read from real rendered responses, the TC=1 slip, and a flood over real
// loopback sockets through the handler as `serve` wires it.
import dgram from 'node:dgram';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleMessage } from '../../server/handler.js';
import { lookup } from '../../server/lookup.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { renderError, renderResponse } from '../../server/response.js';
import { prefixKey, RateLimiter, responseToken, RRL_DEFAULTS, slipResponse, type RrlAction, type RrlOptions } from '../../server/rrl.js';
import { parseQuery, Rcode, type Query } from '../../server/wire.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { startServeWithDns } from '../helpers/reference.js';
import { encodeMessage, makeTempDir, parseMessage } from '../helpers/roamdns.js';

const ZONE = [
  '$ORIGIN example.org.', '$TTL 60', '@ SOA ns1 hostmaster 1 3600 600 86400 60', '@ NS ns1',
  'ns1 A 198.51.100.53', 'www A 198.51.100.1', 'www A 198.51.100.2', 'child NS ns.child', 'ns.child A 198.51.100.99', '',
].join('\n');
const zones = new ZoneSet(new Map([['example.org.', buildZone('example.org.', parseZoneText(ZONE, { file: 'z', origin: 'example.org.' }).records)]]));

/** A fake clock the tests move by hand. */
class FakeClock {
  constructor(public ms = 1_000_000) {}
  now(): number { return this.ms; }
}

function limiter(opts: Partial<RrlOptions> = {}, clock = new FakeClock()) {
  return { rrl: new RateLimiter({ exempt: [], ...opts }, clock), clock };
}

/** `n` responses spread evenly over `seconds`, the clock advancing; returns the count of each action. */
function burst(rrl: RateLimiter, clock: FakeClock, client: string, token: string, n: number, seconds: number): Record<RrlAction, number> {
  const out: Record<RrlAction, number> = { send: 0, slip: 0, drop: 0 };
  const step = (seconds * 1000) / n;
  for (let i = 0; i < n; i++) {
    out[rrl.decide(client, token)]++;
    clock.ms += step;
  }
  return out;
}

function queryOf(name: string, type: string, edns = false): Query {
  const p = parseQuery(encodeMessage({ id: 7, questions: [{ name, type }], edns }));
  if (p.kind !== 'query') throw new Error('test query did not parse');
  return p.query;
}
const rendered = (name: string, type: string, edns = false): Buffer => {
  const q = queryOf(name, type, edns);
  return renderResponse(q, lookup(zones, q.qkey, q.qlabels, q.qtype), 'udp');
};

describe('RateLimiter accounts (fake clock)', () => {
  it('gives a flooding source nothing but slips past its burst while a second source is answered in full', () => {
    const { rrl, clock } = limiter({ responses_per_second: 10 });
    const token = 'answer www.example.org./1';
    let victim = { send: 0, slip: 0, drop: 0 }, other = { send: 0, slip: 0, drop: 0 };
    for (let s = 0; s < 10; s++) {
      // 1000 spoofed queries per second from one address, 5 per second from another network.
      const v = burst(rrl, clock, '198.51.100.7', token, 1000, 0.99);
      const o = burst(rrl, clock, '203.0.113.9', token, 5, 0.01);
      victim = { send: victim.send + v.send, slip: victim.slip + v.slip, drop: victim.drop + v.drop };
      other = { send: other.send + o.send, slip: other.slip + o.slip, drop: other.drop + o.drop };
    }
    // The first burst of 10, then nothing but slips: limited responses are charged too, so a source
    // asking 100 times faster than its rate never climbs out of debt while it keeps asking (BIND).
    expect(victim.send).toBe(10);
    expect(victim.slip + victim.drop).toBe(10_000 - victim.send);
    expect(other).toEqual({ send: 50, slip: 0, drop: 0 });
    expect(rrl.counters.slipped + rrl.counters.dropped).toBe(victim.slip + victim.drop);
  });

  it('shares one account across the /24 (IPv4) and /56 (IPv6) of the flooding source', () => {
    const { rrl } = limiter({ responses_per_second: 5 });
    const t = 'answer www.example.org./1';
    for (let i = 0; i < 5; i++) expect(rrl.decide(`198.51.100.${i + 1}`, t)).toBe('send');
    expect(rrl.decide('198.51.100.250', t)).not.toBe('send');
    expect(rrl.decide('198.51.101.1', t)).toBe('send'); // the next /24
    for (let i = 0; i < 5; i++) expect(rrl.decide(`2001:db8:0:${(0x10 + i).toString(16)}::${i + 1}`, t)).toBe('send');
    expect(rrl.decide('2001:db8:0:ff::1', t)).not.toBe('send'); // 2001:db8:0:0-ff::/56
    expect(rrl.decide('2001:db8:0:100::1', t)).toBe('send');
  });

  it('keeps separate accounts per token: another question from the flooded prefix is answered', () => {
    const { rrl, clock } = limiter({ responses_per_second: 5 });
    const flood = burst(rrl, clock, '198.51.100.7', 'answer www.example.org./1', 100, 0.5);
    expect(flood.send).toBe(5);
    expect(rrl.decide('198.51.100.7', 'answer www.example.org./28')).toBe('send');
    expect(rrl.decide('198.51.100.7', 'nxdomain example.org.')).toBe('send');
  });

  it('uses the per-category limits: nxdomains_per_second and errors_per_second', () => {
    const { rrl, clock } = limiter({ responses_per_second: 100, nxdomains_per_second: 2, errors_per_second: 3 });
    expect(burst(rrl, clock, '198.51.100.7', 'nxdomain example.org.', 50, 0.1).send).toBe(2);
    expect(burst(rrl, clock, '198.51.100.7', 'error', 50, 0.1).send).toBe(3);
    expect(burst(rrl, clock, '198.51.100.7', 'answer www.example.org./1', 50, 0.1).send).toBe(50);
  });

  it.each([
    [2, 0.5], [1, 1], [3, 1 / 3], [0, 0],
  ])('slip %i: that share of the limited responses goes out truncated, the rest is dropped', (slip, share) => {
    const { rrl, clock } = limiter({ responses_per_second: 10, slip });
    const r = burst(rrl, clock, '198.51.100.7', 'answer www.example.org./1', 3000, 1);
    const limited = r.slip + r.drop;
    expect(limited).toBeGreaterThan(2900);
    expect(Math.abs(r.slip - limited * share)).toBeLessThanOrEqual(1);
  });

  it('slips the first limited response, then every slip-th (BIND)', () => {
    const { rrl } = limiter({ responses_per_second: 1, slip: 2 });
    const seq = Array.from({ length: 6 }, () => rrl.decide('198.51.100.7', 'error'));
    expect(seq).toEqual(['send', 'slip', 'drop', 'slip', 'drop', 'slip']);
  });

  it('refills at the rate: a client at or below the limit is never limited', () => {
    const { rrl, clock } = limiter({ responses_per_second: 10 });
    const r = burst(rrl, clock, '198.51.100.7', 'answer www.example.org./1', 600, 60); // exactly 10/s for a minute
    expect(r).toEqual({ send: 600, slip: 0, drop: 0 });
    // A burst up to the rate after a quiet second is absorbed too.
    clock.ms += 1000;
    expect(burst(rrl, clock, '198.51.100.7', 'answer www.example.org./1', 10, 0.01).send).toBe(10);
  });

  it('remembers a flood for at most `window` seconds after it stops', () => {
    const { rrl, clock } = limiter({ responses_per_second: 10, window: 5 });
    const t = 'answer www.example.org./1';
    burst(rrl, clock, '198.51.100.7', t, 5000, 5); // debt at the floor: -window × rate
    clock.ms += 2000;
    expect(rrl.decide('198.51.100.7', t)).not.toBe('send'); // 2 s of credit does not pay 5 s of debt
    clock.ms += 3200; // the floor (-50) paid back at 10/s, plus the probe above
    expect(rrl.decide('198.51.100.7', t)).toBe('send');
    // And an account idle for longer than the window starts afresh with a full burst.
    burst(rrl, clock, '198.51.100.7', t, 5000, 5);
    clock.ms += 5001;
    expect(burst(rrl, clock, '198.51.100.7', t, 10, 0.01).send).toBe(10);
  });

  it('never lets a clock step backwards mint credit', () => {
    const { rrl, clock } = limiter({ responses_per_second: 5 });
    const t = 'error';
    burst(rrl, clock, '198.51.100.7', t, 100, 0.1);
    clock.ms -= 60_000;
    expect(burst(rrl, clock, '198.51.100.7', t, 20, 0.001).send).toBe(0);
  });

  it('exempts configured prefixes (loopback by default) and unparsable addresses', () => {
    const dflt = new RateLimiter({ responses_per_second: 1 }, new FakeClock());
    const custom = new RateLimiter({ responses_per_second: 1, exempt: ['198.51.100.0/24'] }, new FakeClock());
    for (let i = 0; i < 50; i++) {
      expect(dflt.decide('127.0.0.1', 'error')).toBe('send');
      expect(dflt.decide('::1', 'error')).toBe('send');
      expect(custom.decide('198.51.100.7', 'error')).toBe('send');
      expect(custom.decide('not-an-address', 'error')).toBe('send');
    }
    expect(custom.decide('127.0.0.1', 'error')).toBe('send');
    expect(custom.decide('127.0.0.1', 'error')).toBe('slip');
    expect(RRL_DEFAULTS.exempt).toEqual(['127.0.0.0/8', '::1/128']);
  });

  it('responses_per_second 0 turns limiting off', () => {
    const { rrl, clock } = limiter({ responses_per_second: 0 });
    expect(rrl.enabled).toBe(false);
    expect(burst(rrl, clock, '198.51.100.7', 'answer x./1', 1000, 0.1).send).toBe(1000);
    expect(rrl.size).toBe(0);
  });

  it('rejects out-of-range options with the key named', () => {
    expect(() => new RateLimiter({ slip: 11 })).toThrow(/rrl\.slip/);
    expect(() => new RateLimiter({ window: 0 })).toThrow(/rrl\.window/);
    expect(() => new RateLimiter({ ipv6_prefix_length: 129 })).toThrow(/ipv6_prefix_length/);
    expect(() => new RateLimiter({ responses_per_second: 2.5 })).toThrow(/responses_per_second/);
    expect(() => new RateLimiter({ exempt: ['nonsense'] })).toThrow(/nonsense/);
  });
});

describe('RateLimiter memory', () => {
  it('never holds more than max_entries accounts; a flooding source stays limited through the churn', () => {
    const { rrl, clock } = limiter({ responses_per_second: 5, max_entries: 4000 });
    const t = 'answer www.example.org./1';
    burst(rrl, clock, '198.51.100.7', t, 100, 0.1);
    let floodSent = 0;
    // 50 000 one-off sources (a spoofed random-source flood) interleaved with the steady flooder.
    for (let i = 0; i < 50_000; i++) {
      rrl.decide(`2001:db8:${(i & 0xffff).toString(16)}::1`, t);
      if (i % 5 === 0 && rrl.decide('198.51.100.7', t) === 'send') floodSent++;
      clock.ms += 0.02;
      expect(rrl.size).toBeLessThanOrEqual(4000);
    }
    expect(rrl.counters.evicted).toBeGreaterThan(40_000);
    // 10 000 flood queries over 1 s of fake time: its account survived the churn (LRU) and stayed limited.
    expect(floodSent).toBeLessThanOrEqual(10);
  });

  it('replaces expired accounts before live ones, and then the least recently used', () => {
    // max_entries 4 is a single set of four slots, so which slot goes is fully determined.
    const { rrl, clock } = limiter({ responses_per_second: 1, max_entries: 4, window: 2 });
    for (let i = 0; i < 4; i++) rrl.decide(`198.51.${i}.1`, 'error');
    clock.ms += 2001;
    for (let i = 0; i < 4; i++) { rrl.decide(`203.0.${i}.1`, 'error'); clock.ms += 10; }
    expect([rrl.size, rrl.counters.evicted]).toEqual([4, 0]); // the four expired ones made room
    // 203.0.1.1 is in debt and is used again; then a fifth live account pushes out the least recently used (203.0.0.1).
    expect(rrl.decide('203.0.1.1', 'error')).toBe('slip');
    rrl.decide('192.0.2.1', 'error');
    expect(rrl.counters.evicted).toBe(1);
    expect(rrl.decide('203.0.1.1', 'error')).toBe('drop'); // still remembered, still in debt
    expect(rrl.decide('203.0.0.1', 'error')).toBe('send'); // forgotten: starts afresh
  });

  it('allocates its table once: 200 000 distinct accounts through the default table add no memory', () => {
    const before = process.memoryUsage().arrayBuffers;
    const rrl = new RateLimiter({ exempt: [] }, new FakeClock());
    const table = process.memoryUsage().arrayBuffers - before;
    expect(table).toBeLessThan(2.5 * 1024 * 1024); // 21 bytes × 100 000
    for (let i = 0; i < 200_000; i++) rrl.decide(`2001:${(0xdb8 + (i >> 16)).toString(16)}:${(i & 0xffff).toString(16)}::1`, `answer host-${i % 97}.example.org./1`);
    expect(rrl.size).toBeLessThanOrEqual(RRL_DEFAULTS.max_entries);
    expect(rrl.size).toBeGreaterThan(RRL_DEFAULTS.max_entries * 0.95);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(table + 256 * 1024); // nothing grew with the accounts
  });
});

describe('client prefixes', () => {
  it.each([
    ['198.51.100.7', '198.51.100.200', true],
    ['198.51.100.7', '198.51.101.7', false],
    ['::ffff:198.51.100.7', '198.51.100.9', true],
    ['2001:db8:1:100::1', '2001:db8:1:1ff:ffff::2', true],
    ['2001:db8:1:100::1', '2001:db8:1:200::1', false],
    ['2001:db8::198.51.100.7', '2001:db8:0:0:1::', true],
    ['fe80::1%eth0', 'fe80::2', true],
  ])('%s and %s share an account: %s', (a, b, same) => {
    expect(prefixKey(a, 24, 56) === prefixKey(b, 24, 56)).toBe(same);
  });

  it('masks at any prefix length', () => {
    expect(prefixKey('198.51.100.7', 32, 56)).not.toBe(prefixKey('198.51.100.8', 32, 56));
    expect(prefixKey('198.51.100.7', 0, 56)).toBe(prefixKey('203.0.113.1', 0, 56));
    expect(prefixKey('2001:db8::1', 24, 128)).not.toBe(prefixKey('2001:db8::2', 24, 128));
    expect(prefixKey('no', 24, 56)).toBeUndefined();
    expect(prefixKey('198.51.100.7', 24, 56)).toBe('198.51.100.0/24');
    expect(prefixKey('2001:db8:1:1ff::2', 24, 56)).toBe('2001:db8:1:100:0:0:0:0/56');
    expect(prefixKey('1.2.3', 24, 56)).toBeUndefined();
    expect(prefixKey('1.2.3.256', 24, 56)).toBeUndefined();
  });
});

describe('response tokens', () => {
  it.each([
    ['www.example.org', 'A', 'answer www.example.org./1'],
    ['WWW.Example.ORG', 'A', 'answer www.example.org./1'],
    ['www.example.org', 'AAAA', 'nodata example.org.'],
    ['nothing.example.org', 'A', 'nxdomain example.org.'],
    ['random-7f3a.example.org', 'TXT', 'nxdomain example.org.'],
    ['host.child.example.org', 'A', 'referral child.example.org.'],
    ['example.net', 'A', 'error'],
  ])('%s %s -> %s', (name, type, token) => {
    expect(responseToken(rendered(name, type))).toBe(token);
  });

  it('puts every error rcode in one account and ignores what is not a response', () => {
    const q = queryOf('www.example.org', 'A');
    expect(responseToken(renderError({ ...q, rcode: Rcode.FORMERR }, 'udp'))).toBe('error');
    expect(responseToken(renderError({ ...q, rcode: Rcode.SERVFAIL, question: undefined }, 'udp'))).toBe('error');
    expect(responseToken(encodeMessage({ questions: [{ name: 'www.example.org', type: 'A' }] }))).toBeUndefined();
    expect(responseToken(Buffer.from([1, 2, 3]))).toBeUndefined();
  });
});

describe('slip responses', () => {
  it('keeps header and question, sets TC, drops the records and keeps the OPT', () => {
    const full = rendered('www.example.org', 'A', true);
    const slip = slipResponse(full)!;
    const m = parseMessage(slip);
    const orig = parseMessage(full);
    expect(orig.answer.length).toBe(2);
    expect(m.id).toBe(orig.id);
    expect(m.flags).toMatchObject({ qr: true, tc: true, aa: false });
    expect(m.rcodeName).toBe('NOERROR');
    expect(m.question).toEqual(orig.question);
    expect([m.answer, m.authority, m.additional]).toEqual([[], [], []]);
    expect(m.edns).toEqual(orig.edns);
  });

  it('works without EDNS, on NXDOMAIN, and from the query itself', () => {
    const nx = slipResponse(rendered('nothing.example.org', 'A'))!;
    expect(parseMessage(nx)).toMatchObject({ rcodeName: 'NOERROR', flags: { tc: true, qr: true }, authority: [], edns: null });
    const fromQuery = parseMessage(slipResponse(encodeMessage({ id: 9, rd: true, questions: [{ name: 'www.example.org', type: 'A' }] }))!);
    expect(fromQuery).toMatchObject({ id: 9, flags: { qr: true, tc: true, rd: true }, answer: [] });
    expect(slipResponse(Buffer.alloc(5))).toBeUndefined();
  });
});

/** Sends `n` queries from `source` to 127.0.0.1:port as fast as it can; counts full answers and TC=1 slips. */
async function flood(port: number, source: string, n: number): Promise<{ full: number; slipped: number; seconds: number }> {
  const t0 = Date.now();
  const c = dgram.createSocket('udp4');
  await new Promise<void>((r) => c.bind(0, source, () => r()));
  const got = { full: 0, slipped: 0 };
  c.on('message', (m) => { if (parseMessage(m).flags.tc) got.slipped++; else got.full++; });
  const q = encodeMessage({ id: 1, questions: [{ name: 'www.example.org', type: 'A' }] });
  for (let i = 0; i < n; i++) {
    c.send(q, port, '127.0.0.1');
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 300));
  c.close();
  return { ...got, seconds: (Date.now() - t0) / 1000 };
}

describe('RRL on real UDP sockets (the handler + limit(), as serve wires it)', () => {
  let sock: dgram.Socket;
  let port: number;
  const rrl = new RateLimiter({ responses_per_second: 20, exempt: [] });
  const metrics = dnsMetrics(new Registry());

  beforeAll(async () => {
    sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const out = handleMessage({ zones: () => zones, metrics }, msg, 'udp');
      if (out.kind !== 'reply') return;
      const bytes = rrl.limit(rinfo.address, out.bytes);
      if (bytes) sock.send(bytes, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    port = sock.address().port;
  });
  afterAll(() => sock.close());

  it('limits a flood from 127.0.0.2 while 127.0.1.2 (another /24) is answered in full', async () => {
    const flooded = await flood(port, '127.0.0.2', 2000);
    const other = await flood(port, '127.0.1.2', 15);
    // Sent within well under a second: the burst of 20, then slips (about half of the rest) and drops.
    expect(flooded.full).toBeGreaterThanOrEqual(20);
    expect(flooded.full).toBeLessThanOrEqual(20 * (flooded.seconds + 1) + 20);
    expect(flooded.slipped).toBeGreaterThan(100);
    expect({ full: other.full, slipped: other.slipped }).toEqual({ full: 15, slipped: 0 });
  });
});

describe('roamdns serve with dns.rrl', () => {
  let dir: string;
  let serve: Awaited<ReturnType<typeof startServeWithDns>>;

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-rrl');
    await writeFile(path.join(dir, 'example.org.zone'), ZONE);
    // Loopback is exempt by default; the test takes the exemption away to flood from 127.0.0.2.
    serve = await startServeWithDns({ zoneFiles: [path.join(dir, 'example.org.zone')], readyZone: 'example.org.',
      dns: ['workers: 1', 'rrl: { responses_per_second: 20, slip: 2, exempt: [] }'] });
  }, 60_000);
  afterAll(async () => { await serve?.stop(); await rm(dir, { recursive: true, force: true }); });

  it('limits a flood from one source while a second source is answered normally', async () => {
    const flooded = await flood(serve.port, '127.0.0.2', 2000);
    const other = await flood(serve.port, '127.0.1.2', 15);
    console.log(`RRL (serve, 20/s, slip 2): 2000 queries from 127.0.0.2 in ${flooded.seconds.toFixed(2)} s → ${flooded.full} full answers, ${flooded.slipped} TC=1 slips, ${2000 - flooded.full - flooded.slipped} dropped; 127.0.1.2: ${other.full}/15 full answers`);
    // 20/s plus the initial bucket, however long a loaded machine took to send the flood.
    expect(flooded.full).toBeLessThanOrEqual(20 * (flooded.seconds + 1) + 20);
    expect(flooded.slipped).toBeGreaterThan(100);
    expect({ full: other.full, slipped: other.slipped }).toEqual({ full: 15, slipped: 0 });
  });
});
