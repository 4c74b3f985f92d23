// The agent's state machine: heartbeats out, heartbeats in, one plan per change, and the driver calls that carry it out.
import type { Clock, Logger, Timers, TimerHandle } from './deps.js';
import type { VipDriver } from './driver.js';
import type { Health, NodeState, PacketType } from './heartbeat.js';
import { Holdings, type MoveEvent } from './holdings.js';
import { Membership, type DropReason, type ReceiveResult } from './membership.js';
import type { Notifier } from './notify.js';
import { configDigest, preferMap, vipSpecs, type AgentOptions } from './options.js';
import { Outbox, type PeerAddress } from './outbox.js';
import { PeerTracker } from './peer-view.js';
import { leavingTargets, plan, type Plan } from './planner.js';
import { createProbe, HealthMonitor, type Probe } from './service-check.js';
import { buildStatus, type AgentStatus } from './status.js';

/*
 * This node's state (peers see it in every heartbeat):
 *
 * | state    | entered on                      | may acquire | what happens to its VIPs                  |
 * |----------|---------------------------------|-------------|-------------------------------------------|
 * | joining  | start()                         | no          | leftovers from a crash are handed off     |
 * | active   | matureMs after start; undrain() | yes         | kept, balanced by the assignment          |
 * | draining | drain()                         | no          | handed off to eligible peers (kept if none)|
 * | leaving  | stop()                          | no          | all released, 'leaving' sent each heartbeat|
 * |          |                                 |             | until the recipients claimed them (quiet  |
 * |          |                                 |             | release: the aliases linger till then)    |
 *
 * Moves: a planned move releases first and names the recipient (a handoff in the
 * heartbeat); the recipient acquires when it sees the VIP released. A dead or leaving
 * holder's VIPs are taken by the assignment's choice at once. See planner.ts.
 */

export type { PeerAddress };

/** How often the interface is compared with what this node holds (Holdings.repair). */
export const REPAIR_INTERVAL_MS = 5000;

export interface AgentDeps {
  clock: Clock;
  timers: Timers;
  log: Logger;
  send: (to: PeerAddress, bytes: Buffer) => void; // UDP sendto; must not throw for network errors
  driver: VipDriver;
  notify?: Notifier;
  probe?: Probe; // default: built from options.serviceCheck
  onEvent?: (e: AgentEvent) => void;
  incarnation?: number; // default Date.now(): a restart gets a higher one
}

export type AgentEvent =
  | MoveEvent
  | { type: 'peer'; node: string; change: 'up' | 'down' | 'left'; atMs: number }
  | { type: 'state'; from: NodeState; to: NodeState; atMs: number }
  | { type: 'health'; from: Health; to: Health; reason: string; atMs: number };

export class Agent {
  readonly membership: Membership;
  readonly incarnation: number;
  readonly vipsHere: Holdings;
  private nodeState: NodeState = 'joining';
  private readonly outbox: Outbox;
  private vips: string[];
  private prefs: Map<string, string>;
  private readonly weights: Map<string, number>;
  private readonly peers: PeerAddress[];
  private digest: string;
  private lastVips: Set<string>;
  private readonly monitor?: HealthMonitor;
  private readonly lastHolder = new Map<string, string>();
  private readonly holderSince = new Map<string, number>();
  private readonly dupSeen = new Set<string>();
  private readonly tracker: PeerTracker;
  private readonly warnedDrops = new Set<string>();
  private startedAtMs = 0;
  private activeSinceMs = Number.POSITIVE_INFINITY;
  private lastWakeMs?: number;
  private lastPlan?: Plan;
  private running = false;
  private stopping?: Promise<void>;
  private sendQueued = false;
  private tickTimer?: TimerHandle;
  private deathTimer?: { handle: TimerHandle; at: number };
  private repairTimer?: TimerHandle;

