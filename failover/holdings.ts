// This node's VIPs and the driver calls that change them: claims, gens, handoffs, back-off, the log of moves.
import type { Clock, Logger } from './deps.js';
import type { VipDriver } from './driver.js';
import type { Handoff, HeldVip } from './heartbeat.js';
import type { Membership } from './membership.js';
import type { Notifier } from './notify.js';
import type { MoveRecord } from './status.js';

/*
 * | step              | claim (in our heartbeats)          | why                                          |
 * |-------------------|------------------------------------|----------------------------------------------|
 * | acquire starts    | claimed at once, gen = max seen + 1| peers learn sooner; claiming early is safe   |
 * | add fails         | claim dropped, VIP backs off 1 s   | a node that cannot add must not look holding |
 * | release starts    | still claimed                      | nobody may take it while the alias is up     |
 * | del succeeds      | claim dropped, handoff listed      | now the recipient may acquire                |
 * | del fails         | still claimed, VIP backs off 1 s   | the alias may still be up                    |
 *
 * Quiet release (a driver with quiesce, IPv4 with nft): "del" above is "stop answering ARP";
 * the address stays (lingering) so requests still sent to this node's MAC are served, and is
 * deleted `lingerMs` after a live peer claims the VIP (its gratuitous ARPs have gone out), or
 * `timeoutMs` after the release if nobody claims it. Taking it back while it lingers is a plain
 * acquire (the driver's add ends the quiet).
 */

export interface LingerTiming {
  lingerMs: number; // kept this long after a peer claims it
  timeoutMs: number; // deleted this long after the release when nobody claims it
}

export type MoveEvent =
  | { type: 'acquire'; vip: string; reason: string; atMs: number }
  | { type: 'release'; vip: string; reason: string; to?: string; atMs: number }
  | { type: 'driver-error'; vip: string; op: 'add' | 'del' | 'announce'; code?: string; message: string; atMs: number };

export interface HoldingsDeps {
  driver: VipDriver;
  clock: Clock;
  log: Logger;
  iface: string;
  notify?: Notifier;
  emit: (e: MoveEvent) => void;
  changed: () => void; // a claim or handoff changed: peers should hear at once
}

const DRIVER_BACKOFF_MS = 1000;
const MAX_MOVES_KEPT = 50;

export class Holdings {
  readonly held = new Map<string, { gen: number; sinceMs: number }>();
  readonly handoffs = new Map<string, { to: string; gen: number; atMs: number }>();
  /** Released quietly, address still on the interface: VIP → when released, when a peer claimed it. */
  readonly lingering = new Map<string, { sinceMs: number; claimedAtMs?: number }>();
  readonly moves: MoveRecord[] = [];
  readonly counters = { acquisitions: 0, releases: 0, driverErrors: 0 };
  private readonly busy = new Set<string>();
  private readonly backoffUntil = new Map<string, number>();
  private readonly maxGen = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private opsStarted = 0;

  constructor(private readonly d: HoldingsDeps) {}

  /** Remembers the highest gen seen for a VIP, ours or a peer's. */
  noteGen(vip: string, gen: number): void {
    this.maxGen.set(vip, Math.max(this.maxGen.get(vip) ?? 0, gen));
  }

  /** Aliases found on the interface at start: claimed with gen 0, so any active claimant wins. */
  adopt(vip: string): void {
    this.held.set(vip, { gen: 0, sinceMs: this.d.clock.now() });
  }

  /** The highest gen seen for each VIP: handoffs below it are stale. */
  gens(): ReadonlyMap<string, number> {
    return this.maxGen;
  }

  /** VIPs not to touch now: a driver call in flight, or backing off after a failure. */
  busyAt(now: number): Set<string> {
    const busy = new Set(this.busy);
    for (const [vip, until] of this.backoffUntil) if (until > now) busy.add(vip); else this.backoffUntil.delete(vip);
    return busy;
  }

  isBusy(vip: string): boolean {
    return this.busy.has(vip);
  }

  heldList(): HeldVip[] {
    return [...this.held].map(([vip, h]) => ({ vip, gen: h.gen })).sort((a, b) => (a.vip < b.vip ? -1 : 1));
  }

  handoffList(): Handoff[] {
    return [...this.handoffs].map(([vip, h]) => ({ vip, to: h.to, gen: h.gen }));
  }

