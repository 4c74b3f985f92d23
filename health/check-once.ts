// `roamdns check`: probe every published VIP once (ownership fetched once, at the same time),
// classify with the same rules as `serve` (vip-state.ts; the first result decides), print one
// line per VIP, and exit 0 when every VIP is served, 1 when one is not (2, config or zone errors,
// is the CLI's). Usable from cron, Nagios-style monitors and CI.
import { OwnershipTracker, type AgentReport } from './ownership.js';
import { resolveCheck, systemClock, type Clock, type PoolSpec, type VipState } from './options.js';
import { realProbe, type ProbeFn, type ProbeResult } from './probe.js';
import { VipStateStore } from './vip-state.js';

export interface CheckOnceOptions {
  /** Fetches every agent's /status once; when absent (no `cluster` section) the probe alone decides. */
  fetchOwnership?: () => Promise<AgentReport[]>;
  /** Default: the real HTTP/TCP probes. */
  probe?: ProbeFn;
  /** Probes run at once at most; default 64. */
  concurrency?: number;
  clock?: Clock;
}

export interface CheckResult {
  pool: string;
  vip: string;
  state: VipState;
  served: boolean;
  /** Live holders; null when ownership was not consulted. */
  holders: readonly string[] | null;
  latencyMs?: number;
  status?: number;
  reason: string;
}

/** Runs `fn` over `items` with at most `limit` at a time, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Probes every VIP of every pool once. Never throws for a failed probe or agent. */
export async function checkOnce(pools: readonly PoolSpec[], opts: CheckOnceOptions = {}): Promise<CheckResult[]> {
  const clock = opts.clock ?? systemClock;
  const clustered = opts.fetchOwnership !== undefined;
  const store = new VipStateStore({ clustered, clock });
  store.setPools(pools);
  const probe = opts.probe ?? realProbe();
  const jobs = pools.flatMap((p) => p.vips.map((vip) => ({ pool: p.name, vip, check: resolveCheck(p.check) })));
  const [reports, results] = await Promise.all([
    opts.fetchOwnership?.().catch((): AgentReport[] => []),
    mapLimited(jobs, opts.concurrency ?? 64, (j) =>
      probe(j.pool, j.vip, j.check).catch((err: unknown): ProbeResult => ({ ok: false, latencyMs: 0, reason: `probe threw: ${String(err)}` })),
    ),
  ]);
  if (reports) store.recordOwnership(new OwnershipTracker(0).update(reports, clock.now()));
  jobs.forEach((j, i) => store.recordProbe(j.pool, j.vip, results[i]!));
  return jobs.map((j) => {
    const s = store.get(j.pool, j.vip)!;
    return {
      pool: j.pool,
      vip: j.vip,
      state: s.state,
      served: s.served,
      holders: clustered ? s.holders : null,
      ...(s.lastProbe ? { latencyMs: s.lastProbe.latencyMs } : {}),
      ...(s.lastProbe?.status !== undefined ? { status: s.lastProbe.status } : {}),
      reason: s.reason,
    };
  });
}

/**
 * One line per VIP: `pool vip state [holder=a,b] latency [reason="..."]`, e.g.
 * `www.example.com 198.51.100.201 up holder=www1 12ms`. The reason is printed when not `up`.
 */
export function formatCheckLines(results: readonly CheckResult[]): string[] {
  return results.map((r) => {
    const parts = [r.pool, r.vip, r.state];
    if (r.holders !== null) parts.push(`holder=${r.holders.length ? r.holders.join(',') : '-'}`);
    parts.push(r.latencyMs !== undefined ? `${r.latencyMs}ms` : '-');
    if (r.state !== 'up') parts.push(`reason=${JSON.stringify(r.reason)}`);
    return parts.join(' ');
  });
}

/** 0 when every published VIP is served (up or conflict), 1 when at least one is not. */
export function checkExitCode(results: readonly CheckResult[]): 0 | 1 {
  return results.every((r) => r.served) ? 0 : 1;
}