  constructor(readonly o: AgentOptions, private readonly d: AgentDeps) {
    this.incarnation = d.incarnation ?? Date.now();
    this.vips = vipSpecs(o).map((s) => s.address);
    this.prefs = preferMap(o);
    this.weights = new Map(Object.entries(o.nodes).map(([n, s]) => [n, s.weight ?? 1]));
    this.peers = Object.entries(o.nodes).filter(([n]) => n !== o.nodeName).map(([name, s]) => ({ name, address: s.address, port: s.port ?? o.port }));
    this.digest = configDigest(o);
    this.lastVips = new Set(this.vips);
    this.membership = new Membership({
      self: o.nodeName, peers: this.peers.map((p) => ({ name: p.name, address: p.address })), key: o.secret, clock: d.clock,
      deadAfterMs: o.deadAfterMs, matureMs: o.matureMs, checkSource: o.checkSource,
    });
    if (o.serviceCheck) {
      const { target, timeoutMs, intervalMs, rise, fall } = o.serviceCheck;
      this.monitor = new HealthMonitor({
        probe: d.probe ?? createProbe(target, timeoutMs), intervalMs, rise, fall, timers: d.timers,
        onChange: (from, to, reason) => this.healthChanged(from, to, reason),
      });
    }
    this.tracker = new PeerTracker(this.membership, this.peers.map((p) => p.name), this.weights, o.handoffTimeoutMs);
    this.outbox = new Outbox({
      node: o.nodeName, incarnation: this.incarnation, key: o.secret, digest: this.digest, peers: this.peers,
      membership: this.membership, send: d.send, log: d.log,
    });
    this.vipsHere = new Holdings({
      driver: d.driver, clock: d.clock, log: d.log, iface: o.interface, notify: d.notify,
      emit: (e) => this.emit(e), changed: () => this.sendSoon(),
    });
  }

  /** This node's state, as its heartbeats announce it. */
  get state(): NodeState {
    return this.nodeState;
  }

  /** Own service health: 'healthy' when no service check is configured. */
  get health(): Health {
    return this.monitor?.health ?? 'healthy';
  }

  /** VIP → {gen, sinceMs} of every VIP this node claims. */
  get held(): ReadonlyMap<string, { gen: number; sinceMs: number }> {
    return this.vipsHere.held;
  }

  private emit(e: AgentEvent): void {
    try { this.d.onEvent?.(e); } catch (err) { this.d.log.error({ err }, 'agent event listener threw'); }
  }

  /**
   * Checks the driver can work (CAP_NET_ADMIN), reconciles the interface (stale aliases
   * out, configured ones kept as claims), then starts heartbeating. Rejects with the
   * driver's DriverError when it cannot.
   */
  async start(): Promise<void> {
    await this.d.driver.preflight?.();
    const present = await this.d.driver.reconcile();
    this.startedAtMs = this.d.clock.now();
    for (const vip of present) {
      this.vipsHere.adopt(vip);
      this.d.log.info({ vip, reason: 'reconcile' }, 'alias already present, claimed while joining');
    }
    this.running = true;
    this.d.log.info({ node: this.o.nodeName, incarnation: this.incarnation, peers: this.peers.length, vips: this.vips.length }, 'agent started');
    this.tick();
    this.scheduleRepair();
    this.monitor?.start();
  }

  /** Feeds one received datagram (from the UDP socket); never throws. */
  receive(bytes: Uint8Array, from?: { address: string; port?: number }): ReceiveResult | undefined {
    try {
      return this.handle(bytes, from);
    } catch (err) {
      this.d.log.error({ err, from: from?.address }, 'bug: heartbeat handler threw');
      return undefined;
    }
  }

