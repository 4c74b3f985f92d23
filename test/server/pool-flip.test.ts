// Issue 5: "a health flip every 100 ms under full load loses no query". dnsperf saturates an
// in-process DNS server (one A name in three is the health-managed www) while the health
// overlay flips every 100 ms between "all three VIPs served" and "one withdrawn"; a checker asks
// www A throughout. Nothing may be lost, nothing may fail, and every www answer must be right
// for one of the two states (all three with the zone's TTL, or the two served with the degraded
// TTL), and both states must be seen: answers follow each flip.
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AnswerCache } from '../../server/answer-cache.js';
import { AddressList } from '../../server/axfr.js';
import { startDnsServer, type DnsServer } from '../../server/dns-server.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { buildOverlay, type AnswerOverlay } from '../../server/pool-overlay.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { encodeMessage, makeTempDir, parseMessage } from '../helpers/roamdns.js';

const VIPS = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
const WITHDRAWN = VIPS[0]!;
const ZONE = ['$ORIGIN example.org.', '$TTL 300', '@ SOA ns1 h 1 1 1 1 60', '@ NS ns1', 'ns1 A 198.51.100.53',
  ...VIPS.map((v) => `www A ${v}`), ...Array.from({ length: 50 }, (_, i) => `h${i} A 198.51.100.${100 + i}`), ''].join('\n');
const SECONDS = 4;
const FLIP_MS = 100;

function dnsperfPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v dnsperf'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('dnsperf is not installed: apt-get install dnsperf (test/run.sh installs it)');
  }
}

describe('a health flip every 100 ms under full load', () => {
  let server: DnsServer;
  let dir: string;
  let overlay: AnswerOverlay;
  let up: AnswerOverlay;
  let down: AnswerOverlay;
  const metrics = dnsMetrics(new Registry());

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-flip');
    const parsed = parseZoneText(ZONE, { file: 'example.org.zone', origin: 'example.org.' });
    const zones = new ZoneSet(new Map([['example.org.', buildZone('example.org.', parsed.records)]]));
    const policy = [{ key: 'www.example.org.', name: 'www.example.org', whenAllDown: 'all' as const, degradedTtlSeconds: 5, maxAnswers: 8 }];
    up = buildOverlay(zones, policy, () => true);
    down = buildOverlay(zones, policy, (_pool, vip) => vip !== WITHDRAWN, up);
    overlay = up;
    server = await startDnsServer({ zones: () => zones, overlay: () => overlay, metrics, cache: new AnswerCache(metrics) }, {
      listen: [{ host: '127.0.0.1', port: 0 }], transferAllow: new AddressList([]), tcpIdleTimeoutMs: 1000, tcpMaxConnections: 100,
      log: { warn() {}, info() {} },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  test('no query lost or failed, every www answer right for the state it was given in', async () => {
    const dnsperf = dnsperfPath();
    const port = server.addresses[0]!.port;
    const queries = path.join(dir, 'queries.txt');
    // One A query in three is www (the pool); the rest are other names of the zone.
    writeFileSync(queries, Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? 'www.example.org A' : `h${i % 50}.example.org A`)).join('\n') + '\n');
    let flips = 0;
    const flipper = setInterval(() => { overlay = overlay === up ? down : up; flips++; }, FLIP_MS);
    // The checker: www A every 2 ms on its own socket, each answer judged against both states.
    const sock = dgram.createSocket('udp4');
    const pending = new Map<number, number>();
    const verdicts = { answers: 0, allUp: 0, degraded: 0, wrong: [] as string[], unanswered: 0 };
    sock.on('message', (buf) => {
      const m = parseMessage(buf);
      if (!pending.delete(m.id)) return;
      verdicts.answers++;
      const got = m.answer.map((a) => a.rdata).sort();
      const ttls = new Set(m.answer.map((a) => a.ttl));
      if (m.rcode === 0 && got.join() === VIPS.join() && ttls.size === 1 && ttls.has(300)) verdicts.allUp++;
      else if (m.rcode === 0 && got.join() === VIPS.slice(1).join() && ttls.size === 1 && ttls.has(5)) verdicts.degraded++;
      else verdicts.wrong.push(`${m.rcodeName} ${got.join(',')} ttl ${[...ttls].join(',')}`);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let id = 0;
    const checker = setInterval(() => {
      const now = Date.now();
      for (const [k, sent] of pending) if (now - sent > 2000) { pending.delete(k); verdicts.unanswered++; }
      id = (id + 1) & 0xffff;
      pending.set(id, now);
      sock.send(encodeMessage({ id, questions: [{ name: 'www.example.org.', type: 'A' }] }), port, '127.0.0.1');
    }, 2);
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(dnsperf, ['-s', '127.0.0.1', '-p', String(port), '-d', queries, '-l', String(SECONDS), '-c', '2', '-q', '50', '-t', '2']);
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.stderr.on('data', (d) => (text += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`dnsperf exited ${code}:\n${text}`))));
    });
    clearInterval(checker);
    clearInterval(flipper);
    await new Promise((r) => setTimeout(r, 300)); // the last answers of the checker
    verdicts.unanswered += pending.size;
    sock.close();
    const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1]);
    const sent = num('Queries sent'), completed = num('Queries completed'), lost = num('Queries lost');
    const noerror = Number(/NOERROR (\d+)/.exec(out)?.[1]);
    const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
    console.log(`pool flips: ${flips} flips in ${SECONDS} s under dnsperf ${Math.round(qps)} q/s: sent ${sent}, completed ${completed}, lost ${lost}, NOERROR ${noerror}; ` +
      `checker: ${verdicts.answers} answers (${verdicts.allUp} all up, ${verdicts.degraded} degraded), ${verdicts.wrong.length} wrong, ${verdicts.unanswered} unanswered`);
    expect(flips).toBeGreaterThanOrEqual((SECONDS * 1000) / FLIP_MS / 2);
    expect(sent).toBeGreaterThan(10_000);
    expect(lost, out).toBe(0);
    expect(completed).toBe(sent);
    expect(noerror).toBe(completed);
    expect(verdicts.wrong).toEqual([]);
    expect(verdicts.unanswered).toBe(0);
    expect(verdicts.allUp).toBeGreaterThan(10);
    expect(verdicts.degraded).toBeGreaterThan(10);
  }, 30_000);
});
