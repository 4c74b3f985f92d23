// The peer table: accepts authenticated, fresh heartbeats from configured nodes and says who is alive and mature.
import type { Clock } from './deps.js';
import { decodeHeartbeat, extensionRecipient, type Handoff, type Health, type Heartbeat, type HeldVip, type NodeState } from './heartbeat.js';
import { canonicalIp } from './ip.js';

/*
 * Peer liveness, per configured peer, as this node sees it (now = clock.now()):
 *
 * | condition                                              | peer is  | aliveSince   |
 * |--------------------------------------------------------|----------|--------------|
 * | never heard                                            | unknown  | -            |
 * | valid packet, peer was unknown/dead/left               | alive    | reset to now |
 * | valid packet with a higher incarnation (it restarted)  | alive    | reset to now |
 * | valid packet, same incarnation, peer alive             | alive    | kept         |
 * | now - lastSeen >= deadAfterMs                          | dead     | -            |
 * | 'leaving' packet                                       | left     | -            |
 * | alive and now - aliveSince >= matureMs                 | mature   | -            |
 *
 * Replay rule: a packet addressed to another node (the recipient in its extensions), a
 * lower incarnation, or a seq not above the last accepted one within the same
 * incarnation, is refused ('replay') and changes nothing. Seqs count per sender, so
 * without the recipient check a packet meant for one peer, replayed to another, would
 * pass the seq check (and revive a crashed sender: its last packet to the other peer).
 */

export type DropReason = 'malformed' | 'wrong-version' | 'bad-mac' | 'unknown-node' | 'wrong-source' | 'self' | 'replay';
export const DROP_REASONS: readonly DropReason[] = ['malformed', 'wrong-version', 'bad-mac', 'unknown-node', 'wrong-source', 'self', 'replay'];

export interface PeerConfig {
  name: string;
  address?: string; // when set (and checkSource), packets claiming this name must come from it
}

export interface Peer {
  name: string;
  incarnation: number;
  seq: number;
  lastSeenMs: number;
  aliveSinceMs: number;
  left: boolean;
  state: NodeState;
  health: Health;
  held: HeldVip[];
  handoffs: Handoff[];
  configDigest: string;
  address?: string;
  theirTimestampMs: number; // for the echo in our next heartbeat to them
  theirTimestampAtMs: number; // our clock when we got it
  rttMs?: number;
}

export type ReceiveResult =
  | { ok: true; peer: Peer; packet: Heartbeat; changed: boolean }
  | { ok: false; reason: DropReason; detail: string };

export interface MembershipOptions {
  self: string;
  peers: PeerConfig[];
  key: Uint8Array;
  clock: Clock;
  deadAfterMs: number;
  matureMs: number;
  checkSource?: boolean; // default true
}

/** IPv4-mapped IPv6 (dual-stack sockets) compares equal to the IPv4 address. */
function sameAddress(a: string, b: string): boolean {
  const norm = (s: string) => canonicalIp(s.replace(/^::ffff:(?=\d+\.)/i, '')) ?? s;
  return norm(a) === norm(b);
}

function heldEqual(a: HeldVip[], b: HeldVip[]): boolean {
  return a.length === b.length && a.every((h, i) => h.vip === b[i]!.vip && h.gen === b[i]!.gen);
}

export class Membership {
  readonly drops: Record<DropReason, number>;
  accepted = 0;
  private readonly peers = new Map<string, Peer>();
  private readonly config = new Map<string, PeerConfig>();

  constructor(private readonly opts: MembershipOptions) {
    this.drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    for (const p of opts.peers) if (p.name !== opts.self) this.config.set(p.name, p);
  }

  private drop(reason: DropReason, detail: string): ReceiveResult {
    this.drops[reason]++;
    return { ok: false, reason, detail };
  }