  private handle(bytes: Uint8Array, from?: { address: string; port?: number }): ReceiveResult | undefined {
    if (!this.running) return undefined;
    this.wake(); // after a stall, forgive peers before this packet makes the others look dead
    const r = this.membership.receive(bytes, from);
    if (!r.ok) {
      this.noteDrop(r.reason, r.detail, from?.address);
      return r;
    }
    for (const h of r.packet.held) this.vipsHere.noteGen(h.vip, h.gen);
    if (r.packet.configDigest !== this.digest && !this.warnedDrops.has(`digest:${r.peer.name}:${r.packet.configDigest}`)) {
      this.warnedDrops.add(`digest:${r.peer.name}:${r.packet.configDigest}`);
      this.d.log.warn({ peer: r.peer.name, theirs: r.packet.configDigest, ours: this.digest }, 'peer has a different VIP set, nodes or prefer: assignments may disagree');
    }
    if (r.changed) this.evaluate();
    return r;
  }

  private noteDrop(reason: DropReason, detail: string, from?: string): void {
    const level = this.warnedDrops.has(reason) || reason === 'replay' ? 'debug' : 'warn';
    this.warnedDrops.add(reason);
    this.d.log[level]({ reason, detail, from }, 'heartbeat dropped');
  }

  /**
   * Takes a new VIP set (the zone's A/AAAA records changed): VIPs no longer listed are released
   * here first, new ones enter the assignment. Peers see a different digest until they update too.
   */
  async setVips(o: Pick<AgentOptions, 'vips' | 'prefer'>): Promise<void> {
    const specs = vipSpecs(o);
    const next = specs.map((s) => s.address);
    const removed = this.vips.filter((v) => !next.includes(v));
    await Promise.allSettled(removed.filter((v) => this.held.has(v)).map((v) => this.vipsHere.release(v, 'removed from zone')));
    this.d.driver.setVips?.(specs);
    this.vips = next;
    this.prefs = preferMap(o);
    this.digest = configDigest({ ...this.o, ...o });
    this.outbox.setDigest(this.digest);
    this.d.log.info({ added: next.filter((v) => !removed.includes(v) && !this.lastVips.has(v)), removed }, 'VIP set changed');
    this.lastVips = new Set(next);
    this.evaluate();
    this.sendSoon();
  }

  drain(): void {
    if (this.state !== 'joining' && this.state !== 'active') return;
    this.setState('draining');
    this.evaluate();
    this.sendSoon();
  }

  undrain(): void {
    if (this.state !== 'draining') return;
    this.setState(this.d.clock.now() - this.startedAtMs >= this.o.matureMs ? 'active' : 'joining');
    this.evaluate();
    this.sendSoon();
  }

  /** Releases every VIP (handing each to its next holder), tells the peers 'leaving', resolves. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (!this.running) return;
    this.setState('leaving');
    for (const t of [this.tickTimer, this.deathTimer?.handle, this.repairTimer]) if (t !== undefined) this.d.timers.clearTimeout(t);
    this.monitor?.stop();
    await this.vipsHere.settled();
    const next = leavingTargets(this.planInput(this.d.clock.now()));
    await Promise.allSettled([...this.held.keys()].map((vip) => this.vipsHere.release(vip, 'stop', next.get(vip))));
    for (let i = 0; i < 3; i++) this.sendHeartbeats('leaving');
    await this.vipsHere.dropLingering([...this.vipsHere.lingering.keys()].filter((vip) => !next.has(vip))); // no eligible peer to wait for
    await this.lingerOut();
    this.running = false;
    this.d.log.info({ node: this.o.nodeName, handoffs: this.vipsHere.handoffs.size }, 'agent stopped');
  }

  /** How long a quietly released alias stays after a peer claims it: its gratuitous ARPs have gone out by then. */
  private get lingerTiming() {
    return { lingerMs: Math.max(this.o.announce.count * this.o.announce.intervalMs, 2 * this.o.heartbeatMs), timeoutMs: this.o.handoffTimeoutMs };
  }

  /**
   * Stopping with quietly released aliases: keeps telling the peers 'leaving' every heartbeat
   * (one lost packet must not cost them dead_after) until each alias has been claimed and has
   * lingered, or the handoff timeout passed; then deletes what is left.
   */
  private async lingerOut(): Promise<void> {
    const t = this.lingerTiming;
    const deadline = this.d.clock.now() + t.timeoutMs + t.lingerMs;
    while (this.vipsHere.lingering.size > 0 && this.d.clock.now() < deadline) {
      await new Promise<void>((resolve) => this.d.timers.setTimeout(resolve, this.o.heartbeatMs));
      this.sendHeartbeats('leaving');
      this.vipsHere.settleLingering(this.d.clock.now(), this.membership, t);
    }
    await this.vipsHere.dropLingering();
    await this.vipsHere.settled();
  }

