// One pure decision step of the agent: from this node's view of the cluster, which VIPs to acquire and release now.
import { assign, stableHash, type AssignMember } from './assignment.js';
import { resolveHolders, type Claim } from './claims.js';
import type { Handoff, Health, HeldVip, NodeState } from './heartbeat.js';

/*
 * For each VIP, with holder = the winning live claimant and target = assign(...):
 *
 * | this node            | holder      | target / handoff                         | action                      |
 * |----------------------|-------------|------------------------------------------|-----------------------------|
 * | holds it, lost dup   | other node  | -                                        | release ('duplicate')       |
 * | holds it             | this node   | target is another node                   | release, hand off to target |
 * | holds it             | this node   | target is this node or nobody            | keep                        |
 * | holds it, not in set | -           | -                                        | release ('unconfigured')    |
 * | doesn't hold it      | a live node | -                                        | wait (planned move: the     |
 * |                      |             |                                          | holder releases first)      |
 * | doesn't hold it      | nobody      | a live peer hands it to this node (not   | acquire ('handoff')         |
 * |                      |             | stale: gen ≥ newest seen), node active   |                             |
 * | doesn't hold it      | nobody      | a live peer hands it to another live node| wait for that node          |
 * | doesn't hold it      | nobody      | target is this node, and this node has   | acquire ('unheld'): a dead  |
 * |                      |             | been active for 2 heartbeats (settling)  | or leaving holder, or new   |
 * | otherwise            |             |                                          | nothing                     |
 *
 * VIPs in `busy` (a driver operation in flight or backing off) are left alone.
 */

export interface SelfView {
  name: string;
  state: NodeState;
  health: Health;
  weight: number;
  held: ReadonlyMap<string, number>; // vip → gen
  settling?: boolean; // just became active: peers have not seen it yet, so take no unheld VIP
}

export interface PeerView {
  name: string;
  weight: number;
  alive: boolean;
  mature: boolean;
  state: NodeState;
  health: Health;
  held: readonly HeldVip[];
  handoffs: readonly Handoff[]; // only from live peers and peers that left moments ago
}

export interface PlanInput {
  self: SelfView;
  peers: readonly PeerView[];
  vips: readonly string[];
  prefs: ReadonlyMap<string, string>;
  busy: ReadonlySet<string>;
  gens?: ReadonlyMap<string, number>; // highest gen seen per VIP; a handoff below it is stale
}

export type ReleaseReason = 'duplicate' | 'rebalance' | 'prefer' | 'unhealthy' | 'drain' | 'joining' | 'unconfigured';
export type Action =
  | { kind: 'acquire'; vip: string; via: 'handoff' | 'unheld' }
  | { kind: 'release'; vip: string; reason: ReleaseReason; to?: string };

export interface Plan {
  holders: Map<string, string>; // VIP → winning live claimant
  target: Map<string, string>; // VIP → assigned node
  duplicates: Set<string>; // VIPs claimed by more than one live node
  actions: Action[];
}

/** Every live claim, this node's included. */
export function collectClaims(self: SelfView, peers: readonly PeerView[]): Map<string, Claim[]> {
  const claims = new Map<string, Claim[]>();
  const add = (vip: string, c: Claim) => claims.set(vip, [...(claims.get(vip) ?? []), c]);
  for (const [vip, gen] of self.held) add(vip, { node: self.name, gen, state: self.state, health: self.health });
  for (const p of peers) {
    if (!p.alive) continue;
    for (const h of p.held) add(h.vip, { node: p.name, gen: h.gen, state: p.state, health: p.health });
  }
  return claims;
}

export function members(self: SelfView, peers: readonly PeerView[]): AssignMember[] {
  const active = self.state === 'active';
  return [
    { name: self.name, weight: self.weight, live: true, mature: active, active, healthy: self.health === 'healthy' },
    ...peers.map((p) => ({ name: p.name, weight: p.weight, live: p.alive, mature: p.mature, active: p.state === 'active', healthy: p.health === 'healthy' })),
  ];
}

