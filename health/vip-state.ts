// The VIP state store: one entry per (pool, VIP), fed raw probe results and the agents' merged
// ownership view, holding the state the DNS answers are built from. Changes are emitted once, on
// the edge, logged and counted; readers take an immutable snapshot (no I/O on the answer path).
//
// A VIP's state; the first matching row wins (probe = the rise/fall state from thresholds.ts):
//
// | # | condition                                                | state    | served |
// |---|----------------------------------------------------------|----------|--------|
// | 1 | cluster configured, ownership known, no live holder      | orphan   | no     |
// | 2 | probe unknown (no result yet)                            | unknown  | no     |
// | 3 | probe down (failed `fall` times, or the first result)    | down     | no     |
// | 4 | cluster configured, ownership not fetched yet            | unknown  | no     |
// | 5 | cluster configured, two or more live holders             | conflict | yes    |
// | 6 | probe up, one live holder (or no cluster configured)     | up       | yes    |
//
// Row 1 comes first because a VIP no live node claims is withdrawn "whatever the probe says"
// (issue 4): a passing probe then reaches some stray host. Without a `cluster` section ownership
// is never consulted (rows 1, 4, 5 do not apply) and the probe alone decides.
import { canonicalIp, type OwnershipView } from './ownership.js';
import { noopMetrics, type HealthMetrics } from './metrics.js';
import { resolveCheck, silentLogger, systemClock, type Clock, type HealthLogger, type PoolSpec, type VipState } from './options.js';
import type { ProbeResult } from './probe.js';
import { applyProbeResult, initialThresholdState, type ProbeState, type ThresholdState, type Thresholds } from './thresholds.js';

export interface ProbeRecord extends ProbeResult {
  /** When the probe finished (clock ms). */
  at: number;
}

/** Everything known about one VIP of one pool. Immutable in snapshots. */
export interface VipStatus {
  readonly pool: string;
  readonly vip: string;
  readonly state: VipState;
  /** True for `up` and `conflict`: the VIP belongs in the answer. */
  readonly served: boolean;
  /** When `state` was entered (clock ms). */
  readonly since: number;
  /** Why it is in this state. */
  readonly reason: string;
  /** The debounced probe state (rise/fall). */
  readonly probe: ProbeState;
  /** Live nodes that hold it (empty without a cluster). */
  readonly holders: readonly string[];
  readonly lastProbe?: Readonly<ProbeRecord>;
}

export interface VipStateChange {
  readonly pool: string;
  readonly vip: string;
  readonly from: VipState;
  readonly to: VipState;
  readonly reason: string;
  readonly at: number;
}

export interface PoolSnapshot {
  /** In the pool's VIP order (the zone's record order). */
  readonly vips: readonly VipStatus[];
  /** The VIPs to answer with: state `up` or `conflict`. */
  readonly served: readonly string[];
}

export interface HealthSnapshot {
  /** Increases with every change to anything in the snapshot. */
  readonly version: number;
  readonly at: number;
  readonly clustered: boolean;
  readonly pools: Readonly<Record<string, PoolSnapshot>>;
  readonly ownership?: Pick<OwnershipView, 'at' | 'live' | 'agents'>;
  /** The latest state changes, oldest first. */
  readonly recentChanges: readonly VipStateChange[];
}

export type VipStateListener = (change: VipStateChange) => void;

export interface VipStateDeps {
  /** True when the config has a `cluster` section: ownership is then consulted. */
  clustered: boolean;
  clock?: Clock;
  log?: HealthLogger;
  metrics?: HealthMetrics;
  /** How many changes the snapshot keeps; default 50. */
  recentChanges?: number;
}

interface Entry {
  pool: string;
  vip: string;
  thresholds: Thresholds;
  th: ThresholdState;
  state: VipState;
  since: number;
  reason: string;
  lastProbe?: ProbeRecord;
}

