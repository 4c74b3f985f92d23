// Capacity planning on the agents' own assignment: what each node failure does to the survivors' share of client traffic (`roamdns plan`, the status page's what-if view).
import { assign, type AssignMember } from './assignment.js';

/*
 * Traffic model: a client resolves a pool name and uses one of its VIPs, and the answers rotate
 * round-robin, so every VIP of a pool carries the same part of that pool's traffic. A node's
 * share of a pool is (its VIPs of the pool) / (the pool's VIPs). Its normal share is its weight /
 * the total weight: what an exactly balanced cluster gives it. A node's limit is --max-share, or
 * by default the larger of 50 % and twice its normal share (so two nodes sharing two VIPs, where a
 * survivor must take 100 % = 2 × 50 %, is not flagged: nothing can do better).
 *
 * A scenario is a set of nodes taken out. Its map is what the survivors' agents compute
 * (planner.ts): assign(vips, members with those nodes not live, previous = the baseline map
 * without their VIPs, since dead nodes claim nothing, prefer). The baseline is the assignment
 * with every node up from nothing (a cluster started together), or the live holders when given.
 * A pair is taken out at once.
 *
 * | finding             | when (pools with as many VIPs as nodes or more, except idle-nodes) | exit |
 * |---------------------|-------------------------------------------------------------------|------|
 * | unbalanced          | baseline: a pool's VIPs × weight / total weight is not whole       | 1    |
 * | idle-nodes          | baseline: a pool has fewer VIPs than up nodes                      | 1    |
 * | prefer-concentrates | prefer names a node for more VIPs (of a pool, or of all) than its  | 1    |
 * |                     | balanced count ⌈VIPs × weight / total weight⌉                      |      |
 * | overloaded          | any scenario: a node's share of a pool is above its limit          | 1    |
 * | (note) uneven-after-failure | one failure leaves a pool's VIPs unevenly spread           | 0    |
 *
 * Suggestion per pool: the VIP count that is balanced with every node up (a multiple of
 * W / gcd(weights), N for equal weights) and after any one failure (and any pair, with pairs):
 * a multiple of the lcm of those, lcm(N, N-1) for equal weights.
 */

export interface CapacityNode { name: string; weight: number }
export interface CapacityPool { name: string; vips: readonly string[] }

export interface CapacityInput {
  nodes: readonly CapacityNode[];
  pools: readonly CapacityPool[]; // the VIP set is their union
  prefer: ReadonlyMap<string, string>; // canonical VIP → node
}

export interface CapacityOptions {
  pairs?: boolean;
  maxShare?: number; // 0 < x ≤ 1; default per node: max(0.5, 2 × normal share)
  current?: ReadonlyMap<string, string>; // live holders: the baseline instead of a fresh assignment
  down?: readonly string[]; // nodes already out (the live view)
}

export interface NodeLoad {
  node: string;
  weight: number;
  vips: number;
  share: number; // of all VIPs
  normalShare: number;
  limit: number;
  poolShares: Record<string, number>;
  over: string[]; // pools whose share is above the limit
}

export interface Move { vip: string; from: string | null; to: string | null }

export interface Scenario {
  failed: string[]; // taken out in this scenario ([] for the baseline)
  down: string[]; // every node out, the baseline's included
  holders: Record<string, string>;
  moved: Move[];
  loads: NodeLoad[]; // the nodes still up
}

export type FindingKind = 'unbalanced' | 'idle-nodes' | 'prefer-concentrates' | 'overloaded';
export interface Finding { kind: FindingKind; pool?: string; node?: string; failed?: string[]; message: string }
export interface Note { kind: 'uneven-after-failure' | 'no-failover' | 'pairs-skipped'; pool?: string; message: string }

export interface Suggestion {
  pool: string;
  vips: number;
  balancedMultiple: number; // balanced with every node up: a multiple of this
  failureMultiple: number; // balanced after any one failure (any pair too, with pairs) as well
  suggested: number;
  message: string;
}

export interface CapacityPlan {
  nodes: CapacityNode[];
  pools: { name: string; vips: string[] }[];
  prefer: Record<string, string>;
  maxShare: number | null;
  baseline: Scenario;
  failures: Scenario[];
  findings: Finding[];
  notes: Note[];
  suggestions: Suggestion[];
  flagged: boolean;
}

/** Suggested counts above this are impractical (addresses cost): fall back to the all-up multiple. */
const MAX_SUGGESTED = 128;
const EPSILON = 1e-9;

