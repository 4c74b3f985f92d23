// The health checker's scheduler: one probe loop per (pool, VIP) and one ownership loop, feeding
// the VIP state store. Also `checkOnce` for `roamdns check`. Time, timers, randomness, probes and
// the agents' status fetch are injected, so tests drive it with fake timers and no sockets.
//
// Per loop, at most one probe is in flight: the next one is scheduled only when the current one
// settles, at `started + interval + jitter` (jitter uniform in [0, jitter]), or at once when the
// probe took longer than that. The first probe runs as soon as the VIP is added (`start`,
// `updatePools`), not on the first query. A probe that does not settle within timeout + 1s
// (a bug in a probe; the real ones honour their timeout) is recorded as a failure every interval
// until it settles, so a stuck probe cannot keep a VIP up.
import { canonicalIp, OwnershipTracker, type AgentReport } from './ownership.js';
import { resolveCheck, silentLogger, systemClock, type Clock, type HealthLogger, type PoolSpec, type ResolvedCheck } from './options.js';
import { realProbe, type ProbeFn, type ProbeResult } from './probe.js';
import type { VipStateStore } from './vip-state.js';

export { checkExitCode, checkOnce, formatCheckLines, type CheckOnceOptions, type CheckResult } from './check-once.js';
export type { ProbeFn } from './probe.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CheckerDeps {
  store: VipStateStore;
  /** Default: the real HTTP/TCP probes. */
  probe?: ProbeFn;
  /** Fetches every agent's /status; when absent ownership is not polled. */
  fetchOwnership?: () => Promise<AgentReport[]>;
  /** Default 1000. */
  ownershipIntervalMs?: number;
  /** How long an agent's last good report stands in for a failed poll; default 3 x ownershipIntervalMs. */
  ownershipMaxAgeMs?: number;
  clock?: Clock;
  timers?: Timers;
  /** [0, 1); default Math.random. */
  random?: () => number;
  log?: HealthLogger;
}

export const SETTLE_GRACE_MS = 1000;

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Calls a probe so that it can neither throw nor reject. */
async function safely(probe: ProbeFn, pool: string, vip: string, check: ResolvedCheck): Promise<ProbeResult> {
  try {
    return await probe(pool, vip, check);
  } catch (err) {
    return { ok: false, latencyMs: 0, reason: `probe threw: ${(err as Error)?.message ?? String(err)}` };
  }
}

interface Loop {
  pool: string;
  vip: string;
  check: ResolvedCheck;
  timer?: unknown;
  running?: Promise<void>;
  stopped: boolean;
}

const loopKey = (pool: string, vip: string) => `${pool}\u0000${canonicalIp(vip)}`;