  /** Every few seconds: the interface still has what this node holds, and nothing else of ours. */
  private scheduleRepair(): void {
    this.repairTimer = this.d.timers.setTimeout(() => {
      this.repairTimer = undefined;
      if (!this.running || this.state === 'leaving') return;
      void this.vipsHere.repair().catch((err: unknown) => this.d.log.error({ err }, 'bug: alias repair threw')).finally(() => {
        if (this.running && this.state !== 'leaving') this.scheduleRepair();
      });
    }, REPAIR_INTERVAL_MS);
  }

  private setState(to: NodeState): void {
    if (to === this.state) return;
    const from = this.nodeState;
    this.nodeState = to;
    if (to === 'active') this.activeSinceMs = this.d.clock.now();
    this.d.log.info({ from, to }, 'node state changed');
    this.emit({ type: 'state', from, to, atMs: this.d.clock.now() });
  }

  /** Every timer callback starts here: a long gap means this process was stalled, not its peers. */
  private wake(): number {
    const now = this.d.clock.now();
    const stallMs = Math.max(this.o.deadAfterMs / 2, 3 * this.o.heartbeatMs);
    if (this.lastWakeMs !== undefined && now - this.lastWakeMs > stallMs) {
      this.d.log.warn({ stalledMs: Math.round(now - this.lastWakeMs) }, 'agent was stalled; peers get a fresh dead_after');
      this.membership.forgiveStall(this.lastWakeMs, now);
    }
    this.lastWakeMs = now;
    return now;
  }

  /** The heartbeat timer. The next tick is armed first, so a bug in one tick cannot stop the heartbeat. */
  private tick = (): void => {
    this.tickTimer = undefined;
    if (!this.running || this.state === 'leaving') return;
    this.tickTimer = this.d.timers.setTimeout(this.tick, this.o.heartbeatMs);
    try {
      const now = this.d.clock.now();
      if (this.state === 'joining' && now - this.startedAtMs >= this.o.matureMs) this.setState('active');
      this.evaluate();
      this.sendHeartbeats('heartbeat');
      this.scheduleDeathCheck(now);
    } catch (err) {
      this.d.log.error({ err }, 'bug: agent tick threw');
    }
  };

  /** A timer at the moment the next peer would be declared dead, so failover does not wait for a tick. */
  private scheduleDeathCheck(now: number): void {
    const at = this.membership.nextDeathAt(now);
    if (at === undefined || (this.deathTimer && this.deathTimer.at <= at)) return;
    if (this.deathTimer) this.d.timers.clearTimeout(this.deathTimer.handle);
    const handle = this.d.timers.setTimeout(() => {
      this.deathTimer = undefined;
      if (!this.running || this.state === 'leaving') return;
      try {
        this.evaluate();
        this.scheduleDeathCheck(this.d.clock.now());
      } catch (err) {
        this.d.log.error({ err }, 'bug: death check threw');
      }
    }, Math.max(0, at - now) + 1);
    this.deathTimer = { handle, at };
  }

  private planInput(now: number) {
    const busy = this.vipsHere.busyAt(now);
    const held = new Map([...this.held].map(([v, h]) => [v, h.gen]));
    return {
      self: {
        name: this.o.nodeName, state: this.state, health: this.health, weight: this.weights.get(this.o.nodeName) ?? 1, held,
        // Nodes that turn active together would each see the other as joining: wait until they see each other.
        settling: now - this.activeSinceMs < 2 * this.o.heartbeatMs,
      },
      peers: this.tracker.views(now), vips: this.vips, prefs: this.prefs, busy, gens: this.vipsHere.gens(),
    };
  }