export const pct = (x: number): string => `${Number((x * 100).toFixed(1))}%`;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;
const list = (xs: readonly string[]): string => (xs.length <= 2 ? xs.join(' and ') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Every VIP once, in pool order. */
export function vipsOf(input: Pick<CapacityInput, 'pools'>): string[] {
  return [...new Set(input.pools.flatMap((p) => p.vips))];
}

/** A name with both A and AAAA records is two pools: IPv4 and IPv6 clients spread over their own family. */
export function splitByFamily(pools: readonly CapacityPool[]): CapacityPool[] {
  return pools.flatMap((p) => {
    const v4 = p.vips.filter((v) => !v.includes(':')), v6 = p.vips.filter((v) => v.includes(':'));
    if (v4.length === 0 || v6.length === 0) return p.vips.length ? [p] : [];
    return [{ name: `${p.name} (A)`, vips: v4 }, { name: `${p.name} (AAAA)`, vips: v6 }];
  });
}

/** As the agents see the cluster: nodes out are not live; every other node live, mature, active and healthy. */
function members(nodes: readonly CapacityNode[], down: ReadonlySet<string>): AssignMember[] {
  return nodes.map((n) => ({ name: n.name, weight: n.weight, live: !down.has(n.name), mature: true, active: true, healthy: true }));
}

/** The map with every node of `nodes` but `down` up, from nothing. */
export function freshMap(input: CapacityInput, down: ReadonlySet<string> = new Set()): Map<string, string> {
  return assign(vipsOf(input), members(input.nodes, down), new Map(), input.prefer);
}

/** The map the survivors' agents converge to when `down` go out of `base`: dead nodes claim nothing. */
export function mapAfter(input: CapacityInput, base: ReadonlyMap<string, string>, down: ReadonlySet<string>): Map<string, string> {
  const previous = new Map([...base].filter(([, node]) => !down.has(node)));
  return assign(vipsOf(input), members(input.nodes, down), previous, input.prefer);
}

function loads(input: CapacityInput, map: ReadonlyMap<string, string>, down: ReadonlySet<string>, maxShare?: number): NodeLoad[] {
  const total = input.nodes.reduce((s, n) => s + n.weight, 0);
  const vips = vipsOf(input);
  return input.nodes.filter((n) => !down.has(n.name)).map((n) => {
    const normalShare = n.weight / total;
    const limit = maxShare ?? Math.max(0.5, 2 * normalShare);
    const held = (vs: readonly string[]) => vs.filter((v) => map.get(v) === n.name).length;
    const poolShares = Object.fromEntries(input.pools.map((p) => [p.name, held(p.vips) / p.vips.length]));
    const spread = (p: CapacityPool) => p.vips.length >= input.nodes.length - down.size; // idle pools: flagged as such
    const over = input.pools.filter((p) => spread(p) && poolShares[p.name]! > limit + EPSILON).map((p) => p.name);
    return { node: n.name, weight: n.weight, vips: held(vips), share: held(vips) / vips.length, normalShare, limit, poolShares, over };
  });
}

function scenario(input: CapacityInput, base: ReadonlyMap<string, string>, map: ReadonlyMap<string, string>, failed: string[], down: ReadonlySet<string>, maxShare?: number): Scenario {
  const moved: Move[] = [];
  for (const vip of vipsOf(input)) {
    const from = base.get(vip) ?? null, to = map.get(vip) ?? null;
    if (from !== to) moved.push({ vip, from, to });
  }
  return { failed, down: [...down].sort(), holders: Object.fromEntries([...map].sort()), moved, loads: loads(input, map, down, maxShare) };
}

/** Every set of `size` nodes out of `names` (in order). */
function combinations(names: readonly string[], size: number): string[][] {
  if (size === 0) return [[]];
  return names.flatMap((n, i) => combinations(names.slice(i + 1), size - 1).map((rest) => [n, ...rest]));
}

/** The VIP counts balanced over `nodes` are the multiples of this: W / gcd(weights). */
function balancedMultiple(nodes: readonly CapacityNode[]): number {
  const w = nodes.map((n) => n.weight);
  return w.reduce((s, x) => s + x, 0) / w.reduce(gcd);
}

function isBalanced(count: number, nodes: readonly CapacityNode[]): boolean {
  return nodes.length > 0 && count % balancedMultiple(nodes) === 0;
}

const sumWeights = (nodes: readonly CapacityNode[]): number => nodes.reduce((s, n) => s + n.weight, 0);
const equalWeights = (nodes: readonly CapacityNode[]): boolean => nodes.every((n) => n.weight === nodes[0]!.weight);

/** Idle nodes and unbalanced pools, with every (up) node in. */
function poolFindings(input: CapacityInput, baseline: Scenario, up: readonly CapacityNode[]): Finding[] {
  const out: Finding[] = [];
  for (const p of input.pools) {
    const count = p.vips.length;
    const shares = baseline.loads.map((l) => `${l.node} ${pct(l.poolShares[p.name]!)}`).join(', ');
    if (count < up.length) {
      const idle = baseline.loads.filter((l) => l.poolShares[p.name] === 0).map((l) => l.node);
      out.push({ kind: 'idle-nodes', pool: p.name, message: `${p.name}: ${plural(count, 'VIP')} for ${up.length} nodes: ${list(idle)} ${idle.length === 1 ? 'carries' : 'carry'} none of its traffic (${shares})` });
    } else if (!isBalanced(count, up)) {
      const how = equalWeights(up) ? `over ${up.length} nodes` : `by the weights of ${up.length} nodes (normal ${baseline.loads.map((l) => pct(l.normalShare)).join(', ')})`;
      out.push({ kind: 'unbalanced', pool: p.name, message: `${p.name}: ${count} VIPs cannot be balanced ${how}: ${shares}` });
    }
  }
  return out;
}

/** A prefer naming a node for more VIPs than balance gives it (of one pool, or of all of them). */
function preferFindings(input: CapacityInput, baseline: Scenario, up: readonly CapacityNode[]): Finding[] {
  const out: Finding[] = [];
  const total = sumWeights(up);
  const check = (vips: readonly string[], pool: string | undefined) => {
    for (const n of up) {
      const named = vips.filter((v) => input.prefer.get(v) === n.name).length;
      const balanced = Math.ceil((vips.length * n.weight) / total - EPSILON);
      if (named <= balanced || (!pool && out.some((f) => f.node === n.name))) continue;
      const what = `prefer names ${n.name} for ${named} of the ${vips.length} VIPs${pool ? ` of ${pool}` : ''}; balanced, it holds at most ${balanced}`;
      const share = baseline.loads.find((l) => l.node === n.name)?.poolShares[pool ?? ''];
      const message = pool && input.pools.length > 1
        ? `${what}: it concentrates ${pool}'s traffic on ${n.name} (${pct(share ?? 0)} with every node up); spread prefer over the nodes`
        : `${what}: balance wins, so ${named - balanced} of those preferences ${named - balanced === 1 ? 'is' : 'are'} not honoured; spread prefer over the nodes`;
      out.push({ kind: 'prefer-concentrates', pool, node: n.name, message });
    }
  };
  for (const p of input.pools) check(p.vips, p.name);
  if (input.pools.length > 1) check(vipsOf(input), undefined);
  return out;
}

export function describeFailure(failed: readonly string[]): string {
  return failed.length === 0 ? 'with every node up' : `if ${list(failed)} fail${failed.length === 1 ? 's' : ''}`;
}

function overloads(s: Scenario, baselineLabel: string): Finding[] {
  const when = s.failed.length ? describeFailure(s.failed) : baselineLabel;
  return s.loads.flatMap((l) => l.over.map((pool): Finding => ({
    kind: 'overloaded', pool, node: l.node, failed: s.failed,
    message: `${when}, ${l.node} carries ${pct(l.poolShares[pool]!)} of ${pool} (${(l.poolShares[pool]! / l.normalShare).toFixed(1)} × its normal ${pct(l.normalShare)}; limit ${pct(l.limit)})`,
  })));
}

/** Pools spread evenly with every node up but not after some single failure. */
function unevenNotes(input: CapacityInput, failures: readonly Scenario[], up: readonly CapacityNode[]): Note[] {
  const singles = failures.filter((s) => s.failed.length === 1);
  return input.pools.flatMap((p): Note[] => {
    if (p.vips.length < up.length || !isBalanced(p.vips.length, up)) return [];
    const uneven = singles.filter((s) => !isBalanced(p.vips.length, up.filter((n) => !s.failed.includes(n.name))));
    if (uneven.length === 0) return [];
    const worst = Math.max(...uneven.flatMap((s) => s.loads.map((l) => l.poolShares[p.name]!)));
    const after = uneven.length === singles.length ? 'any one failure' : `${list(uneven.map((s) => s.failed[0]!))} fails`;
    return [{ kind: 'uneven-after-failure', pool: p.name, message: `${p.name}: after ${after}, its ${p.vips.length} VIPs cannot spread evenly over the survivors (the busiest carries ${pct(worst)})` }];
  });
}

/** The sets of nodes each failure scenario takes out: every one, and every pair with `pairs`. */
function failureSets(up: readonly CapacityNode[], pairs: boolean): string[][] {
  const names = up.map((n) => n.name);
  return [...(names.length >= 2 ? combinations(names, 1) : []), ...(pairs && names.length >= 3 ? combinations(names, 2) : [])];
}

function suggestion(pool: CapacityPool, up: readonly CapacityNode[], pairs: boolean): Suggestion {
  const allUp = balancedMultiple(up);
  let multiple = allUp;
  for (const out of failureSets(up, pairs)) multiple = lcm(multiple, balancedMultiple(up.filter((n) => !out.includes(n.name))));
  const count = pool.vips.length;
  const target = multiple <= MAX_SUGGESTED ? multiple : allUp;
  const suggested = Math.max(target, Math.round(count / target) * target);
  const n = up.length;
  const lcmText = equalWeights(up) && multiple > allUp ? ` = lcm(${[n, n - 1, ...(pairs && n >= 4 ? [n - 2] : [])].join(', ')})` : '';
  const failuresText = `after any one failure${pairs && n >= 3 ? ' or pair of failures' : ''}`;
  let message: string;
  if (count % multiple === 0) message = `${pool.name}: ${count} VIPs balance with every node up and ${failuresText}`;
  else if (target === multiple) message = `${pool.name}: ${suggested} VIPs instead of ${count}: a multiple of ${multiple}${lcmText} balances with every node up and ${failuresText}`;
  else message = `${pool.name}: ${suggested} VIPs instead of ${count}: a multiple of ${allUp} balances with every node up (${failuresText} would take a multiple of ${multiple})`;
  return { pool: pool.name, vips: count, balancedMultiple: allUp, failureMultiple: multiple, suggested, message };
}

function notes(input: CapacityInput, failures: readonly Scenario[], up: readonly CapacityNode[], pairs: boolean): Note[] {
  const out: Note[] = [];
  if (up.length < 2) out.push({ kind: 'no-failover', message: `${plural(up.length, 'node')} up: there is no survivor to fail over to` });
  else if (pairs && up.length < 3) out.push({ kind: 'pairs-skipped', message: `${up.length} nodes up: a pair of failures leaves no survivor` });
  return [...out, ...unevenNotes(input, failures, up)];
}

/**
 * The whole plan: the baseline map, every single failure (and pair, with `pairs`), what moves,
 * each survivor's share, what to act on, and the VIP count to aim for. Pure.
 */
export function planCapacity(input: CapacityInput, opts: CapacityOptions = {}): CapacityPlan {
  const out = new Set(opts.down ?? []);
  const up = input.nodes.filter((n) => !out.has(n.name));
  const isUp = (node: string) => up.some((n) => n.name === node);
  const baseMap = opts.current ? new Map([...opts.current].filter(([, node]) => isUp(node))) : freshMap(input, out);
  const baseline = scenario(input, baseMap, baseMap, [], out, opts.maxShare);
  const failures = failureSets(up, opts.pairs === true).map((failed) => {
    const down = new Set([...out, ...failed]);
    return scenario(input, baseMap, mapAfter(input, baseMap, down), failed, down, opts.maxShare);
  });
  const findings = [
    ...poolFindings(input, baseline, up), ...preferFindings(input, baseline, up),
    ...[baseline, ...failures].flatMap((s) => overloads(s, opts.current ? 'now' : 'with every node up')),
  ];
  return {
    nodes: input.nodes.map((n) => ({ ...n })),
    pools: input.pools.map((p) => ({ name: p.name, vips: [...p.vips] })),
    prefer: Object.fromEntries(input.prefer),
    maxShare: opts.maxShare ?? null,
    baseline, failures, findings,
    notes: notes(input, failures, up, opts.pairs === true),
    suggestions: up.length >= 2 ? input.pools.map((p) => suggestion(p, up, opts.pairs === true)) : [],
    flagged: findings.length > 0,
  };
}
