// Test doubles for health/: a fake clock with fake timers that advances by hand (no sleeping),
// a logger that records calls, and deferred promises for fake probes.
import type { Clock, HealthLogger } from '../../health/options.js';
import type { Timers } from '../../health/checker.js';

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** Lets every pending promise callback run (a macrotask turn flushes the microtask queue). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FakeTime implements Clock, Timers {
  private t: number;
  private nextId = 1;
  private readonly pending = new Map<number, FakeTimer>();

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Timers still waiting, with their due times relative to now. */
  dueIn(): number[] {
    return [...this.pending.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing due timers in order and flushing promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (let guard = 0; guard < 100_000; guard++) {
      const next = [...this.pending.values()].sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next || next.at > end) break;
      this.pending.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

export interface LogCall {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: Record<string, unknown>;
  msg: string;
}

export class RecordingLogger implements HealthLogger {
  readonly calls: LogCall[] = [];
  info(obj: object, msg: string): void {
    this.calls.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.calls.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.calls.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  debug(obj: object, msg: string): void {
    this.calls.push({ level: 'debug', obj: obj as Record<string, unknown>, msg });
  }
  changes(): LogCall[] {
    return this.calls.filter((c) => c.msg === 'vip state changed');
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
