// Hardening: the packet fuzz extended to TCP framing. Each attack runs against a real DNS server
// (startDnsServer, in process, as tcp.test.ts does) on 127.0.0.1 while a well-behaved client keeps
// asking www.example.org. A over UDP, over one long-lived TCP connection and (where the connection
// cap allows) over a fresh TCP connection per query. Every good query must be answered correctly,
// none slower than GOOD_MAX_LATENCY_MS, and the server's counters must account for every attacker
// it closed:
//   1. partial length prefixes: 1 octet of the 2-octet prefix, or a 65535 prefix and part of the
//      message, then silence -> closed after tcp_idle_timeout (read-timeout);
//   2. slowloris: a valid query trickled one octet every 200 ms -> closed tcp_idle_timeout after
//      its first octet, before the query is complete (read-timeout); silent clients -> idle-timeout;
//   3. 64 KiB messages: garbage, a query padded to 65535 octets (RFC 7830), a query followed by
//      junk, a response (QR=1), a zero-length message, all pipelined, and a 64 KiB query in tiny
//      writes -> answered (NOERROR / FORMERR) or dropped as RFC 1035 says, the connection kept
//      (against a 3 s idle timeout: a message must arrive whole within it);
//   4. thousands of idle connections against the default cap (dns.tcp_max_connections) -> those
//      over the cap closed at once (too-many-connections), the rest after the idle timeout;
//   5. clients that pipeline queries and never read -> cut off past 256 KiB unread (slow-reader).
// The figures of each attack are printed (console.log) for the hardening report.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../cli/config.js';
import { AnswerCache } from '../../server/answer-cache.js';
import { AddressList } from '../../server/axfr.js';
import { startDnsServer, type DnsServer } from '../../server/dns-server.js';
import { dnsMetrics, Registry, type DnsMetrics } from '../../server/metrics.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { encodeMessage, parseMessage, query, type DnsResponse } from '../helpers/roamdns.js';

const HOST = '127.0.0.1';
const WWW = 'www.example.org.';
const WWW_IP = '198.51.100.1';
const IDLE_MS = 1000; // dns.tcp_idle_timeout of the server under attacks 1, 2 and 5
const LONG_IDLE_MS = 3000; // of the server under attacks 3 (a 64 KiB query in tiny writes takes a while) and 4 (so does opening thousands of connections)
const GOOD_INTERVAL_MS = 25;
const GOOD_MAX_LATENCY_MS = 500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();

// The shipped defaults (an empty config file): the connection cap attack 4 runs against.
const DEFAULTS = parseConfig('', 'roamdns.yaml').dns;
const CAP = DEFAULTS.tcp_max_connections;
/** Soft RLIMIT_NOFILE: each flood connection costs a descriptor here, and one more server side while accepted. */
const NOFILE = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
const FLOOD = Math.max(0, Math.min(3000, NOFILE - CAP - 500));

const BIG_TXT = Array.from({ length: 40 }, (_, i) => `big TXT "${String(i).padStart(2, '0')}${'x'.repeat(58)}"`);
const ZONE = ['$ORIGIN example.org.', '$TTL 60', '@ SOA ns1 h 1 1 1 1 1', '@ NS ns1', 'ns1 A 198.51.100.53', `www A ${WWW_IP}`, ...BIG_TXT, ''].join('\n');
const silent = { warn() {}, info() {} };

interface Instance { server: DnsServer; port: number; metrics: DnsMetrics }
async function startInstance(idleMs: number): Promise<Instance> {
  const p = parseZoneText(ZONE, { file: 'example.org.zone', origin: 'example.org.' });
  const set = new ZoneSet(new Map([['example.org.', buildZone('example.org.', p.records)]]));
  const metrics = dnsMetrics(new Registry());
  // Port 0: the server itself picks again when the kernel's UDP port is taken for TCP.
  const server = await startDnsServer({ zones: () => set, metrics, cache: new AnswerCache(metrics) }, {
    listen: [{ host: HOST, port: 0 }], transferAllow: new AddressList([]), tcpIdleTimeoutMs: idleMs, tcpMaxConnections: CAP, log: silent,
  });
  return { server, port: server.addresses[0]!.port, metrics };
}

