// Wires the health checker into `serve` and `check`: pools from the config and the zone, agent
// status URLs from the cluster section, and the answer overlay rebuilt on every health or zone change.
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { HealthChecker, checkOnce, type CheckResult } from '../health/checker.js';
import { HealthMetricsRegistry } from '../health/metrics.js';
import type { CheckOptions, HealthLogger, PoolSpec } from '../health/options.js';
import { fetchOwnership } from '../health/ownership.js';
import { VipStateStore, type HealthSnapshot } from '../health/vip-state.js';
import { labelsToKey, parseName } from '../server/name.js';
import { AnswerOverlay, buildOverlay, vipText, type PoolPolicy } from '../server/pool-overlay.js';
import { RRType } from '../server/rr.js';
import type { ZoneSet } from '../server/zone.js';
import { parseListen } from '../server/dns-server.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { readStatusToken } from './status-server.js';

/** Canonical key of a configured name ('www.example.com' or with the trailing dot). */
export function nameKey(name: string): string {
  return labelsToKey(parseName(name.endsWith('.') ? name : `${name}.`, null));
}

/** The A/AAAA addresses of `name` in the zones, in zone order. */
export function addressesOf(zones: ZoneSet, name: string): string[] {
  const key = nameKey(name);
  const node = zones.find(key)?.nodes.get(key);
  const out: string[] = [];
  for (const type of [RRType.A, RRType.AAAA]) for (const r of node?.get(type)?.rdatas ?? []) out.push(vipText(type, r));
  return out;
}

/** Pools whose names have no addresses in the zones: a config error at start-up, a warning on reload. */
export function poolsWithoutAddresses(cfg: RoamdnsConfig, zones: ZoneSet): string[] {
  return Object.keys(cfg.pools).filter((n) => addressesOf(zones, n).length === 0);
}

function checkOptions(cfg: RoamdnsConfig, name: string): CheckOptions {
  const c = cfg.pools[name]!.check;
  const http = c.http ? { ...c.http, ca: c.http.ca_file ? readFileSync(resolveFromConfig(cfg, c.http.ca_file), 'utf8') : undefined } : undefined;
  return { http: c.tcp ? undefined : http ?? {}, tcp: c.tcp, interval: c.interval, timeout: c.timeout, rise: c.rise, fall: c.fall, jitter: c.jitter };
}

export function poolSpecs(cfg: RoamdnsConfig, zones: ZoneSet): PoolSpec[] {
  return Object.keys(cfg.pools).map((name) => ({ name, vips: addressesOf(zones, name), check: checkOptions(cfg, name) }));
}

export function poolPolicies(cfg: RoamdnsConfig): PoolPolicy[] {
  return Object.entries(cfg.pools).map(([name, p]) => ({
    key: nameKey(name), name, whenAllDown: p.when_all_down, degradedTtlSeconds: p.degraded_ttl, maxAnswers: p.max_answers,
  }));
}

/** Where each agent's status API is: nodes.<n>.status_url, else the node address on cluster.status_listen's port. */
export function agentStatusUrls(cfg: RoamdnsConfig): string[] {
  if (!cfg.cluster) return [];
  const port = parseListen(cfg.cluster.status_listen).port;
  return Object.values(cfg.cluster.nodes).map((n) => n.status_url ?? `http://${isIPv6(n.address) ? `[${n.address}]` : n.address}:${port}/status`);
}

/** The agents' API token, when the cluster has one (read once; the file was checked at start-up). */
export function agentToken(cfg: RoamdnsConfig): string | undefined {
  const f = cfg.cluster?.status_token_file;
  return f ? readStatusToken(resolveFromConfig(cfg, f)).toString('utf8') : undefined;
}

function ownershipFetcher(cfg: RoamdnsConfig) {
  const urls = agentStatusUrls(cfg);
  const token = agentToken(cfg);
  return cfg.cluster ? () => fetchOwnership(urls, { timeoutMs: 500, token }) : undefined;
}

/** `roamdns check`: every pool's VIPs probed once. */
export function checkPoolsOnce(cfg: RoamdnsConfig, zones: ZoneSet): Promise<CheckResult[]> {
  return checkOnce(poolSpecs(cfg, zones), { fetchOwnership: ownershipFetcher(cfg) });
}

/** The health loop of `serve` and the overlay the answer path reads. */
export class HealthRuntime {
  readonly metrics = new HealthMetricsRegistry();
  readonly store: VipStateStore;
  private readonly checker: HealthChecker;
  private readonly policies: PoolPolicy[];
  private current: AnswerOverlay = AnswerOverlay.EMPTY;
  private zones: ZoneSet | undefined;

  constructor(private readonly cfg: RoamdnsConfig, log: HealthLogger) {
    this.store = new VipStateStore({ clustered: !!cfg.cluster, log, metrics: this.metrics });
    this.checker = new HealthChecker({ store: this.store, log, fetchOwnership: ownershipFetcher(cfg) });
    this.policies = poolPolicies(cfg);
    this.store.subscribe(() => this.rebuild());
  }

  get enabled(): boolean {
    return this.policies.length > 0;
  }

  /** The overlay for the answer path: a field read, nothing else. */
  overlay(): AnswerOverlay {
    return this.current;
  }

  /** Called with the zones at start and after every reload that changed them. */
  zonesChanged(zones: ZoneSet): void {
    if (!this.enabled) return;
    const first = this.zones === undefined;
    this.zones = zones;
    const specs = poolSpecs(this.cfg, zones);
    if (first) this.checker.start(specs);
    else this.checker.updatePools(specs);
    this.rebuild();
  }

  /** Recomputes every pool's answer from the latest snapshot; runs on changes, never per query. */
  private rebuild(): void {
    if (!this.zones) return;
    const snap = this.store.snapshot();
    const served = new Map<string, Map<string, boolean>>();
    for (const [pool, ps] of Object.entries(snap.pools)) {
      served.set(pool, new Map(ps.vips.filter((v) => v.state !== 'unknown').map((v) => [v.vip, v.served])));
    }
    this.current = buildOverlay(this.zones, this.policies, (pool, vip) => served.get(pool)?.get(vip), this.current);
  }

  /** pool -> vip -> served, for VIPs with a result (what DNS workers need to build their overlay). */
  servedMap(): Record<string, Record<string, boolean>> {
    const out: Record<string, Record<string, boolean>> = {};
    for (const [pool, ps] of Object.entries(this.store.snapshot().pools)) {
      out[pool] = Object.fromEntries(ps.vips.filter((v) => v.state !== 'unknown').map((v) => [v.vip, v.served]));
    }
    return out;
  }

  /** Calls `fn` after every VIP state change. */
  onChange(fn: () => void): void {
    this.store.subscribe(() => fn());
  }

  snapshot(): HealthSnapshot {
    return this.store.snapshot();
  }

  async stop(): Promise<void> {
    await this.checker.stop();
  }
}
