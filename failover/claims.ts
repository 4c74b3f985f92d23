// Who holds a VIP when several live nodes claim it (split brain, a frozen node resuming): one rule every node computes alike.
import { stableHash } from './assignment.js';
import type { Health, NodeState } from './heartbeat.js';

/*
 * Duplicate claims are resolved from data every claimant publishes in its heartbeats,
 * never from the observer's own view of the cluster, so both sides of a healed
 * partition pick the same winner from the first heartbeat they exchange:
 *
 * | rank | the winner is the claimant …                 | why                                         |
 * |------|-----------------------------------------------|---------------------------------------------|
 * | 1    | in state active (over draining, joining)      | a joining node's leftover alias yields      |
 * | 2    | healthy (over unknown, over unhealthy)        | serve from a node whose service works       |
 * | 3    | with the lower gen (the older claim)          | the pre-partition holder keeps it: balance  |
 * |      |                                               | is restored without further moves           |
 * | 4    | with the higher hash(vip, node)               | total order, nothing left to chance         |
 *
 * Losers release at once; the winner re-announces (gratuitous ARP) once the duplicate
 * is gone, since the loser's announcements may have redirected traffic.
 */

export interface Claim {
  node: string;
  gen: number;
  state: NodeState;
  health: Health;
}

const STATE_RANK: Record<NodeState, number> = { active: 0, draining: 1, joining: 2, leaving: 3 };
const HEALTH_RANK: Record<Health, number> = { healthy: 0, unknown: 1, unhealthy: 2 };

/** Negative when claim a beats claim b for this VIP. */
export function compareClaims(vip: string, a: Claim, b: Claim): number {
  return (
    STATE_RANK[a.state] - STATE_RANK[b.state] ||
    HEALTH_RANK[a.health] - HEALTH_RANK[b.health] ||
    a.gen - b.gen ||
    stableHash(`${vip}\u0000${b.node}`) - stableHash(`${vip}\u0000${a.node}`) ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)
  );
}

/** The winning claim, or undefined when nobody claims the VIP. */
export function winningClaim(vip: string, claims: readonly Claim[]): Claim | undefined {
  let best: Claim | undefined;
  for (const c of claims) if (!best || compareClaims(vip, c, best) < 0) best = c;
  return best;
}

/** VIP → winning holder, for every claimed VIP. */
export function resolveHolders(claims: ReadonlyMap<string, readonly Claim[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [vip, list] of claims) {
    const w = winningClaim(vip, list);
    if (w) out.set(vip, w.node);
  }
  return out;
}