let main: Instance | undefined;
let longIdle: Instance | undefined;
/** Every socket this file opens, destroyed in afterAll whatever happened. */
const live = new Set<net.Socket>();
const figures: Record<string, unknown>[] = [];
/** Good clients still running (a failed assertion skipped their stop()). */
const runningGood = new Set<() => Promise<unknown>>();

beforeAll(async () => {
  main = await startInstance(IDLE_MS);
  longIdle = await startInstance(LONG_IDLE_MS);
});
afterEach(async () => {
  await Promise.all([...runningGood].map((stop) => stop()));
  for (const s of live) s.destroy();
});
afterAll(async () => {
  for (const s of live) s.destroy();
  await Promise.all([main?.server.close(), longIdle?.server.close()]);
  console.log(`tcp-abuse summary:\n${figures.map((f) => '  ' + JSON.stringify(f)).join('\n')}`);
});

// ---- wire helpers ------------------------------------------------------------------------------

const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const frame = (m: Buffer): Buffer => Buffer.concat([u16(m.length), m]);
const wwwQuery = (id: number): Buffer => encodeMessage({ id, questions: [{ name: WWW, type: 'A' }] });

/** A www A query carrying an EDNS Padding option (RFC 7830) that makes it exactly 65535 octets: valid. */
function paddedQuery(id: number): Buffer {
  const base = encodeMessage({ id, edns: true, questions: [{ name: WWW, type: 'A' }] });
  const n = 65535 - base.length - 4;
  const m = Buffer.concat([base, u16(12), u16(n), Buffer.alloc(n)]);
  m.writeUInt16BE(4 + n, base.length - 2); // the OPT RDLENGTH
  return m;
}
/** A www A query followed by junk up to 65535 octets: FORMERR (RFC 1035 §4.1: nothing may follow the sections). */
function junkQuery(id: number): Buffer {
  const q = wwwQuery(id);
  return Buffer.concat([q, Buffer.alloc(65535 - q.length, 0xc0)]);
}
/** 65535 pseudo-random octets behind a query header (QR=0, one question): FORMERR. */
function garbage(id: number, seed: number, qr = false): Buffer {
  const m = Buffer.allocUnsafe(65535);
  let s = seed >>> 0;
  for (let i = 0; i < m.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; m[i] = s >>> 24; }
  m.writeUInt16BE(id, 0);
  m.writeUInt16BE(qr ? 0x8000 : 0, 2);
  m.writeUInt16BE(1, 4);
  m.fill(0, 6, 12);
  return m;
}

// ---- the well-behaved client -------------------------------------------------------------------

/** A TCP connection with answers matched to queries by ID. */
class Pipe {
  private buf: Buffer = Buffer.alloc(0);
  private waiting = new Map<number, { resolve(m: Buffer): void; reject(e: Error): void }>();
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        const m = this.buf.subarray(2, 2 + this.buf.readUInt16BE(0));
        this.buf = this.buf.subarray(2 + m.length);
        const w = this.waiting.get(m.readUInt16BE(0));
        this.waiting.delete(m.readUInt16BE(0));
        w?.resolve(m);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      live.delete(sock);
      for (const w of this.waiting.values()) w.reject(new Error('the server closed the connection'));
      this.waiting.clear();
    });
  }

  static open(port: number): Promise<Pipe> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: HOST, port, localAddress: HOST });
      live.add(s);
      s.once('connect', () => resolve(new Pipe(s)));
      s.once('error', reject);
    });
  }

  /** Resolves with the answer carrying `id` (the query is written by the caller). */
  awaitAnswer(id: number, timeoutMs = 2000): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('the server closed the connection'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`no answer to ID ${id} within ${timeoutMs} ms`)); }, timeoutMs);
      this.waiting.set(id, { resolve: (m) => { clearTimeout(t); resolve(m); }, reject: (e) => { clearTimeout(t); reject(e); } });
    });
  }

  ask(msg: Buffer, timeoutMs = 2000): Promise<Buffer> {
    const answer = this.awaitAnswer(msg.readUInt16BE(0), timeoutMs);
    if (!this.closed) this.sock.write(frame(msg));
    return answer;
  }

  close(): void { this.sock.destroy(); }
}

