// A large zone loaded at start-up (parsed on the main thread) leaves no parse garbage behind
// (server/gc.ts): in a fresh process, the heap right after ZoneStore.load of 200,000 records is
// a few MiB, not the ~200 MiB the parse made (which an idle server would otherwise keep).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';

const DIST = path.join(import.meta.dirname, '../../dist');

test('start-up load of 200,000 records: the heap holds the zone, not the parse', () => {
  const script = `
    import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
    import os from 'node:os'; import path from 'node:path';
    const { ZoneStore } = await import(${JSON.stringify(path.join(DIST, 'server/zone-store.js'))});
    const { dnsMetrics, Registry } = await import(${JSON.stringify(path.join(DIST, 'server/metrics.js'))});
    const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-start-memory-'));
    try {
      let z = '$ORIGIN gc.test.\\n$TTL 60\\n@ SOA ns1 h 1 1 1 1 1\\n@ NS ns1\\nns1 A 192.0.2.1\\n';
      for (let i = 0; i < 200000; i++) z += 'h' + i + ' A 192.0.2.' + (i & 255) + '\\n';
      writeFileSync(path.join(dir, 'gc.test.zone'), z);
      z = null;
      const store = new ZoneStore(dir, { info() {}, warn() {}, error() {} }, dnsMetrics(new Registry()));
      const r = store.load('start');
      console.log(JSON.stringify({ failed: r.failed.length, records: store.current().zones.get('gc.test.').recordCount, heapUsedMiB: process.memoryUsage().heapUsed / 1048576 }));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { failed: number; records: number; heapUsedMiB: number };
  expect(out.failed).toBe(0);
  expect(out.records).toBe(200_003);
  expect(out.heapUsedMiB).toBeLessThan(30); // without the collection: about 235 MiB
}, 90_000);
