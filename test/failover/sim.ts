// A deterministic cluster simulator for the agent: fake clock and timers, fake network, fake alias table. No sockets, no root.
import { Agent, type AgentEvent } from '../../failover/engine.js';
import type { Clock, Logger, Timers, TimerHandle } from '../../failover/deps.js';
import type { VipDriver } from '../../failover/driver.js';
import { resolveAgentOptions, type AgentOptions } from '../../failover/options.js';

interface Ev { at: number; seq: number; fn: () => void; cancelled: boolean }

/** Virtual time: a binary heap of callbacks; microtasks are drained after each one. */
export class FakeTime implements Clock {
  nowMs = 1000;
  private seq = 0;
  private heap: Ev[] = [];
  now(): number { return this.nowMs; }

  schedule(at: number, fn: () => void): Ev {
    const ev = { at: Math.max(at, this.nowMs), seq: this.seq++, fn, cancelled: false };
    const h = this.heap;
    h.push(ev);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
    return ev;
  }

  private less(a: Ev, b: Ev): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq); }

  private pop(): Ev | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  /** Runs every callback due up to time t, calling onStep after each (with microtasks drained). */
  async runUntil(t: number, onStep?: () => void): Promise<void> {
    for (;;) {
      const next = this.heap[0];
      if (!next || next.at > t) break;
      this.pop();
      if (next.cancelled) continue;
      this.nowMs = next.at;
      next.fn();
      await flush();
      onStep?.();
    }
    this.nowMs = Math.max(this.nowMs, t);
  }

  async advance(ms: number, onStep?: () => void): Promise<void> { await this.runUntil(this.nowMs + ms, onStep); }
}

export const flush = () => new Promise<void>((r) => setImmediate(r));

/** One node's timers: killed on crash, held back while frozen (SIGSTOP). */
export class NodeTimers implements Timers {
  killed = false;
  frozen = false;
  private deferred: Array<{ ev: Ev; fn: () => void }> = [];
  constructor(private readonly time: FakeTime) {}
  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (this.killed) return undefined;
    const ev: Ev = this.time.schedule(this.time.now() + ms, () => {
      if (this.killed) return;
      if (this.frozen) this.deferred.push({ ev, fn }); else fn();
    });
    return ev;
  }
  clearTimeout(h: TimerHandle): void { if (h) (h as Ev).cancelled = true; }
  async resume(): Promise<void> {
    this.frozen = false;
    const due = this.deferred;
    this.deferred = [];
    for (const d of due) if (!d.ev.cancelled && !this.killed) { d.fn(); await flush(); }
  }
}

export const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The kernel alias tables of all nodes: vip → nodes that have it (and whose link is up). */
export class World {
  readonly aliases = new Map<string, Set<string>>();
  readonly quiet = new Set<string>(); // 'node vip': alias kept but not answering ARP (quiet release)
  announcements = 0;
  /** Nodes that answer ARP for the VIP: quiet aliases do not count. */
  holders(vip: string): string[] { return [...(this.aliases.get(vip) ?? [])].filter((n) => !this.quiet.has(`${n} ${vip}`)).sort(); }
  has(node: string, vip: string): boolean { return this.aliases.get(vip)?.has(node) ?? false; }
  set(node: string, vip: string, on: boolean): void {
    const s = this.aliases.get(vip) ?? new Set<string>();
    if (on) s.add(node); else s.delete(node);
    this.aliases.set(vip, s);
  }
  dropNode(node: string): void {
    for (const s of this.aliases.values()) s.delete(node);
    for (const k of [...this.quiet]) if (k.startsWith(`${node} `)) this.quiet.delete(k);
  }
}

/** quiet: the driver releases quietly (as the Linux driver with nft does); false: plain del. */
export interface FakeDriverOptions { opDelayMs?: number; quiet?: boolean }

export class FakeDriver implements VipDriver {
  dead = false;
  readonly calls: string[] = [];
  readonly quiesce?: (vip: string) => Promise<boolean>;
  private readonly opDelayMs: number;
  constructor(private readonly node: string, private readonly world: World, private readonly time: FakeTime, private readonly vips: string[], o: FakeDriverOptions = {}) {
    this.opDelayMs = o.opDelayMs ?? 3;
    if (o.quiet ?? true) {
      this.quiesce = (vip) => { this.calls.push(`quiesce ${vip}`); return this.op(() => this.world.quiet.add(`${this.node} ${vip}`)).then(() => true); };
    }
  }
  private op(fn: () => void): Promise<void> {
    return new Promise((resolve) => {
      this.time.schedule(this.time.now() + this.opDelayMs, () => { if (!this.dead) { fn(); resolve(); } });
    });
  }
  /** As the Linux driver: aliases left quiet by a previous run were being handed over, so they go. */
  async reconcile(): Promise<string[]> {
    for (const v of this.vips) {
      if (this.world.quiet.delete(`${this.node} ${v}`)) this.world.set(this.node, v, false);
    }
    return this.present();
  }
  async present(): Promise<string[]> { return this.vips.filter((v) => this.world.has(this.node, v)); }
  add(vip: string): Promise<void> { this.calls.push(`add ${vip}`); return this.op(() => { this.world.set(this.node, vip, true); this.world.quiet.delete(`${this.node} ${vip}`); }); }
  del(vip: string): Promise<void> { this.calls.push(`del ${vip}`); return this.op(() => { this.world.set(this.node, vip, false); this.world.quiet.delete(`${this.node} ${vip}`); }); }
  async announce(): Promise<void> { this.world.announcements++; }
}

