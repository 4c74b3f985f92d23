// The zone-parsing worker thread (ZoneLoader): parses and checks one file off the main thread and
// hands the records back packed in one transferred buffer (server/zone-pack.ts).
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { loadZoneFile } from './zone-check.js';
import { packRecords } from './zone-pack.js';

/**
 * Every thread of the process but the one that answers gets the lowest CPU priority (nice 19):
 * this one, and the collector's helper threads, which mark and sweep this thread's heap (the
 * parse of a large zone makes hundreds of MB of garbage) at the normal priority otherwise. So
 * where they share a core with the answering thread (one CPU, or the server pinned to one),
 * answering runs first. The answering thread's own heap is a few MB (the zones are typed arrays,
 * name-table.ts), so its collections need little help. Linux gives each thread its own nice
 * value; /proc/self/task lists them. Elsewhere a no-op. Returns how many threads it lowered.
 */
export function lowerThreadPriority(): number {
  let lowered = 0;
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (!Number.isInteger(tid) || tid === process.pid) continue;
      try {
        setPriority(tid, 19);
        lowered++;
      } catch {
        // a thread that ended meanwhile
      }
    }
  } catch {
    // not Linux
  }
  return lowered;
}

if (parentPort) lowerThreadPriority();

export interface LoadRequest { id: number; file: string }
export interface LoadResponse {
  id: number;
  origin: string;
  problems: import('./zone-state.js').ZoneProblem[];
  /** Absent when the file has errors. */
  packed?: { buf: ArrayBuffer; length: number; count: number; digest: string };
  crash?: string;
}

parentPort?.on('message', (m: LoadRequest) => {
  try {
    const parsed = loadZoneFile(m.file, {});
    const usable = !parsed.problems.some((p) => p.severity === 'error');
    if (!usable) return parentPort!.postMessage({ id: m.id, origin: parsed.origin, problems: parsed.problems } satisfies LoadResponse);
    const p = packRecords(parsed.records);
    const digest = createHash('sha256').update(p.buf).digest('hex');
    const buf = p.buf.buffer.slice(p.buf.byteOffset, p.buf.byteOffset + p.buf.length) as ArrayBuffer;
    parentPort!.postMessage({ id: m.id, origin: parsed.origin, problems: parsed.problems, packed: { buf, length: p.buf.length, count: p.count, digest } } satisfies LoadResponse, [buf]);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, origin: '', problems: [], crash: (err as Error).stack ?? String(err) } satisfies LoadResponse);
  }
});