  /** One decision step: who is alive, what the plan says, and the driver calls for it. */
  private evaluate(): void {
    if (!this.running || this.state === 'leaving') return;
    const now = this.wake();
    this.peerEdges(now);
    const p = plan(this.planInput(now));
    this.lastPlan = p;
    this.vipsHere.settleHandoffs(now, this.membership, this.o.handoffTimeoutMs);
    this.vipsHere.settleLingering(now, this.membership, this.lingerTiming);
    this.settleDuplicates(p);
    for (const a of p.actions) {
      if (a.kind === 'acquire') this.vipsHere.acquire(a.vip, this.acquireReason(a.vip, a.via));
      else void this.vipsHere.release(a.vip, a.reason, a.to);
    }
    for (const [vip, holder] of p.holders) {
      if (this.lastHolder.get(vip) !== holder || !this.holderSince.has(vip)) this.holderSince.set(vip, now);
      this.lastHolder.set(vip, holder);
    }
    for (const vip of this.vips) if (!p.holders.has(vip)) this.holderSince.delete(vip);
  }

  private peerEdges(now: number): void {
    for (const { node, change, incarnation } of this.tracker.edges(now)) {
      this.d.log.info({ peer: node, change, incarnation }, 'peer changed');
      this.emit({ type: 'peer', node, change, atMs: now });
    }
  }

  /** The winner of a duplicate re-announces once the loser has let go (its ARP may have moved traffic). */
  private settleDuplicates(p: Plan): void {
    for (const vip of p.duplicates) if (this.held.has(vip)) this.dupSeen.add(vip);
    for (const vip of [...this.dupSeen]) {
      if (p.duplicates.has(vip)) continue;
      this.dupSeen.delete(vip);
      if (!this.held.has(vip) || this.vipsHere.isBusy(vip)) continue;
      this.d.log.info({ vip }, 'duplicate resolved in our favour; re-announcing');
      this.vipsHere.announce(vip);
    }
  }

  private acquireReason(vip: string, via: 'handoff' | 'unheld'): string {
    if (via === 'handoff') return 'handoff';
    const prev = this.lastHolder.get(vip);
    const peer = prev !== undefined && prev !== this.o.nodeName ? this.membership.get(prev) : undefined;
    if (!peer) return 'assign';
    return peer.left ? 'handover' : this.membership.isAlive(peer) ? 'assign' : 'failover';
  }

  /** Coalesces the heartbeats that several finishing driver calls would each send. */
  private sendSoon(): void {
    if (this.sendQueued) return;
    this.sendQueued = true;
    queueMicrotask(() => {
      this.sendQueued = false;
      if (this.running && this.state !== 'leaving') this.sendHeartbeats('heartbeat');
    });
  }

  private sendHeartbeats(type: PacketType): void {
    const own = { state: this.state, health: this.health, held: this.vipsHere.heldList(), handoffs: this.vipsHere.handoffList() };
    this.outbox.sendAll(type, own, this.d.clock.now());
  }

  private healthChanged(from: Health, to: Health, reason: string): void {
    if (!this.running || this.state === 'leaving') return;
    this.d.log.warn({ from, to, reason }, 'service health changed');
    this.emit({ type: 'health', from, to, reason, atMs: this.d.clock.now() });
    this.evaluate();
    this.sendSoon();
  }

  status(): AgentStatus {
    return buildStatus({
      node: this.o.nodeName, state: this.state, health: this.health, healthReason: this.monitor?.lastReason,
      incarnation: this.incarnation, now: this.d.clock.now(), vips: this.vips, held: this.held, plan: this.lastPlan,
      holderSince: this.holderSince,
      membership: this.membership, peers: this.peers.map((p) => p.name), digest: this.digest, moves: this.vipsHere.moves,
      counters: { heartbeatsSent: this.outbox.sent, ...this.vipsHere.counters }, handoffs: this.vipsHere.handoffs,
      lingering: this.vipsHere.lingering,
    });
  }
}