  /** Validates one datagram and updates the table; never throws. */
  receive(bytes: Uint8Array, from?: { address: string; port?: number }): ReceiveResult {
    const decoded = decodeHeartbeat(bytes, this.opts.key);
    if (!decoded.ok) return this.drop(decoded.reason, decoded.detail);
    const p = decoded.packet;
    if (p.node === this.opts.self) return this.drop('self', 'packet carries this node\'s own name');
    const cfg = this.config.get(p.node);
    if (!cfg) return this.drop('unknown-node', `node "${p.node}" is not in cluster.nodes`);
    if (this.opts.checkSource !== false && cfg.address && from && !sameAddress(from.address, cfg.address)) {
      return this.drop('wrong-source', `"${p.node}" is configured at ${cfg.address}, packet came from ${from.address}`);
    }
    const to = extensionRecipient(p.extensions); // none: an agent from before the recipient was named
    if (to !== undefined && to !== this.opts.self) return this.drop('replay', `"${p.node}" addressed this packet to "${to}"`);
    const known = this.peers.get(p.node);
    if (known && (p.incarnation < known.incarnation || (p.incarnation === known.incarnation && p.seq <= known.seq))) {
      return this.drop('replay', `incarnation ${p.incarnation} seq ${p.seq} not after ${known.incarnation}/${known.seq}`);
    }
    return this.accept(p, known, from?.address);
  }

  private accept(p: Heartbeat, known: Peer | undefined, address: string | undefined): ReceiveResult {
    const now = this.opts.clock.now();
    const wasAlive = known !== undefined && this.isAlive(known, now);
    const restarted = known !== undefined && p.incarnation > known.incarnation;
    const left = p.type === 'leaving' || p.state === 'leaving';
    const changed = !known || !wasAlive || restarted || left !== known.left || known.state !== p.state ||
      known.health !== p.health || !heldEqual(known.held, p.held) || known.handoffs.length !== p.handoffs.length ||
      known.handoffs.some((h, i) => h.vip !== p.handoffs[i]!.vip || h.to !== p.handoffs[i]!.to || h.gen !== p.handoffs[i]!.gen);
    const peer: Peer = {
      name: p.node, incarnation: p.incarnation, seq: p.seq, lastSeenMs: now,
      aliveSinceMs: wasAlive && !restarted ? known.aliveSinceMs : now,
      left, state: p.state, health: p.health, held: p.held, handoffs: p.handoffs, configDigest: p.configDigest,
      address, theirTimestampMs: p.timestampMs, theirTimestampAtMs: now, rttMs: known?.rttMs,
    };
    if (p.echoTimestampMs > 0 && now >= p.echoTimestampMs + p.echoDelayMs) peer.rttMs = now - p.echoTimestampMs - p.echoDelayMs;
    this.peers.set(p.node, peer);
    this.accepted++;
    return { ok: true, peer, packet: p, changed };
  }

  isAlive(peer: Peer, now = this.opts.clock.now()): boolean {
    return !peer.left && now - peer.lastSeenMs < this.opts.deadAfterMs;
  }

  isMature(peer: Peer, now = this.opts.clock.now()): boolean {
    return this.isAlive(peer, now) && now - peer.aliveSinceMs >= this.opts.matureMs;
  }

  get(name: string): Peer | undefined {
    return this.peers.get(name);
  }

  /** Every configured peer heard at least once (sorted by name), alive or not. */
  known(): Peer[] {
    return [...this.peers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  configured(): PeerConfig[] {
    return [...this.config.values()];
  }

  /**
   * After this process itself was stalled (SIGSTOP, swapped out) its peers' silence is
   * our fault, not theirs: give every peer that was alive before the stall a fresh
   * dead_after from now, so that a resumed node does not grab every VIP.
   */
  forgiveStall(stallStartMs: number, now = this.opts.clock.now()): void {
    for (const p of this.peers.values()) if (this.isAlive(p, stallStartMs)) p.lastSeenMs = now;
  }

  /** When the next peer goes dead if nothing arrives (for precise timers), or undefined. */
  nextDeathAt(now = this.opts.clock.now()): number | undefined {
    let next: number | undefined;
    for (const p of this.peers.values()) {
      if (!this.isAlive(p, now)) continue;
      const at = p.lastSeenMs + this.opts.deadAfterMs;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }
}
