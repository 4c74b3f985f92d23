// dns.workers: 2 — DNS answered by two cluster workers sharing the sockets; reloads and health
// changes reach both; /metrics adds up both workers' counters.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { query, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-workers-'));
const zoneFile = path.join(dir, 'workers.test.zone');
const zone = (serial: number, txt: string) => `$ORIGIN workers.test.\n$TTL 60\n@ SOA ns1 h ${serial} 1 1 1 30\n@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.21.2\nwww A 127.0.21.3\nv TXT "${txt}"\n`;
let server: RoamdnsServer;
const targets: http.Server[] = [];

beforeAll(async () => {
  writeFileSync(zoneFile, zone(1, 'one'));
  for (const host of ['127.0.21.2', '127.0.21.3']) {
    const t = http.createServer((_q, r) => r.end('ok'));
    await new Promise<void>((r) => t.listen(18181, host, r));
    targets.push(t);
  }
  server = await startRoamdns({
    zones: [zoneFile], dnsYaml: '  workers: 2',
    extraYaml: 'pools:\n  www.workers.test:\n    check: { http: { port: 18181 }, interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }\n',
  });
});
afterAll(async () => {
  await server?.stop();
  for (const t of targets) t.close();
  rmSync(dir, { recursive: true, force: true });
});

const metric = async (name: string) => {
  const text = await (await fetch(`http://127.0.0.1:${server.statusPort}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
};

describe('dns.workers: 2', () => {
  test('two worker processes answer over UDP and TCP', async () => {
    // One worker may answer before the other has logged (in either order); give them a moment.
    const both = () => /"worker":1/.test(server.proc.output()) && /"worker":2/.test(server.proc.output());
    for (let i = 0; i < 50 && !both(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(server.proc.output(), server.proc.output()).toMatch(/"worker":1/);
    expect(server.proc.output()).toMatch(/"worker":2/);
    for (let i = 0; i < 20; i++) {
      const r = await query(server.port, 'www.workers.test', 'A', { transport: i % 2 ? 'tcp' : 'udp' });
      expect(r.answer.map((a) => a.rdata).sort()).toEqual(['127.0.21.2', '127.0.21.3']);
    }
  });

  test('/metrics sums the workers’ counters', async () => {
    const before = await metric('roamdns_dns_queries_total');
    for (let i = 0; i < 50; i++) await query(server.port, 'v.workers.test', 'TXT');
    expect((await metric('roamdns_dns_queries_total')) - before).toBe(50);
  });

  test('SIGHUP reloads every worker', async () => {
    writeFileSync(zoneFile, zone(2, 'two'));
    server.proc.child.kill('SIGHUP');
    const t0 = Date.now();
    for (;;) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => query(server.port, 'v.workers.test', 'TXT')));
      if (answers.every((a) => a.answer[0]?.rdata === '"two"')) break;
      if (Date.now() - t0 > 5000) throw new Error('not every worker serves the new zone');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Zone metrics are the primary's: the serial as it is (not summed over processes), one load per reload.
    const text = await (await fetch(`http://127.0.0.1:${server.statusPort}/metrics`)).text();
    expect(text).toMatch(/^roamdns_zone_serial\{zone="workers\.test\."\} 2$/m);
    expect(text).toMatch(/^roamdns_zone_records\{zone="workers\.test\."\} 6$/m);
    expect(text).toMatch(/^roamdns_zone_reloads_total\{result="ok",zone="workers\.test\."\} 2$/m);
  });

  test('a health change reaches every worker', async () => {
    await new Promise<void>((r) => targets[1]!.close(() => r()));
    const t0 = Date.now();
    for (;;) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => query(server.port, 'www.workers.test', 'A')));
      if (answers.every((a) => a.answer.length === 1 && a.answer[0]!.rdata === '127.0.21.2')) break;
      if (Date.now() - t0 > 5000) throw new Error('a worker still answers the down VIP');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('dns.workers by default', () => {
  test('one answering process per core', async () => {
    const cores = os.availableParallelism();
    const s = await startRoamdns({ zones: [zoneFile], workers: 'default' });
    try {
      const r = await query(s.port, 'www.workers.test', 'A');
      expect(r.answer).toHaveLength(2);
      if (cores > 1) {
        for (let i = 0; i < 50 && !/DNS workers started/.test(s.proc.output()); i++) await new Promise((r) => setTimeout(r, 100));
        expect(s.proc.output()).toMatch(new RegExp(`"workers":${cores}\\b.*DNS workers started`));
      } else {
        expect(s.proc.output()).not.toMatch(/DNS workers started/);
      }
      // SIGTERM: the workers stop when told and the whole exits 0 at once.
      const t0 = Date.now();
      s.proc.child.kill('SIGTERM');
      expect(await s.proc.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await s.stop();
    }
  });

  test('/status and /metrics answer from the first DNS answer on', async () => {
    const { freePort, spawnManaged } = await import('../helpers/roamdns.js');
    const [port, statusPort] = [await freePort(), await freePort()];
    const cfg = path.join(dir, 'first.yaml');
    writeFileSync(cfg, `zones: [${JSON.stringify(zoneFile)}]\ndns: { listen: [127.0.0.1:${port}], workers: 2 }\nstatus: { listen: 127.0.0.1:${statusPort} }\n`);
    const proc = spawnManaged(process.execPath, [path.join(import.meta.dirname, '../../dist/cli/main.js'), 'serve', '--config', cfg], { cwd: dir });
    try {
      // Ask every 5 ms until a worker answers, then read the status API at once (CI once saw
      // ECONNREFUSED here: the workers answered before the primary had bound the status port).
      for (let i = 0; ; i++) {
        if (i > 2000) throw new Error(`no DNS answer: ${proc.output()}`);
        const r = await query(port, 'www.workers.test', 'A', { timeoutMs: 5 }).catch(() => undefined);
        if (r) break;
      }
      for (const p of ['/status', '/metrics']) expect((await fetch(`http://127.0.0.1:${statusPort}${p}`)).status, p).toBe(200);
    } finally {
      await proc.stop();
    }
  });

  test('SIGTERM while still starting: it starts, then stops, and exits 0', async () => {
    const { spawnManaged } = await import('../helpers/roamdns.js');
    const cfg = path.join(dir, 'early.yaml');
    writeFileSync(cfg, `zones: [${JSON.stringify(zoneFile)}]\ndns: { listen: [127.0.0.1:0] }\nstatus: { listen: 127.0.0.1:0 }\n`);
    const proc = spawnManaged(process.execPath, [path.join(import.meta.dirname, '../../dist/cli/main.js'), 'serve', '--config', cfg], { cwd: dir });
    try {
      // Once the zone is loaded, while the workers are still being started.
      for (let i = 0; i < 1000 && !proc.output().includes('zone loaded'); i++) await new Promise((r) => setTimeout(r, 5));
      expect(proc.output()).not.toMatch(/"serving"/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited, proc.output()).toBe(0);
      expect(proc.output()).toMatch(/"serving"[^]*"signal":"SIGTERM".*shutting down/);
    } finally {
      await proc.stop();
    }
  });
});