/** Seeded PRNG (mulberry32), so a failing fast-check seed replays exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimNode {
  name: string;
  address: string;
  agent?: Agent;
  timers?: NodeTimers;
  driver?: FakeDriver;
  up: boolean; // process running (frozen counts as up)
  frozen: boolean;
  inbox: Array<() => void>;
  serviceOk: boolean;
  events: AgentEvent[];
  notifications: string[]; // what the notify hook was called with
}

export interface SimOptions {
  nodes: string[];
  vips: string[];
  timing?: Partial<Pick<AgentOptions, 'heartbeatMs' | 'deadAfterMs' | 'matureMs'>>;
  serviceCheck?: boolean;
  prefer?: Record<string, string>;
  weights?: Record<string, number>;
  latencyMs?: number;
  seed?: number;
  quietRelease?: boolean; // default true
}

export class Cluster {
  readonly time = new FakeTime();
  readonly world = new World();
  readonly nodes = new Map<string, SimNode>();
  readonly cut = new Set<string>(); // 'a>b': packets from a to b are dropped
  lossRate = 0;
  jitterMs = 0; // extra random delay per packet: reorders packets, which the receiver drops as replays
  private incarnation = 1;
  private readonly random: () => number;
  readonly opts: AgentOptions;

  constructor(readonly sim: SimOptions) {
    this.random = rng(sim.seed ?? 1);
    sim.nodes.forEach((name, i) => this.nodes.set(name, {
      name, address: `198.51.100.${10 + i}`, up: false, frozen: false, inbox: [], serviceOk: true, events: [], notifications: [],
    }));
    this.opts = resolveAgentOptions({
      nodeName: sim.nodes[0]!, interface: 'eth0', secret: Buffer.from('sim-secret-sim-secret'),
      nodes: Object.fromEntries([...this.nodes.values()].map((n) => [n.name, { address: n.address, weight: sim.weights?.[n.name] }])),
      vips: sim.vips, prefer: sim.prefer, ...sim.timing,
      serviceCheck: sim.serviceCheck ? { target: { http: 'http://127.0.0.1/unused' }, intervalMs: 100, timeoutMs: 50, rise: 2, fall: 2 } : undefined,
    });
  }

  node(name: string): SimNode { return this.nodes.get(name)!; }

  private deliver(from: SimNode, toName: string, bytes: Buffer): void {
    if (this.cut.has(`${from.name}>${toName}`) || (this.lossRate > 0 && this.random() < this.lossRate)) return;
    const delay = (this.sim.latencyMs ?? 1) + (this.jitterMs > 0 ? this.random() * this.jitterMs : 0);
    this.time.schedule(this.time.now() + delay, () => {
      const to = this.node(toName);
      if (!to.up || !to.agent) return;
      const agent = to.agent;
      const go = () => { if (to.agent === agent && to.up) agent.receive(bytes, { address: from.address, port: 7946 }); };
      if (to.frozen) to.inbox.push(go); else go();
    });
  }

  /** Starts (or restarts after a crash or leave) the agent of a node. */
  async start(name: string): Promise<void> {
    const n = this.node(name);
    n.timers = new NodeTimers(this.time);
    n.driver = new FakeDriver(name, this.world, this.time, this.sim.vips, { quiet: this.sim.quietRelease });
    n.up = true;
    n.frozen = false;
    n.inbox = [];
    n.agent = new Agent({ ...this.opts, nodeName: name }, {
      clock: this.time, timers: n.timers, log: quietLog, driver: n.driver, incarnation: this.incarnation++,
      send: (to, bytes) => this.deliver(n, to.name, bytes),
      probe: async () => ({ ok: n.serviceOk, reason: n.serviceOk ? 'ok' : 'status 503' }),
      onEvent: (e) => n.events.push(e),
      notify: async (action, vip, reason) => { n.notifications.push(`${action} ${vip} ${reason}`); },
    });
    await n.agent.start();
    await flush();
  }

  /** SIGKILL and link down: the process and its aliases vanish from the network at once. */
  crash(name: string): void {
    const n = this.node(name);
    n.up = false;
    n.frozen = false;
    if (n.timers) n.timers.killed = true;
    if (n.driver) n.driver.dead = true;
    this.world.dropNode(name);
  }

  /** SIGTERM: runs stop() in virtual time until it resolves. */
  async leave(name: string, onStep?: () => void): Promise<void> {
    const n = this.node(name);
    let done = false;
    void n.agent!.stop().then(() => { done = true; });
    for (let i = 0; i < 5000 && !done; i++) await this.time.advance(1, onStep);
    n.up = false;
    if (n.timers) n.timers.killed = true;
  }

  freeze(name: string): void {
    const n = this.node(name);
    n.frozen = true;
    n.timers!.frozen = true;
  }

  async resume(name: string): Promise<void> {
    const n = this.node(name);
    n.frozen = false;
    await n.timers!.resume();
    const inbox = n.inbox;
    n.inbox = [];
    for (const go of inbox) { go(); await flush(); }
  }

  partition(groups: string[][]): void {
    for (const a of groups) for (const b of groups) if (a !== b) for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`);
  }

  heal(): void { this.cut.clear(); }

  upNodes(): SimNode[] { return [...this.nodes.values()].filter((n) => n.up); }

  /** VIP → holders as the network sees them (aliases of running nodes; frozen ones still answer ARP). */
  holders(): Map<string, string[]> {
    return new Map(this.sim.vips.map((v) => [v.split('/')[0]!, this.world.holders(v.split('/')[0]!)]));
  }
}
