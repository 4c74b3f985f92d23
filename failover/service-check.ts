// The node's own service check (HTTP through undici, or TCP connect) and the rise/fall rule that turns results into health.
import { connect } from 'node:net';
import { request } from 'undici';
import type { TimerHandle, Timers } from './deps.js';
import type { Health } from './heartbeat.js';
import type { ServiceCheckTarget } from './options.js';

/** A probe outcome is data, never an exception. */
export interface ProbeResult {
  ok: boolean;
  reason: string; // 'ok', 'status 503', 'timeout', 'ECONNREFUSED', ...
  latencyMs?: number;
}

export type Probe = () => Promise<ProbeResult>;

function errorReason(e: unknown): string {
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError' || err?.code === 'UND_ERR_HEADERS_TIMEOUT' || err?.code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return err?.code ?? err?.message ?? String(e);
}

/** GET url; 2xx and 3xx pass. The body is read to the end so the connection can be reused. */
export function httpProbe(url: string, timeoutMs: number): Probe {
  return async () => {
    const started = performance.now();
    try {
      const res = await request(url, { method: 'GET', signal: AbortSignal.timeout(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await res.body.dump();
      const latencyMs = performance.now() - started;
      const ok = res.statusCode >= 200 && res.statusCode < 400;
      return { ok, reason: ok ? 'ok' : `status ${res.statusCode}`, latencyMs };
    } catch (e) {
      return { ok: false, reason: errorReason(e), latencyMs: performance.now() - started };
    }
  };
}

/** A TCP connect that completes within the timeout passes; the socket is closed at once. */
export function tcpProbe(host: string, port: number, timeoutMs: number): Probe {
  return () =>
    new Promise<ProbeResult>((resolve) => {
      const started = performance.now();
      const sock = connect({ host, port });
      const done = (ok: boolean, reason: string) => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ ok, reason, latencyMs: performance.now() - started });
      };
      const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
      sock.once('connect', () => done(true, 'ok'));
      sock.once('error', (e) => done(false, errorReason(e)));
    });
}

export function createProbe(target: ServiceCheckTarget, timeoutMs: number): Probe {
  return 'http' in target ? httpProbe(target.http, timeoutMs) : tcpProbe(target.tcp.host, target.tcp.port, timeoutMs);
}

/*
 * Rise/fall (as keepalived and haproxy use them):
 *
 * | health     | result | when                          | becomes    |
 * |------------|--------|-------------------------------|------------|
 * | unknown    | pass   | `rise` passes in a row        | healthy    |
 * | unknown    | fail   | `fall` failures in a row      | unhealthy  |
 * | healthy    | fail   | `fall` failures in a row      | unhealthy  |
 * | unhealthy  | pass   | `rise` passes in a row        | healthy    |
 * | any        | other  | -                             | unchanged  |
 */
export class RiseFall {
  private streakOk = 0;
  private streakFail = 0;
  health: Health = 'unknown';
  lastReason = 'not checked yet';

  constructor(readonly rise: number, readonly fall: number) {
    if (!Number.isInteger(rise) || rise < 1 || !Number.isInteger(fall) || fall < 1) throw new RangeError(`rise ${rise} and fall ${fall} must be positive integers`);
  }

  /** Feeds one result; returns true when health changed. */
  push(result: ProbeResult): boolean {
    this.lastReason = result.reason;
    if (result.ok) { this.streakOk++; this.streakFail = 0; } else { this.streakFail++; this.streakOk = 0; }
    const before = this.health;
    if (result.ok && this.streakOk >= this.rise) this.health = 'healthy';
    if (!result.ok && this.streakFail >= this.fall) this.health = 'unhealthy';
    return this.health !== before;
  }
}

export interface HealthMonitorOptions {
  probe: Probe;
  intervalMs: number;
  rise: number;
  fall: number;
  timers: Timers;
  onChange: (from: Health, to: Health, reason: string) => void;
}

/** Runs the probe every intervalMs (never two at once) and reports health changes on the edge. */
export class HealthMonitor {
  private readonly rf: RiseFall;
  private timer?: TimerHandle;
  private running = false;

  constructor(private readonly o: HealthMonitorOptions) {
    this.rf = new RiseFall(o.rise, o.fall);
  }

  get health(): Health { return this.rf.health; }
  get lastReason(): string { return this.rf.lastReason; }

  start(): void {
    this.running = true;
    void this.runOnce();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
  }

  private async runOnce(): Promise<void> {
    this.timer = undefined;
    const result = await Promise.resolve().then(this.o.probe).catch((e: unknown): ProbeResult => ({ ok: false, reason: String(e) }));
    if (!this.running) return;
    const from = this.rf.health;
    if (this.rf.push(result)) this.o.onChange(from, this.rf.health, result.reason);
    if (this.running) this.timer = this.o.timers.setTimeout(() => void this.runOnce(), this.o.intervalMs);
  }
}
