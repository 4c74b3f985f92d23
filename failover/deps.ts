// The small interfaces the failover code takes as arguments (clock, timers, logger), so tests inject fakes.

/** Milliseconds from a monotonic source; only differences are meaningful. */
export interface Clock {
  now(): number;
}

/** Opaque timer handle; real timers return a NodeJS.Timeout, fakes anything. */
export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The pino subset the failover code uses: variables in the object, a constant message. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The real clock: performance.now() never jumps with NTP or an operator's `date`. */
export const systemClock: Clock = { now: () => performance.now() };

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A logger that drops everything (tests, and callers that pass none). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