  /** Resolves when every driver call started so far has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** A driver that throws instead of rejecting still ends up as a rejected promise. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    try { return fn(); } catch (e) { return Promise.reject(e); }
  }

  private track(op: Promise<void>, vip: string): Promise<void> {
    this.opsStarted++;
    this.busy.add(vip);
    const p = op.finally(() => { this.busy.delete(vip); this.inflight.delete(p); });
    this.inflight.add(p);
    return p;
  }

  acquire(vip: string, reason: string): void {
    const gen = (this.maxGen.get(vip) ?? 0) + 1;
    this.noteGen(vip, gen);
    this.held.set(vip, { gen, sinceMs: this.d.clock.now() });
    this.handoffs.delete(vip);
    this.lingering.delete(vip); // add() ends the quiet
    void this.track(this.call(() => this.d.driver.add(vip)).then(
      () => { this.record('acquire', vip, reason); this.announce(vip); this.d.changed(); },
      (e: unknown) => { this.held.delete(vip); this.driverError(vip, 'add', e); },
    ), vip);
  }

  release(vip: string, reason: string, to?: string): Promise<void> {
    const driver = this.d.driver;
    const quietOrDel = async (): Promise<boolean> => {
      if (driver.quiesce && (await driver.quiesce(vip))) return true;
      await driver.del(vip);
      return false;
    };
    return this.track(this.call(quietOrDel).then(
      (quiet) => {
        if (quiet) this.lingering.set(vip, { sinceMs: this.d.clock.now() });
        const gen = Math.max(this.held.get(vip)?.gen ?? 0, this.maxGen.get(vip) ?? 0); // newest this node knows
        this.held.delete(vip);
        if (to !== undefined) this.handoffs.set(vip, { to, gen, atMs: this.d.clock.now() });
        this.record('release', vip, reason, to);
        this.d.changed();
      },
      (e: unknown) => this.driverError(vip, 'del', e),
    ), vip);
  }

  /** Deletes the lingering aliases whose time is up (see the table above). */
  settleLingering(now: number, membership: Membership, t: LingerTiming): void {
    for (const [vip, l] of this.lingering) {
      if (this.busy.has(vip) || (this.backoffUntil.get(vip) ?? 0) > now) continue;
      if (l.claimedAtMs === undefined && membership.known().some((p) => membership.isAlive(p, now) && p.held.some((h) => h.vip === vip))) {
        l.claimedAtMs = now;
      }
      const due = l.claimedAtMs !== undefined ? now - l.claimedAtMs >= t.lingerMs : now - l.sinceMs >= t.timeoutMs;
      if (!due) continue;
      this.lingering.delete(vip);
      void this.track(this.call(() => this.d.driver.del(vip)).then(
        () => this.d.log.debug({ vip, iface: this.d.iface }, 'handed-over alias removed'),
        (e: unknown) => { this.lingering.set(vip, l); this.driverError(vip, 'del', e); }, // retried after the back-off
      ), vip);
    }
  }

  /** Deletes lingering aliases now (all, or those listed): nobody will claim them, or the agent is exiting. */
  async dropLingering(only?: readonly string[]): Promise<void> {
    const vips = [...this.lingering.keys()].filter((v) => only === undefined || only.includes(v));
    for (const v of vips) this.lingering.delete(v);
    await Promise.allSettled(vips.map((vip) => this.track(this.call(() => this.d.driver.del(vip)).catch((e: unknown) => this.driverError(vip, 'del', e)), vip)));
  }

  /**
   * Compares the interface with what this node claims (someone ran `ip addr flush`, or added
   * a VIP by hand): a held VIP that is missing is added and announced again; a configured VIP
   * present but neither held nor lingering is deleted. Skipped when a driver call ran meanwhile.
   */
  async repair(): Promise<void> {
    if (this.busy.size > 0) return;
    const before = this.opsStarted;
    let present: Set<string>;
    try { present = new Set(await this.d.driver.present()); } catch { return; }
    if (this.opsStarted !== before || this.busy.size > 0) return;
    for (const vip of this.held.keys()) {
      if (present.has(vip)) continue;
      this.d.log.warn({ vip, iface: this.d.iface }, 'held VIP missing from the interface (removed by hand?); adding it again');
      void this.track(this.call(() => this.d.driver.add(vip)).then(() => this.announce(vip), (e: unknown) => this.driverError(vip, 'add', e)), vip);
    }
    for (const vip of present) {
      if (this.held.has(vip) || this.lingering.has(vip)) continue;
      this.d.log.warn({ vip, iface: this.d.iface }, 'VIP on the interface that this node does not hold (added by hand?); removing it');
      void this.track(this.call(() => this.d.driver.del(vip)).catch((e: unknown) => this.driverError(vip, 'del', e)), vip);
    }
  }

  announce(vip: string): void {
    this.call(() => this.d.driver.announce(vip)).catch((e: unknown) => this.driverError(vip, 'announce', e));
  }

  /**
   * Our planned moves end when the recipient claims the VIP, dies, stops being active
   * (it would refuse), or does not take it in time; the assignment then decides afresh.
   */
  settleHandoffs(now: number, membership: Membership, timeoutMs: number): void {
    for (const [vip, h] of this.handoffs) {
      const peer = membership.get(h.to);
      const claimed = peer?.held.some((x) => x.vip === vip) ?? false;
      const gone = !peer || !membership.isAlive(peer, now) || peer.state !== 'active';
      const late = now - h.atMs > timeoutMs;
      if (!this.held.has(vip) && !claimed && !gone && !late) continue;
      if (late && !claimed && !gone) this.d.log.warn({ vip, to: h.to }, 'handoff not taken in time; reopened');
      this.handoffs.delete(vip);
    }
  }

  private record(kind: 'acquire' | 'release', vip: string, reason: string, to?: string): void {
    const atMs = this.d.clock.now();
    if (kind === 'acquire') this.counters.acquisitions++; else this.counters.releases++;
    this.moves.push({ kind, vip, reason, to, atMs });
    if (this.moves.length > MAX_MOVES_KEPT) this.moves.shift();
    this.d.log.info({ vip, reason, to, iface: this.d.iface }, kind === 'acquire' ? 'vip acquired' : 'vip released');
    this.d.emit(kind === 'acquire' ? { type: 'acquire', vip, reason, atMs } : { type: 'release', vip, reason, to, atMs });
    void this.d.notify?.(kind, vip, reason);
  }

  private driverError(vip: string, op: 'add' | 'del' | 'announce', e: unknown): void {
    const err = e as { code?: string; message?: string };
    const atMs = this.d.clock.now();
    this.counters.driverErrors++;
    if (op !== 'announce') this.backoffUntil.set(vip, atMs + DRIVER_BACKOFF_MS);
    this.d.log.error({ vip, op, code: err?.code, err: err?.message ?? String(e) }, 'alias driver failed');
    this.d.emit({ type: 'driver-error', vip, op, code: err?.code, message: err?.message ?? String(e), atMs });
  }
}