const keyOf = (pool: string, vip: string) => `${pool}\u0000${canonicalIp(vip)}`;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class VipStateStore {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<VipStateListener>();
  private readonly changes: VipStateChange[] = [];
  private ownership: OwnershipView | undefined;
  private version = 0;
  private cached: HealthSnapshot | undefined;
  private readonly clock: Clock;
  private readonly log: HealthLogger;
  private readonly metrics: HealthMetrics;

  constructor(private readonly deps: VipStateDeps) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? silentLogger;
    this.metrics = deps.metrics ?? noopMetrics;
  }

  get clustered(): boolean {
    return this.deps.clustered;
  }

  /** Adds new VIPs (as `unknown`), drops VIPs no longer listed, keeps the rest as they are. */
  setPools(pools: readonly PoolSpec[]): void {
    const now = this.clock.now();
    const wanted = new Set<string>();
    for (const pool of pools) {
      const { rise, fall } = resolveCheck(pool.check);
      for (const vip of pool.vips) {
        const key = keyOf(pool.name, vip);
        wanted.add(key);
        const existing = this.entries.get(key);
        if (existing) {
          existing.thresholds = { rise, fall };
          continue;
        }
        this.entries.set(key, { pool: pool.name, vip, thresholds: { rise, fall }, th: initialThresholdState(now), state: 'unknown', since: now, reason: 'no probe result yet' });
        this.metrics.vipState(pool.name, vip, 'unknown');
      }
    }
    for (const [key, e] of this.entries) {
      if (wanted.has(key)) continue;
      this.entries.delete(key);
      this.metrics.vipRemoved(e.pool, e.vip);
      this.log.info({ pool: e.pool, vip: e.vip, state: e.state }, 'vip no longer checked');
    }
    this.touch();
  }

  /** Feeds one raw probe result through rise/fall and re-derives the VIP's state. */
  recordProbe(pool: string, vip: string, result: ProbeResult): void {
    const e = this.entries.get(keyOf(pool, vip));
    if (!e) return; // removed while the probe was in flight
    const now = this.clock.now();
    e.th = applyProbeResult(e.th, result.ok, e.thresholds, now).next;
    e.lastProbe = { ...result, at: now };
    this.metrics.probeLatency(pool, result.latencyMs, result.ok);
    this.publish([this.derive(e, now)]);
  }

  /** Replaces the ownership view and re-derives every VIP. Ignored without a cluster. */
  recordOwnership(view: OwnershipView): void {
    if (!this.deps.clustered) return;
    this.ownership = view;
    const now = this.clock.now();
    this.publish([...this.entries.values()].map((e) => this.derive(e, now)));
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  subscribe(listener: VipStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(pool: string, vip: string): VipStatus | undefined {
    const e = this.entries.get(keyOf(pool, vip));
    return e && this.statusOf(e);
  }

  /**
   * Whether the VIP is served (`up` or `conflict`). With `pool`, in that pool; without, in every
   * pool that lists it (false when no pool does).
   */
  isServed(vip: string, pool?: string): boolean {
    const served = (e: Entry) => e.state === 'up' || e.state === 'conflict';
    if (pool !== undefined) {
      const e = this.entries.get(keyOf(pool, vip));
      return e !== undefined && served(e);
    }
    const target = canonicalIp(vip);
    const found = [...this.entries.values()].filter((e) => canonicalIp(e.vip) === target);
    return found.length > 0 && found.every(served);
  }

  /** An immutable view, rebuilt only after something changed; safe to hold across awaits. */
  snapshot(): HealthSnapshot {
    if (this.cached) return this.cached;
    const pools: Record<string, { vips: VipStatus[]; served: string[] }> = {};
    for (const e of this.entries.values()) {
      const p = (pools[e.pool] ??= { vips: [], served: [] });
      const s = this.statusOf(e);
      p.vips.push(s);
      if (s.served) p.served.push(e.vip);
    }
    const o = this.ownership;
    this.cached = deepFreeze({
      version: this.version,
      at: this.clock.now(),
      clustered: this.deps.clustered,
      pools,
      ...(o ? { ownership: { at: o.at, live: [...o.live], agents: o.agents.map((a) => ({ ...a })) } } : {}),
      recentChanges: [...this.changes],
    });
    return this.cached;
  }

  private holdersOf(e: Entry): readonly string[] {
    return this.ownership?.holders.get(canonicalIp(e.vip)) ?? [];
  }

  private statusOf(e: Entry): VipStatus {
    return {
      pool: e.pool,
      vip: e.vip,
      state: e.state,
      served: e.state === 'up' || e.state === 'conflict',
      since: e.since,
      reason: e.reason,
      probe: e.th.state,
      holders: [...this.holdersOf(e)],
      ...(e.lastProbe ? { lastProbe: { ...e.lastProbe } } : {}),
    };
  }

  /** The table at the top of this file. */
  private classify(e: Entry): { state: VipState; reason: string } {
    const clustered = this.deps.clustered;
    const holders = this.holdersOf(e);
    const known = this.ownership !== undefined;
    const failed = e.lastProbe?.reason ?? 'probe failed';
    if (clustered && known && holders.length === 0) {
      const anyAgent = this.ownership!.agents.some((a) => a.ok);
      return { state: 'orphan', reason: anyAgent ? 'no live node holds it' : 'no agent reachable' };
    }
    if (e.th.state === 'unknown') return { state: 'unknown', reason: 'no probe result yet' };
    if (e.th.state === 'down') {
      const why = e.th.failures > 0 ? `probe failed ${e.th.failures}x: ${failed}` : `rising: ${e.th.passes}/${e.thresholds.rise} passes`;
      return { state: 'down', reason: why };
    }
    if (clustered && !known) return { state: 'unknown', reason: 'waiting for the agents' };
    if (clustered && holders.length > 1) return { state: 'conflict', reason: `held by ${holders.join(' and ')}` };
    return { state: 'up', reason: clustered ? `probe passes, held by ${holders[0]}` : 'probe passes' };
  }

  /** Re-classifies one VIP; returns the change when its state moved (an edge). */
  private derive(e: Entry, now: number): VipStateChange | undefined {
    const { state, reason } = this.classify(e);
    const from = e.state;
    e.reason = reason;
    if (state === from) return undefined;
    e.state = state;
    e.since = now;
    const change: VipStateChange = Object.freeze({ pool: e.pool, vip: e.vip, from, to: state, reason, at: now });
    this.changes.push(change);
    if (this.changes.length > (this.deps.recentChanges ?? 50)) this.changes.shift();
    this.metrics.stateChanged(e.pool, e.vip, from, state);
    this.metrics.vipState(e.pool, e.vip, state);
    // The first verdict after start-up is routine; every other edge is worth a warning.
    const fields = { pool: e.pool, vip: e.vip, from, to: state, reason };
    if (from === 'unknown' && state === 'up') this.log.info(fields, 'vip state changed');
    else this.log.warn(fields, 'vip state changed');
    return change;
  }

  /** After every entry is updated: invalidate the snapshot, then tell the listeners. */
  private publish(changes: ReadonlyArray<VipStateChange | undefined>): void {
    this.touch();
    for (const change of changes) {
      if (!change) continue;
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch (err) {
          this.log.error({ err, pool: change.pool, vip: change.vip }, 'vip state listener threw');
        }
      }
    }
  }

  private touch(): void {
    this.version++;
    this.cached = undefined;
  }
}
