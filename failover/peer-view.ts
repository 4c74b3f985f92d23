// This node's view of its peers as the planner needs it (alive, mature, claims, fresh handoffs), and their up/down edges.
import type { Membership } from './membership.js';
import type { PeerView } from './planner.js';

export type PeerChange = 'up' | 'down' | 'left';

export class PeerTracker {
  private readonly aliveNow = new Set<string>();
  private readonly leftAt = new Map<string, number>();

  constructor(
    private readonly membership: Membership,
    private readonly names: readonly string[],
    private readonly weights: ReadonlyMap<string, number>,
    private readonly handoffTimeoutMs: number,
  ) {}

  /** Peers whose liveness changed since the last call, each reported once, on the edge. */
  edges(now: number): Array<{ node: string; change: PeerChange; incarnation?: number }> {
    const out: Array<{ node: string; change: PeerChange; incarnation?: number }> = [];
    for (const name of this.names) {
      const p = this.membership.get(name);
      const alive = p !== undefined && this.membership.isAlive(p, now);
      if (alive === this.aliveNow.has(name)) continue;
      const change: PeerChange = alive ? 'up' : p?.left ? 'left' : 'down';
      if (alive) this.aliveNow.add(name); else this.aliveNow.delete(name);
      if (change === 'left') this.leftAt.set(name, now);
      out.push({ node: name, change, incarnation: p?.incarnation });
    }
    return out;
  }

  /**
   * Dead peers claim nothing. A peer that left a moment ago (its 'leaving' packet) still
   * counts for its handoffs, which name the nodes that take over its VIPs.
   */
  views(now: number): PeerView[] {
    return this.names.map((name) => {
      const p = this.membership.get(name);
      const weight = this.weights.get(name) ?? 1;
      if (!p) return { name, weight, alive: false, mature: false, state: 'joining', health: 'unknown', held: [], handoffs: [] };
      const alive = this.membership.isAlive(p, now);
      const recentlyLeft = p.left && now - (this.leftAt.get(name) ?? now) < this.handoffTimeoutMs;
      return {
        name, weight, alive, mature: this.membership.isMature(p, now), state: p.state, health: p.health,
        held: alive ? p.held : [], handoffs: alive || recentlyLeft ? p.handoffs : [],
      };
    });
  }
}
