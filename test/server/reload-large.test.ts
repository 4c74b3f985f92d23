// A reload of a large zone under load (issue 5): the file is parsed in a worker thread and the new
// zone built in slices of a few ms, so `serve` keeps answering from the old zone the whole time.
// A client sends queries at a steady rate through the reload and measures every answer's latency:
// none may be lost, none may take long (the event loop never stalls), and the new zone must be
// served after it. The zone has 200,000 records so the test stays short; bench/dns reloads the
// 1,000,000-record zone the same way.
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeMessage, makeTempDir, parseMessage, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';
import { packRecords, RecordReader } from '../../server/zone-pack.js';
import { buildZone, zoneRecords } from '../../server/zone.js';

const ORIGIN = 'large.test.';
const HOSTS = 200_000;
const RATE = 1000; // queries per second during the reload

function zoneText(serial: number): string {
  const lines = [`$ORIGIN ${ORIGIN}`, '$TTL 60', `@ SOA ns1 hostmaster ${serial} 3600 600 86400 60`, '@ NS ns1', 'ns1 A 198.51.100.53',
    `marker TXT "v${serial}"`];
  for (let i = 0; i < HOSTS; i++) lines.push(`h${i} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return lines.join('\n') + '\n';
}

describe('packed records', () => {
  test('round-trip: owner, type, TTL, RDATA (class IN; file and line are not kept)', () => {
    const recs = [
      { owner: 'a.example.', type: 1, klass: 1, ttlSeconds: 60, rdata: Buffer.from([192, 0, 2, 1]) },
      { owner: 'a.example.', type: 28, klass: 1, ttlSeconds: 60, rdata: Buffer.alloc(16, 1) },
      { owner: 'ü.example.', type: 16, klass: 1, ttlSeconds: 0x7fffffff, rdata: Buffer.alloc(300, 7) },
      { owner: 'b.example.', type: 65534, klass: 1, ttlSeconds: 0, rdata: Buffer.alloc(0) },
      { owner: 'a.example.', type: 1, klass: 1, ttlSeconds: 60, rdata: Buffer.from([192, 0, 2, 2]) },
    ];
    const p = packRecords(recs.map((r, i) => ({ ...r, file: 'x.zone', line: i + 1 })));
    expect(p.count).toBe(5);
    const r = new RecordReader(p);
    const out = [];
    for (let x = r.next(); x; x = r.next()) out.push(x);
    expect(out).toEqual(recs);
    expect(out[1]!.owner).toBe(out[0]!.owner);
    expect(r.done).toBe(true);
  });

  test('a zone keeps its records packed: AXFR order, duplicates and out-of-zone records dropped', () => {
    const a = (owner: string, last: number, ttl = 60) => ({ owner, type: 1, klass: 1, ttlSeconds: ttl, rdata: Buffer.from([192, 0, 2, last]) });
    const soa = { owner: 'example.', type: 6, klass: 1, ttlSeconds: 60, rdata: Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20)]) };
    const zone = buildZone('example.', [soa, a('x.example.', 1), a('other.', 9), a('x.example.', 1, 30), a('y.z.example.', 2)]);
    expect([...zoneRecords(zone)].map((r) => `${r.owner} ${r.rdata[3] ?? ''}`)).toEqual(['example. 0', 'x.example. 1', 'y.z.example. 2']);
    expect(zone.recordCount).toBe(3);
    expect(zone.nodes.get('z.example.')!.size).toBe(0); // the empty non-terminal
    expect(zone.nodes.get('x.example.')!.get(1)!.rdatas.length).toBe(1);
    const same = buildZone('example.', [soa, a('x.example.', 1), a('y.z.example.', 2)]);
    expect(same.packed.buf.equals(zone.packed.buf)).toBe(true);
  });
});

describe('reload of a 200,000-record zone under load', () => {
  let dir: string;
  let roam: RoamdnsServer;

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-large');
    await writeFile(path.join(dir, 'large.test.zone'), zoneText(1));
    roam = await startRoamdns({ zones: dir, readyZone: ORIGIN });
  }, 60_000);
  afterAll(async () => { await roam?.stop(); });

  test('no query lost or slow while the zone reloads; the new version is served after', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const sent = new Map<number, number>(); // id -> send time
    const latencies: number[] = [];
    let markerSeen = '';
    sock.on('message', (m) => {
      const r = parseMessage(m);
      const t = sent.get(r.id);
      if (t === undefined) return;
      sent.delete(r.id);
      latencies.push(performance.now() - t);
      const txt = r.answer.find((a) => a.type === 'TXT')?.rdata;
      if (txt) markerSeen = txt;
    });
    let id = 0;
    const ask = () => {
      id = (id + 1) & 0xffff;
      const qname = id % 2 ? 'marker.large.test' : `h${(id * 7919) % HOSTS}.large.test`;
      sent.set(id, performance.now());
      sock.send(encodeMessage({ id, questions: [{ name: qname, type: id % 2 ? 'TXT' : 'A' }] }), roam.port, '127.0.0.1');
    };
    const timer = setInterval(ask, 1000 / RATE);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(markerSeen).toBe('"v1"');
      await writeFile(path.join(dir, 'large.test.zone'), zoneText(2));
      const t0 = performance.now();
      roam.proc.child.kill('SIGHUP');
      const deadline = Date.now() + 60_000;
      while (markerSeen !== '"v2"' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const reloadMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 300)); // the last answers
      const sorted = [...latencies].sort((a, b) => a - b);
      const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      console.log(`reload of ${HOSTS + 6} records under ${RATE} q/s: new zone served after ${reloadMs.toFixed(0)} ms; ` +
        `${latencies.length} answered, ${sent.size} unanswered; latency p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`);
      expect(markerSeen).toBe('"v2"');
      expect(sent.size, 'queries without an answer').toBe(0);
      expect(latencies.length).toBeGreaterThan((reloadMs / 1000) * RATE * 0.5);
      // The slices hold the loop ~5 ms (31–36 ms max measured alone); a CI machine running other
      // test files at the same time adds scheduling and GC delays (255 ms seen).
      expect(sorted.at(-1)!, 'slowest answer during the reload (ms)').toBeLessThan(1000); // without the worker: a 7.5 s stall
    } finally {
      clearInterval(timer);
      sock.close();
    }
  }, 90_000);
});
