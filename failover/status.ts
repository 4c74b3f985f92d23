// The agent's status as plain JSON data: members, VIP → holder, recent moves, counters (for the status API and metrics).
import type { Health, NodeState } from './heartbeat.js';
import type { DropReason, Membership } from './membership.js';
import type { Plan } from './planner.js';

export interface MoveRecord {
  kind: 'acquire' | 'release';
  vip: string;
  reason: string;
  to?: string;
  atMs: number;
}

export interface VipStatus {
  vip: string;
  holder: string | null; // the winning live claimant in this node's view
  holderForMs?: number; // how long this node has seen that holder hold it
  target: string | null; // who the assignment says should hold it
  heldHere: boolean;
  heldHereForMs?: number;
  duplicate: boolean; // more than one live node claims it right now
  handoffTo?: string; // this node released it for that node, which has not claimed it yet
  quietHere?: boolean; // released quietly: the address is still on this node's interface, not answering ARP
}

export interface PeerStatus {
  name: string;
  alive: boolean;
  mature: boolean;
  state: NodeState | 'unknown';
  health: Health;
  incarnation?: number;
  lastSeenAgoMs?: number;
  rttMs?: number;
  held: string[];
  configMatches?: boolean;
}

export interface AgentStatus {
  node: string;
  state: NodeState;
  health: Health;
  healthReason?: string;
  incarnation: number;
  vips: VipStatus[];
  peers: PeerStatus[];
  moves: MoveRecord[];
  counters: {
    heartbeatsSent: number;
    heartbeatsAccepted: number;
    heartbeatsDropped: Record<DropReason, number>;
    acquisitions: number;
    releases: number;
    driverErrors: number;
  };
}

export interface StatusInput {
  node: string;
  state: NodeState;
  health: Health;
  healthReason?: string;
  incarnation: number;
  now: number;
  vips: readonly string[];
  held: ReadonlyMap<string, { sinceMs: number }>;
  plan?: Plan;
  holderSince: ReadonlyMap<string, number>;
  membership: Membership;
  peers: readonly string[];
  digest: string;
  moves: readonly MoveRecord[];
  counters: { heartbeatsSent: number; acquisitions: number; releases: number; driverErrors: number };
  handoffs: ReadonlyMap<string, { to: string }>;
  lingering?: ReadonlyMap<string, unknown>;
}

function peerStatus(s: StatusInput, name: string): PeerStatus {
  const p = s.membership.get(name);
  if (!p) return { name, alive: false, mature: false, state: 'unknown', health: 'unknown', held: [] };
  const alive = s.membership.isAlive(p, s.now);
  return {
    name, alive, mature: s.membership.isMature(p, s.now), state: p.left ? 'leaving' : p.state, health: p.health,
    incarnation: p.incarnation, lastSeenAgoMs: Math.round(s.now - p.lastSeenMs), rttMs: p.rttMs,
    held: alive ? p.held.map((h) => h.vip) : [], configMatches: p.configDigest === s.digest,
  };
}

export function buildStatus(s: StatusInput): AgentStatus {
  const vips = s.vips.map((vip): VipStatus => {
    const h = s.held.get(vip);
    const since = s.holderSince.get(vip);
    return {
      vip, holder: s.plan?.holders.get(vip) ?? null, holderForMs: since === undefined ? undefined : Math.round(s.now - since), target: s.plan?.target.get(vip) ?? null, heldHere: h !== undefined,
      heldHereForMs: h ? Math.round(s.now - h.sinceMs) : undefined, duplicate: s.plan?.duplicates.has(vip) ?? false,
      handoffTo: s.handoffs.get(vip)?.to,
      ...(s.lingering?.has(vip) ? { quietHere: true } : {}),
    };
  });
  return {
    node: s.node, state: s.state, health: s.health, healthReason: s.healthReason, incarnation: s.incarnation, vips,
    peers: s.peers.map((n) => peerStatus(s, n)), moves: [...s.moves],
    counters: { ...s.counters, heartbeatsAccepted: s.membership.accepted, heartbeatsDropped: { ...s.membership.drops } },
  };
}