function releaseReason(input: PlanInput, vip: string, to: string): ReleaseReason {
  const { self } = input;
  if (self.state === 'draining' || self.state === 'leaving') return 'drain';
  if (self.state === 'joining') return 'joining';
  if (self.health !== 'healthy' && input.peers.some((p) => p.name === to && p.health === 'healthy')) return 'unhealthy';
  return input.prefs.get(vip) === to ? 'prefer' : 'rebalance';
}

/** Acquire decision for a VIP nobody live claims. */
function unheldAction(input: PlanInput, vip: string, target: Map<string, string>): Action | undefined {
  const me = input.self.name;
  // The caller passes handoffs of live peers and of peers that just left (a 'leaving' packet names recipients).
  // A handoff is stale once the VIP was claimed at a higher gen (it moved on since): ignore it.
  const newest = input.gens?.get(vip) ?? 0;
  const offers = input.peers.flatMap((p) => p.handoffs.filter((h) => h.vip === vip && h.gen >= newest));
  if (offers.some((h) => h.to === me) && input.self.state === 'active') return { kind: 'acquire', vip, via: 'handoff' };
  const aliveOther = (n: string) => n !== me && input.peers.some((p) => p.name === n && p.alive);
  if (offers.some((h) => aliveOther(h.to))) return undefined;
  return target.get(vip) === me && !input.self.settling ? { kind: 'acquire', vip, via: 'unheld' } : undefined;
}

/** The actions for this node now (see the table above); pure, so tests and `roamdns plan` can call it. */
export function plan(input: PlanInput): Plan {
  const { self, vips, prefs, busy } = input;
  const claims = collectClaims(self, input.peers);
  const holders = resolveHolders(claims);
  const target = assign(vips, members(self, input.peers), holders, prefs);
  const duplicates = new Set([...claims].filter(([, c]) => c.length > 1).map(([v]) => v));
  const configured = new Set(vips);
  const actions: Action[] = [];
  for (const vip of [...self.held.keys()].sort()) {
    if (busy.has(vip)) continue;
    if (!configured.has(vip)) actions.push({ kind: 'release', vip, reason: 'unconfigured' });
    else if (holders.get(vip) !== self.name) actions.push({ kind: 'release', vip, reason: 'duplicate' });
    else {
      const to = target.get(vip);
      if (to !== undefined && to !== self.name) actions.push({ kind: 'release', vip, reason: releaseReason(input, vip, to), to });
    }
  }
  for (const vip of [...configured].sort()) {
    if (busy.has(vip) || self.held.has(vip) || holders.has(vip)) continue;
    const a = unheldAction(input, vip, target);
    if (a) actions.push(a);
  }
  return { holders, target, duplicates, actions };
}

/**
 * Where this node's VIPs go when it stops: the assignment computed without it, and for
 * a VIP that leaves no answer (nobody mature or healthy), the live active peer holding
 * the fewest VIPs. Naming a recipient in the 'leaving' packet makes every other node
 * wait for it, so even a stop amid disagreeing views never gives a VIP two holders.
 */
export function leavingTargets(input: PlanInput): Map<string, string> {
  const me = input.self.name;
  const holders = resolveHolders(collectClaims({ ...input.self, held: new Map() }, input.peers));
  const others = members(input.self, input.peers).map((m) => (m.name === me ? { ...m, live: false } : m));
  const target = assign(input.vips, others, holders, input.prefs);
  const load = new Map<string, number>();
  for (const n of target.values()) load.set(n, (load.get(n) ?? 0) + 1);
  const willing = input.peers.filter((p) => p.alive && p.state === 'active').map((p) => p.name);
  for (const vip of [...input.self.held.keys()].sort()) {
    if (target.has(vip) || willing.length === 0) continue;
    const score = (n: string) => (load.get(n) ?? 0) * 2 ** 32 - stableHash(`${vip}\u0000${n}`);
    const to = [...willing].sort((a, b) => score(a) - score(b) || (a < b ? -1 : 1))[0]!;
    target.set(vip, to);
    load.set(to, (load.get(to) ?? 0) + 1);
  }
  return target;
}