interface GoodReport { udp: number; tcp: number; fresh: number; failures: string[]; maxMs: number; p50Ms: number; p99Ms: number }

/**
 * Queries www A every GOOD_INTERVAL_MS over UDP, over one kept TCP connection and (with `fresh`)
 * over a new TCP connection each time, until stopped (at most 30 s). Checks every answer.
 */
async function startGood(port: number, fresh: boolean): Promise<{ stop(): Promise<GoodReport> }> {
  const pipe = await Pipe.open(port);
  const latencies: number[] = [];
  const counts = { udp: 0, tcp: 0, fresh: 0 };
  const failures: string[] = [];
  let nextId = 1;
  let stopped = false;
  const check = (r: DnsResponse): string | null =>
    r.rcodeName !== 'NOERROR' ? `rcode ${r.rcodeName}` : r.answer.map((a) => a.rdata).join() !== WWW_IP ? `answer ${JSON.stringify(r.answer)}` : null;
  const one = async (kind: keyof typeof counts, ask: () => Promise<DnsResponse>): Promise<void> => {
    const t0 = now();
    try {
      const problem = check(await ask());
      latencies.push(now() - t0);
      if (problem) failures.push(`${kind}: ${problem}`); else counts[kind]++;
    } catch (e) {
      failures.push(`${kind}: ${(e as Error).message} after ${Math.round(now() - t0)} ms`);
    }
  };
  let rounds = 0;
  const loop = (async () => {
    for (let i = 0; i < 30_000 / GOOD_INTERVAL_MS && !stopped; i++, rounds++) {
      const id = nextId++ & 0xffff;
      await Promise.all([
        one('udp', () => query(port, WWW, 'A', { timeoutMs: 2000 })),
        one('tcp', async () => {
          const r = parseMessage(await pipe.ask(wwwQuery(id)));
          if (r.id !== id) throw new Error(`answer ID ${r.id} to query ID ${id}`);
          return r;
        }),
        ...(fresh ? [one('fresh', () => query(port, WWW, 'A', { transport: 'tcp', timeoutMs: 2000 }))] : []),
      ]);
      await sleep(GOOD_INTERVAL_MS);
    }
  })();
  const stop = async (): Promise<GoodReport> => {
    runningGood.delete(stop);
    // An attack that is over quickly (a fast machine) still gets at least 10 good rounds measured.
    for (const t0 = now(); rounds < 10 && now() - t0 < 5000; ) await sleep(GOOD_INTERVAL_MS);
    stopped = true;
    await loop;
    pipe.close();
    const sorted = [...latencies].sort((a, b) => a - b);
    const pct = (p: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 10) / 10;
    return { ...counts, failures, maxMs: pct(1), p50Ms: pct(0.5), p99Ms: pct(0.99) };
  };
  runningGood.add(stop);
  return { stop };
}

/** Every good query answered correctly, none slower than the bound; a few rounds at least. */
function expectGood(r: GoodReport, fresh: boolean): void {
  expect(r.failures.slice(0, 10)).toEqual([]);
  expect(r.udp).toBeGreaterThanOrEqual(10);
  expect(r.tcp).toBeGreaterThanOrEqual(10);
  if (fresh) expect(r.fresh).toBeGreaterThanOrEqual(10);
  expect(r.maxMs).toBeLessThan(GOOD_MAX_LATENCY_MS);
}

// ---- attackers ---------------------------------------------------------------------------------

interface Attacker { sock: net.Socket; openedAt: number; closedAt: number | null; received: number; closed: Promise<void> }

/** A raw connection; with `read: false` it never reads (its receive window fills). */
function attacker(port: number, read = true): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port, localAddress: HOST });
    live.add(sock);
    const a: Attacker = { sock, openedAt: 0, closedAt: null, received: 0, closed: Promise.resolve() };
    a.closed = new Promise((r) => sock.once('close', () => { a.closedAt = now(); live.delete(sock); r(); }));
    sock.setNoDelay(true);
    if (read) sock.on('data', (d: Buffer) => { a.received += d.length; });
    else sock.pause();
    sock.on('error', () => {});
    sock.once('connect', () => { a.openedAt = now(); resolve(a); });
    sock.once('close', () => reject(new Error('connection failed')));
  });
}

