// The zone-parsing worker thread (ZoneLoader): parses and checks one file off the main thread and
// hands the records back packed in one transferred buffer (server/zone-pack.ts).
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { loadZoneFile } from './zone-check.js';
import { packRecords } from './zone-pack.js';

/**
 * This thread only: the lowest CPU priority (nice 19), so that where it shares a core with the
 * thread that answers (one CPU, or the server pinned to one), answering always runs first.
 * Linux gives each thread its own nice value; /proc/thread-self names this one. Elsewhere a no-op.
 */
export function lowerThreadPriority(): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, 19);
    return true;
  } catch {
    return false;
  }
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
