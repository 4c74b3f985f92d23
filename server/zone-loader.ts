// Loads a zone file without stalling the event loop: the worker thread (zone-load-worker.ts)
// parses and checks it, then the main thread builds the model in slices of a few milliseconds,
// so queries keep being answered from the old zone until the new one is swapped in.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadRequest, LoadResponse } from './zone-load-worker.js';
import type { ZoneProblem } from './zone-state.js';
import { ZoneBuilder, type Zone } from './zone.js';

/**
 * Longest a slice of the build holds the event loop. Short: between two slices the loop reads at
 * most 32 datagrams a socket (libuv), so with 5 ms slices a queue that built up (a collection, a
 * slow slice) drained by only a few queries a turn, and at 5,000 q/s answers waited 30-40 ms
 * for the whole build; with 1 ms it drains in a few turns.
 */
export const SLICE_MS = 1;

export interface AsyncLoadResult {
  zone?: Zone;
  problems: ZoneProblem[];
  /** sha256 of the packed records: equal digests mean the same data. */
  digest?: string;
}

const WORKER_URL = new URL('./zone-load-worker.js', import.meta.url);

/** A worker thread for each parse, started when needed, unref'd (it never keeps the process alive). */
export class ZoneLoader {
  private worker?: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: LoadResponse) => void; reject: (e: Error) => void }>();

  /** False when the compiled worker is not next to this module (running from TypeScript sources). */
  static available(): boolean {
    return existsSync(fileURLToPath(WORKER_URL));
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_URL);
    w.unref();
    w.on('message', (r: LoadResponse) => {
      const p = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      p?.resolve(r);
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return; // one that end() stopped: nothing was waiting on it
      this.worker = undefined;
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`zone worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  private parse(file: string): Promise<LoadResponse> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.start().postMessage({ id, file } satisfies LoadRequest);
    });
  }

  /** Parses `file` in the worker; builds the zone in slices unless its digest is `skipDigest` (unchanged). */
  async load(file: string, skipDigest?: string): Promise<AsyncLoadResult> {
    const r = await this.parse(file);
    // The worker's heap now holds the parse's garbage (about 1 GB for a million records). Let the
    // thread end, and its memory go back to the system, before the build: the build touches new
    // memory, and its page faults would wait on the unmapping (one address space, one lock)
    // done by a thread of the lowest priority (observed: answers stalled 40-450 ms).
    await this.end();
    if (r.crash) throw new Error(`zone worker: ${r.crash}`);
    if (!r.packed) return { problems: r.problems };
    if (r.packed.digest === skipDigest) return { problems: r.problems, digest: r.packed.digest };
    const builder = new ZoneBuilder(r.origin, { buf: Buffer.from(r.packed.buf, 0, r.packed.length), count: r.packed.count });
    while (!builder.done) {
      const t0 = performance.now();
      do builder.step(256);
      while (!builder.done && performance.now() - t0 < SLICE_MS);
      if (!builder.done) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { zone: builder.finish(), problems: r.problems, digest: r.packed.digest };
  }

  close(): void {
    void this.end();
  }

  /** Ends the worker thread and waits until it is gone (the next parse starts another, in a few ms). */
  private async end(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