/**
 * Opens `n` connections, `batch` at a time. With `served`, each batch waits until the server has
 * taken (accepted or refused) every connection so far: Node accepts one connection per turn of the
 * event loop, and a client in the same process racing ahead of it overflows the listen backlog,
 * which costs 1 s SYN retransmissions and measures the kernel rather than the server.
 */
async function openMany(port: number, n: number, batch = 100, served?: () => number): Promise<Attacker[]> {
  const out: Attacker[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => attacker(port))));
    const until = now() + 2000;
    while (served && served() < out.length && now() < until) await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** Waits until every attacker is closed or `ms` passes; returns how many are still open. */
async function allClosed(as: Attacker[], ms: number): Promise<number> {
  await Promise.race([Promise.all(as.map((a) => a.closed)), sleep(ms)]);
  return as.filter((a) => a.closedAt === null).length;
}

const rejected = (m: DnsMetrics): Record<string, number> => Object.fromEntries(
  ['idle-timeout', 'read-timeout', 'slow-reader', 'too-many-connections'].map((r) => [r, m.tcpRejected.get({ reason: r })]));
const delta = (after: Record<string, number>, before: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
const range = (xs: number[]): [number, number] => [Math.round(Math.min(...xs)), Math.round(Math.max(...xs))];

function report(attack: string, fig: Record<string, unknown>): void {
  const line = { attack, ...fig };
  figures.push(line);
  console.log(`tcp-abuse ${attack}: ${JSON.stringify(fig)}`);
}

// ---- the attacks -------------------------------------------------------------------------------

describe('DNS over TCP under abuse: other clients are still answered', () => {
  test('1. partial length prefixes (1 of 2 octets; 65535 announced, part sent) are closed after tcp_idle_timeout', async () => {
    const { port, metrics } = main!;
    const before = rejected(metrics);
    const good = await startGood(port, true);
    await sleep(200);
    const wroteAt = new Map<Attacker, number>();
    const half = await openMany(port, 200);
    for (const a of half) { a.sock.write(Buffer.from([0])); wroteAt.set(a, now()); }
    const sizes = [1, 1000, 30_000, 65_534];
    const partial = await openMany(port, 100);
    partial.forEach((a, i) => { a.sock.write(Buffer.concat([u16(65535), Buffer.alloc(sizes[i % sizes.length]!, 0x41)])); wroteAt.set(a, now()); });
    const stillOpen = await allClosed([...half, ...partial], IDLE_MS + 3000);
    await sleep(200);
    const g = await good.stop();
    const d = delta(rejected(metrics), before);
    const lifetimes = [...half, ...partial].map((a) => (a.closedAt ?? Infinity) - wroteAt.get(a)!);
    report('partial-prefix', { opened: half.length + partial.length, cutOff: d, stillOpen, closedAfterMs: range(lifetimes), good: g });
    expect(stillOpen).toBe(0);
    expect([...half, ...partial].every((a) => a.received === 0)).toBe(true);
    // Closed once the timeout ran out (timers never fire early; allow 50 ms of clock rounding), not much later.
    expect(Math.min(...lifetimes)).toBeGreaterThan(IDLE_MS - 50);
    expect(Math.max(...lifetimes)).toBeLessThan(IDLE_MS + 1500);
    expect(d).toEqual({ 'idle-timeout': 0, 'read-timeout': 300, 'slow-reader': 0, 'too-many-connections': 0 });
    expectGood(g, true);
  }, 15_000);

  test('2. slowloris: a query trickled one octet per 200 ms is cut off before it is complete; silent clients after the idle timeout', async () => {
    const { port, metrics } = main!;
    const before = rejected(metrics);
    const good = await startGood(port, true);
    const tricklers = await openMany(port, 50);
    const silentOnes = await openMany(port, 50);
    const msg = frame(wwwQuery(4242)); // 35 octets: 7 s at 200 ms an octet
    const sentBytes = new Map<Attacker, number>();
    const firstByteAt = new Map<Attacker, number>();
    await Promise.all(tricklers.map(async (a, i) => {
      await sleep(i * 4); // spread the trickles over the 200 ms tick
      firstByteAt.set(a, now());
      for (let o = 0; o < msg.length && a.closedAt === null; o++) {
        a.sock.write(msg.subarray(o, o + 1));
        sentBytes.set(a, o + 1);
        await sleep(200);
      }
    }));
    const stillOpen = await allClosed([...tricklers, ...silentOnes], LONG_IDLE_MS);
    const g = await good.stop();
    const d = delta(rejected(metrics), before);
    const trickleLife = tricklers.map((a) => (a.closedAt ?? Infinity) - firstByteAt.get(a)!);
    const silentLife = silentOnes.map((a) => (a.closedAt ?? Infinity) - a.openedAt);
    const octets = tricklers.map((a) => sentBytes.get(a)!);
    report('slowloris', {
      opened: tricklers.length + silentOnes.length, cutOff: d, stillOpen, trickleClosedAfterMs: range(trickleLife),
      octetsSentOfQuery: [Math.min(...octets), Math.max(...octets), msg.length], silentClosedAfterMs: range(silentLife), good: g,
    });
    expect(stillOpen).toBe(0);
    expect(tricklers.every((a) => a.received === 0)).toBe(true); // no trickled query was ever completed
    expect(Math.max(...octets)).toBeLessThan(msg.length);
    expect(Math.min(...trickleLife)).toBeGreaterThan(IDLE_MS - 50);
    expect(Math.max(...trickleLife)).toBeLessThan(IDLE_MS + 1000);
    expect(Math.min(...silentLife)).toBeGreaterThan(IDLE_MS - 50);
    expect(Math.max(...silentLife)).toBeLessThan(IDLE_MS + 1000);
    expect(d).toEqual({ 'idle-timeout': 50, 'read-timeout': 50, 'slow-reader': 0, 'too-many-connections': 0 });
    expectGood(g, true);
  }, 15_000);

  test('3. 64 KiB messages pipelined back to back, a 64 KiB query in tiny writes and a zero length are answered or dropped; nothing stalls', async () => {
    const { port, metrics } = longIdle!;
    const before = rejected(metrics);
    const m0 = {
      malformed: metrics.malformed.get({ reason: 'malformed' }),
      shortHeader: metrics.dropped.get({ reason: 'short-header' }),
      response: metrics.dropped.get({ reason: 'response-received' }),
    };
    const good = await startGood(port, true);
    const PIPELINED = 4, SPLIT = 4, CHUNK = 64;
    // Per connection, in one write: garbage, a padded query, a query + junk, a zero-length message,
    // a 64 KiB response (QR=1), a plain query. The answers must come in order (RFC 7766 allows any
    // order; this server answers in order), and nothing for the zero-length message or the response.
    const piped = await Promise.all(Array.from({ length: PIPELINED }, () => Pipe.open(port)));
    const t0 = now();
    const pipelined = piped.map(async (p, c) => {
      const answers: DnsResponse[] = [];
      const ids = [1, 2, 3, 5].map((x) => c * 16 + x);
      const waits = ids.map((id) => p.awaitAnswer(id, 5000).then((m) => { answers.push(parseMessage(m)); }));
      p.sock.write(Buffer.concat([
        frame(garbage(ids[0]!, 7 + c)), frame(paddedQuery(ids[1]!)), frame(junkQuery(ids[2]!)), frame(Buffer.alloc(0)),
        frame(garbage(0xbeef, 99 + c, true)), frame(wwwQuery(ids[3]!)),
      ]));
      await Promise.all(waits);
      const ms = now() - t0;
      // The framing was fine: the connection stays and answers the next query.
      const next = parseMessage(await p.ask(wwwQuery(c * 16 + 6)));
      p.close();
      return { answers, ms, next };
    });
    // The same padded query in CHUNK-octet writes (1025 of them), each in its own turn of the event loop.
    const split = Array.from({ length: SPLIT }, async (_, c) => {
      const p = await Pipe.open(port);
      const id = 0x7000 + c;
      const f = frame(paddedQuery(id));
      const answer = p.awaitAnswer(id, 5000);
      answer.catch(() => {}); // awaited below; the server closing early must fail the test there
      const w0 = now();
      for (let o = 0; o < f.length && !p.closed; o += CHUNK) {
        p.sock.write(f.subarray(o, o + CHUNK));
        await new Promise((r) => setImmediate(r));
      }
      const writeMs = now() - w0;
      const r = parseMessage(await answer);
      p.close();
      return { r, writeMs };
    });
    const results = await Promise.all(pipelined);
    const splitResults = await Promise.all(split);
    const g = await good.stop();
    const d = delta(rejected(metrics), before);
    const counted = {
      malformed: metrics.malformed.get({ reason: 'malformed' }) - m0.malformed,
      shortHeader: metrics.dropped.get({ reason: 'short-header' }) - m0.shortHeader,
      response: metrics.dropped.get({ reason: 'response-received' }) - m0.response,
    };
    report('64KiB', {
      connections: PIPELINED + SPLIT, messages64k: PIPELINED * 4 + SPLIT, pipelinedAnsweredInMs: range(results.map((r) => r.ms)),
      splitWriteMs: range(splitResults.map((s) => s.writeMs)), rcodes: results[0]!.answers.map((a) => a.rcodeName), counted, cutOff: d, good: g,
    });
    for (const [c, r] of results.entries()) {
      expect(r.answers.map((a) => [a.id - c * 16, a.rcodeName])).toEqual([[1, 'FORMERR'], [2, 'NOERROR'], [3, 'FORMERR'], [5, 'NOERROR']]);
      expect(r.answers[1]!.answer.map((a) => a.rdata)).toEqual([WWW_IP]);
      expect(r.answers[3]!.answer.map((a) => a.rdata)).toEqual([WWW_IP]);
      expect([r.next.id - c * 16, r.next.rcodeName]).toEqual([6, 'NOERROR']);
    }
    for (const s of splitResults) {
      expect(s.r.rcodeName).toBe('NOERROR');
      expect(s.r.answer.map((a) => a.rdata)).toEqual([WWW_IP]);
    }
    // Per pipelined connection: garbage and junk counted malformed (FORMERR), the zero-length message
    // and the response dropped and counted (RFC 1035 §4.1.1: a response is never answered).
    expect(counted).toEqual({ malformed: 2 * PIPELINED, shortHeader: PIPELINED, response: PIPELINED });
    expect(d).toEqual({ 'idle-timeout': 0, 'read-timeout': 0, 'slow-reader': 0, 'too-many-connections': 0 });
    expectGood(g, true);
  }, 15_000);

  test(`4. ${FLOOD} idle connections against the default cap (${CAP}): those over it closed at once, the rest after the idle timeout, then none left`, async () => {
    expect(FLOOD).toBeGreaterThan(CAP); // else RLIMIT_NOFILE is too low for this test to mean anything
    const { port, metrics } = longIdle!;
    const before = rejected(metrics);
    const good = await startGood(port, false); // its kept TCP connection is one of the CAP
    const t0 = now();
    const tooMany0 = metrics.tcpRejected.get({ reason: 'too-many-connections' });
    const conns = await openMany(port, FLOOD, 100, () => metrics.tcpConnections.get() - 1 + metrics.tcpRejected.get({ reason: 'too-many-connections' }) - tooMany0);
    const openMs = now() - t0;
    // Everything over the cap is closed at once by the server.
    const refusedTarget = FLOOD - (CAP - 1);
    for (let i = 0; i < 100 && conns.filter((a) => a.closedAt !== null).length < refusedTarget; i++) await sleep(20);
    const refusedSet = new Set(conns.filter((a) => a.closedAt !== null));
    const refused = [...refusedSet];
    const open = metrics.tcpConnections.get();
    // A new TCP client now finds the cap full: closed at once and counted; UDP and kept connections are answered.
    const fresh = await query(port, WWW, 'A', { transport: 'tcp', timeoutMs: 2000 }).then(() => 'answered', (e: Error) => e.message);
    const afterRefusal = delta(rejected(metrics), before);
    const stillOpen = await allClosed(conns, LONG_IDLE_MS + 3000);
    const accepted = conns.filter((a) => !refusedSet.has(a));
    await sleep(100);
    const g = await good.stop();
    let left = -1;
    for (let i = 0; i < 50 && (left = metrics.tcpConnections.get()) !== 0; i++) await sleep(20);
    const again = await query(port, WWW, 'A', { transport: 'tcp', timeoutMs: 2000 });
    const d = delta(rejected(metrics), before);
    const refusedLife = refused.map((a) => a.closedAt! - a.openedAt);
    const acceptedLife = accepted.map((a) => (a.closedAt ?? Infinity) - a.openedAt);
    report('idle-flood', {
      opened: FLOOD, cap: CAP, openMs: Math.round(openMs), openAtPeak: open, refused: refused.length, refusedClosedAfterMs: range(refusedLife),
      freshTcpAtCap: fresh, acceptedClosedAfterMs: range(acceptedLife), stillOpen, cutOff: d, openAfter: left,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), good: g,
    });
    expect(openMs).toBeLessThan(LONG_IDLE_MS - 500); // else some accepted ones timed out before the flood was complete
    expect(open).toBe(CAP);
    expect(refused.length).toBe(refusedTarget);
    expect(Math.max(...refusedLife)).toBeLessThan(1000);
    expect(fresh).toMatch(/closed without an answer/);
    expect(afterRefusal['too-many-connections']).toBe(refusedTarget + 1);
    expect(stillOpen).toBe(0);
    expect(Math.min(...acceptedLife)).toBeGreaterThan(LONG_IDLE_MS - 50);
    expect(Math.max(...acceptedLife)).toBeLessThan(LONG_IDLE_MS + 2000);
    expect(accepted.every((a) => a.received === 0)).toBe(true);
    expect(d).toEqual({ 'idle-timeout': CAP - 1, 'read-timeout': 0, 'slow-reader': 0, 'too-many-connections': refusedTarget + 1 });
    expect(left).toBe(0);
    expect(again.answer.map((a) => a.rdata)).toEqual([WWW_IP]);
    expectGood(g, false);
  }, 25_000);

  test('5. clients that pipeline queries and never read are cut off as slow readers; others are unaffected', async () => {
    const { port, metrics } = main!;
    const before = rejected(metrics);
    const good = await startGood(port, true);
    const WAVES = 4, PER_WAVE = 3, BATCH = 100, MAX_QUERIES = 20_000;
    const big = frame(encodeMessage({ id: 1, questions: [{ name: 'big.example.org.', type: 'TXT' }] })); // a ~2.9 KB answer
    const readers: Attacker[] = [];
    const sent: number[] = [];
    const cutAfter: number[] = [];
    for (let w = 0; w < WAVES; w++) { // waves 300 ms apart, so the good client runs through more than one
      const wave = await Promise.all(Array.from({ length: PER_WAVE }, () => attacker(port, false)));
      readers.push(...wave);
      const t0 = now();
      sent.push(...await Promise.all(wave.map(async (a) => {
        let n = 0;
        const deadline = now() + 8000;
        while (a.closedAt === null && n < MAX_QUERIES && now() < deadline) {
          await Promise.race([new Promise((r) => a.sock.write(Buffer.concat(Array<Buffer>(BATCH).fill(big)), r)), sleep(500)]);
          n += BATCH;
          await sleep(2);
        }
        return n;
      })));
      await allClosed(wave, 2000);
      cutAfter.push(...wave.map((a) => (a.closedAt ?? Infinity) - t0));
      await sleep(300);
    }
    const stillOpen = await allClosed(readers, 2000);
    const g = await good.stop();
    const d = delta(rejected(metrics), before);
    report('never-reads', {
      opened: readers.length, queriesSentBeforeCut: [Math.min(...sent), Math.max(...sent)], cutAfterMs: range(cutAfter), stillOpen, cutOff: d, good: g,
    });
    expect(stillOpen).toBe(0);
    expect(Math.max(...sent)).toBeLessThan(MAX_QUERIES);
    expect(readers.every((a) => a.received === 0)).toBe(true); // they never read a single answer
    expect(d).toEqual({ 'idle-timeout': 0, 'read-timeout': 0, 'slow-reader': WAVES * PER_WAVE, 'too-many-connections': 0 });
    expectGood(g, true);
  }, 20_000);
});