export class HealthChecker {
  private readonly loops = new Map<string, Loop>();
  private readonly probe: ProbeFn;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly log: HealthLogger;
  private readonly tracker: OwnershipTracker;
  private ownershipTimer: unknown;
  private ownershipRunning: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly deps: CheckerDeps) {
    this.probe = deps.probe ?? realProbe();
    this.clock = deps.clock ?? systemClock;
    this.timers = deps.timers ?? realTimers;
    this.random = deps.random ?? Math.random;
    this.log = deps.log ?? silentLogger;
    if (deps.store.clustered && !deps.fetchOwnership) {
      throw new Error('HealthChecker: the store consults ownership (clustered) but no fetchOwnership was given');
    }
    this.tracker = new OwnershipTracker(deps.ownershipMaxAgeMs ?? 3 * (deps.ownershipIntervalMs ?? 1000));
  }

  /** Starts probing every VIP now (call when the zone loads). A second call acts as updatePools. */
  start(pools: readonly PoolSpec[]): void {
    if (this.stopped) throw new Error('HealthChecker: start after stop');
    const first = !this.started;
    this.updatePools(pools);
    this.started = true;
    // The first start kicks every loop (in pool order), including any an earlier updatePools added.
    for (const loop of this.loops.values()) if (loop.timer === undefined && !loop.running) this.runProbe(loop);
    if (first && this.deps.fetchOwnership) this.runOwnership();
  }

  /** Applies a reloaded zone: new VIPs start probing at once, removed ones stop, the rest keep their state. */
  updatePools(pools: readonly PoolSpec[]): void {
    if (this.stopped) return;
    this.deps.store.setPools(pools);
    const wanted = new Set<string>();
    for (const pool of pools) {
      const check = resolveCheck(pool.check);
      for (const vip of pool.vips) {
        const key = loopKey(pool.name, vip);
        wanted.add(key);
        const loop = this.loops.get(key);
        if (loop) {
          loop.check = check; // takes effect from the next probe
          continue;
        }
        const fresh: Loop = { pool: pool.name, vip, check, stopped: false };
        this.loops.set(key, fresh);
        if (this.started) this.runProbe(fresh);
      }
    }
    for (const [key, loop] of this.loops) if (!wanted.has(key)) this.endLoop(key, loop);
  }

  /** Probes currently in flight (at most one per VIP). */
  inFlight(): number {
    return [...this.loops.values()].filter((l) => l.running).length + (this.ownershipRunning ? 1 : 0);
  }

  /** Stops every loop; waits for probes in flight (each bounded by its timeout + grace). */
  async stop(): Promise<void> {
    this.stopped = true;
    const maxTimeoutMs = Math.max(0, ...[...this.loops.values()].map((l) => l.check.timeoutMs));
    const running = [...this.loops.values()].map((l) => l.running);
    for (const [key, loop] of this.loops) this.endLoop(key, loop);
    if (this.ownershipTimer !== undefined) this.timers.clearTimeout(this.ownershipTimer);
    running.push(this.ownershipRunning);
    const pending = running.filter((p): p is Promise<void> => p !== undefined);
    if (pending.length === 0) return;
    let cap: unknown;
    await Promise.race([Promise.all(pending), new Promise<void>((r) => (cap = this.timers.setTimeout(r, maxTimeoutMs + SETTLE_GRACE_MS)))]);
    this.timers.clearTimeout(cap);
  }

  private endLoop(key: string, loop: Loop): void {
    loop.stopped = true;
    if (loop.timer !== undefined) this.timers.clearTimeout(loop.timer);
    loop.timer = undefined;
    this.loops.delete(key);
  }

  private runProbe(loop: Loop): void {
    if (loop.stopped || loop.running) return;
    const check = loop.check;
    const startedAt = this.clock.now();
    let reported = false;
    const report = (r: ProbeResult) => {
      if (!loop.stopped) this.deps.store.recordProbe(loop.pool, loop.vip, r);
    };
    let watchdog: unknown;
    const arm = (ms: number) => {
      watchdog = this.timers.setTimeout(() => {
        reported = true;
        this.log.error({ pool: loop.pool, vip: loop.vip }, 'probe did not settle');
        report({ ok: false, latencyMs: this.clock.now() - startedAt, reason: 'probe did not settle' });
        arm(check.intervalMs);
      }, ms);
    };
    arm(check.timeoutMs + SETTLE_GRACE_MS);
    loop.running = safely(this.probe, loop.pool, loop.vip, check).then((result) => {
      this.timers.clearTimeout(watchdog);
      loop.running = undefined;
      if (!reported) report(result);
      if (!loop.stopped) this.schedule(loop, startedAt);
    });
  }

  private schedule(loop: Loop, startedAt: number): void {
    const jitter = this.random() * loop.check.jitterMs;
    const delay = Math.max(0, startedAt + loop.check.intervalMs + jitter - this.clock.now());
    loop.timer = this.timers.setTimeout(() => {
      loop.timer = undefined;
      this.runProbe(loop);
    }, delay);
  }

  private runOwnership(): void {
    const fetch = this.deps.fetchOwnership;
    if (this.stopped || !fetch || this.ownershipRunning) return;
    const startedAt = this.clock.now();
    const interval = this.deps.ownershipIntervalMs ?? 1000;
    this.ownershipRunning = fetch()
      .catch((err: unknown): AgentReport[] => {
        this.log.error({ err }, 'ownership fetch threw');
        return [];
      })
      .then((reports) => {
        this.ownershipRunning = undefined;
        if (this.stopped) return;
        this.deps.store.recordOwnership(this.tracker.update(reports, this.clock.now()));
        const delay = Math.max(0, startedAt + interval - this.clock.now());
        this.ownershipTimer = this.timers.setTimeout(() => this.runOwnership(), delay);
      });
  }
}
