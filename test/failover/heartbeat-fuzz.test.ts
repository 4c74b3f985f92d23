// Hostile heartbeats (random, truncated, bit-flipped, re-fielded, forged with a wrong key, misattributed, replayed)
// fed to agents in the simulator and over loopback UDP: none may move a VIP, each is counted under one drop reason.
import { createHmac } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, systemTimers } from '../../failover/deps.js';
import type { VipDriver } from '../../failover/driver.js';
import { Agent, type AgentEvent } from '../../failover/engine.js';
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from '../../failover/heartbeat.js';
import { DROP_REASONS, Membership, type DropReason, type ReceiveResult } from '../../failover/membership.js';
import { configDigest, resolveAgentOptions } from '../../failover/options.js';
import { Cluster, quietLog, rng, type SimNode } from './sim.js';

/* ------------------------------------------------------------------------------------------ */
/* Seed, PRNG                                                                                 */

const SEED = ((): number => {
  const s = process.env.HB_FUZZ_SEED;
  const n = s === undefined || s === '' ? 20261126 : Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`HB_FUZZ_SEED=${s} is not an integer`);
  return n;
})();
const WHO = `HB_FUZZ_SEED=${SEED}`;

class Rand {
  private readonly f: () => number;
  constructor(seed: number) { this.f = rng(seed); }
  int(n: number): number { return Math.floor(this.f() * n); } // 0..n-1
  between(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.f() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      const v = Math.floor(this.f() * 2 ** 32);
      for (let j = 0; j < 4 && i + j < n; j++) b[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return b;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) { const j = this.int(i + 1); [xs[i], xs[j]] = [xs[j]!, xs[i]!]; }
    return xs;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The spec, restated from docs/heartbeat-protocol.md (an oracle independent of decodeHeartbeat) */

const MIN_LEN = 92;
const MAX_LEN = 65507;
const MAX_U32 = 0xffffffff;
type PreMac = 'malformed' | 'wrong-version' | 'bad-mac' | 'authentic';

/** Checks 1 and 2 of "Receiving": magic, version, length, then the MAC. */
function preMac(b: Buffer, key: Uint8Array): PreMac {
  if (b.length < 5 || b.toString('latin1', 0, 4) !== 'ROAM') return 'malformed';
  if (b[4] !== 1) return 'wrong-version';
  if (b.length < MIN_LEN || b.length > MAX_LEN) return 'malformed';
  const mac = createHmac('sha256', key).update(b.subarray(0, b.length - 32)).digest();
  return mac.equals(b.subarray(b.length - 32)) ? 'authentic' : 'bad-mac';
}

function sign(body: Buffer, key: Uint8Array): Buffer {
  return Buffer.concat([body, createHmac('sha256', key).update(body).digest()]);
}

/** Extensions TLV type 1: the node a packet is addressed to. */
function recipientTlv(name: string): Buffer {
  const v = Buffer.from(name, 'utf8');
  const h = Buffer.alloc(3);
  h[0] = 1;
  h.writeUInt16BE(v.length, 1);
  return Buffer.concat([h, v]);
}

function tlvRecipient(ext: Uint8Array | undefined): string | undefined {
  const b = ext ? Buffer.from(ext) : Buffer.alloc(0);
  for (let i = 0; i + 3 <= b.length; i += 3 + b.readUInt16BE(i + 1)) {
    if (b[i] === 1) return b.toString('utf8', i + 3, i + 3 + b.readUInt16BE(i + 1));
  }
  return undefined;
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile packet factory, shared by the simulator and the UDP test                           */

interface Capture { from: string; to: string; bytes: Buffer; at: number; hb: Heartbeat }
interface Hostile { kind: string; bytes: Buffer; from: string; expect: readonly DropReason[] }

interface FieldOptions {
  key: Buffer;
  names: string[];
  vips: string[];
  address: (name: string) => string;
  outsider: string; // an address that is no member's
  digest: string;
  now: () => number;
  captures: Capture[]; // in the order sent
  replayAgeMs: number; // a genuine packet this old has reached its recipient
  incarnation: (name: string) => number;
}

const EVERY_NAME_BUT = (names: string[], ...not: string[]) => names.filter((n) => !not.includes(n));

class Factory {
  constructor(readonly o: FieldOptions, readonly r: Rand) {}

  private expectFor(b: Buffer, afterMac: readonly DropReason[]): readonly DropReason[] {
    const pre = preMac(b, this.o.key);
    return pre === 'authentic' ? afterMac : [pre];
  }

  private anyFrom(): string { return this.r.chance(0.5) ? this.o.outsider : this.o.address(this.r.pick(this.o.names)); }

  /** How many of the captures (a prefix: they are in time order) are at least replayAgeMs old. */
  private oldCount(): number {
    const caps = this.o.captures;
    const now = this.o.now();
    let n = caps.length;
    while (n > 0 && now - caps[n - 1]!.at < this.o.replayAgeMs) n--;
    if (n === 0) throw new Error('no genuine packet captured yet');
    return n;
  }

  /** Any genuine packet old enough to have been delivered (all incarnations, all senders and recipients). */
  oldCapture(): Capture {
    return this.o.captures[this.r.int(this.oldCount())]!;
  }

  /** A recent genuine packet, addressed to the target when there is one. */
  private someCapture(target: string): Capture {
    const recent = this.o.captures.slice(Math.max(0, this.oldCount() - 300), this.oldCount());
    const to = recent.filter((c) => c.to === target);
    return this.r.pick(to.length > 0 ? to : recent);
  }

  random(): Hostile {
    const b = this.r.bytes(this.r.int(2001));
    return { kind: 'random bytes', bytes: b, from: this.anyFrom(), expect: this.expectFor(b, []) };
  }

  /** Magic and (mostly) the right version, so the length and MAC checks are reached. */
  framed(): Hostile {
    const b = Buffer.concat([Buffer.from('ROAM'), Buffer.of(this.r.chance(0.8) ? 1 : this.r.int(256)), this.r.bytes(this.r.int(2001))]);
    return { kind: 'random after ROAM', bytes: b, from: this.anyFrom(), expect: this.expectFor(b, []) };
  }

  /** Behind the MAC: random bodies signed with the right key exercise the strict parser. */
  signedRandom(): Hostile {
    const cap = this.oldCapture();
    const prefix = this.r.chance(0.5) ? cap.bytes.subarray(0, this.r.between(5, 52)) : Buffer.from('ROAM\u0001', 'latin1');
    const b = sign(Buffer.concat([prefix, this.r.bytes(this.r.int(300))]), this.o.key);
    // A random body that happens to parse names a random node.
    return { kind: 'random body, right key', bytes: b, from: this.anyFrom(), expect: this.expectFor(b, ['malformed', 'unknown-node']) };
  }

  /** Every prefix of a genuine packet: as is (MAC gone) and re-signed with the right key (body cut short). */
  truncations(cap: Capture): Hostile[] {
    const out: Hostile[] = [];
    const from = this.o.address(cap.from);
    for (let n = 0; n < cap.bytes.length; n++) {
      const b = Buffer.from(cap.bytes.subarray(0, n));
      out.push({ kind: 'truncated', bytes: b, from, expect: this.expectFor(b, []) });
    }
    const body = cap.bytes.subarray(0, cap.bytes.length - 32);
    for (let n = 0; n < body.length; n++) {
      const b = sign(Buffer.from(body.subarray(0, n)), this.o.key);
      out.push({ kind: 'truncated body, re-signed', bytes: b, from, expect: this.expectFor(b, ['malformed']) });
    }
    return out;
  }

  extended(target: string): Hostile {
    const cap = this.someCapture(target);
    const junk = this.r.bytes(this.r.between(1, 64));
    const from = this.o.address(cap.from);
    if (this.r.chance(0.5)) {
      const b = Buffer.concat([cap.bytes, junk]);
      return { kind: 'trailing junk', bytes: b, from, expect: this.expectFor(b, []) };
    }
    const b = sign(Buffer.concat([cap.bytes.subarray(0, cap.bytes.length - 32), junk]), this.o.key);
    return { kind: 'trailing junk, re-signed', bytes: b, from, expect: this.expectFor(b, ['malformed']) };
  }

  private flipped(cap: Capture, bits: number[], kind: string): Hostile {
    const b = Buffer.from(cap.bytes);
    for (const bit of bits) b[bit >> 3]! ^= 1 << (bit & 7);
    return { kind, bytes: b, from: this.o.address(cap.from), expect: this.expectFor(b, []) };
  }

  /** Each single-bit flip of one packet. */
  everyBitFlip(cap: Capture): Hostile[] {
    return Array.from({ length: cap.bytes.length * 8 }, (_, bit) => this.flipped(cap, [bit], 'one bit flipped (every bit)'));
  }

  randomBitFlips(target: string): Hostile {
    const cap = this.someCapture(target);
    const bits = new Set<number>();
    const k = this.r.between(1, 16);
    while (bits.size < k) bits.add(this.r.int(cap.bytes.length * 8));
    return this.flipped(cap, [...bits], 'random bits flipped');
  }

  /** A claim that would move VIPs if it were believed. */
  private claim(sender: string, target: string, incarnation: number): Heartbeat {
    const { vips } = this.o;
    const base: Heartbeat = {
      type: 'heartbeat', node: sender, incarnation, seq: this.r.pick([1, 1e9, Number.MAX_SAFE_INTEGER]), state: 'active', health: 'healthy',
      timestampMs: Math.max(1, Math.floor(this.o.now())), echoTimestampMs: 0, echoDelayMs: 0, configDigest: this.o.digest,
      held: [], handoffs: [], extensions: recipientTlv(target),
    };
    switch (this.r.int(5)) {
      case 0: return { ...base, held: vips.map((vip) => ({ vip, gen: 0 })) }; // oldest claim on everything
      case 1: return { ...base, type: 'leaving', state: 'leaving', handoffs: vips.map((vip) => ({ vip, to: target, gen: MAX_U32 })) };
      case 2: return { ...base, handoffs: vips.map((vip) => ({ vip, to: target, gen: MAX_U32 })) };
      case 3: return { ...base, state: this.r.pick(['draining', 'joining'] as const), health: 'unhealthy' };
      default: return { ...base, held: vips.map((vip) => ({ vip, gen: MAX_U32 })), handoffs: [] };
    }
  }

  /** Fields of a genuine packet changed, its MAC kept. */
  refielded(target: string): Hostile | undefined {
    const cap = this.someCapture(target);
    const h = cap.hb;
    const { vips, names } = this.o;
    const muts: Array<() => Heartbeat> = [
      () => ({ ...h, held: vips.map((vip) => ({ vip, gen: 0 })) }),
      () => ({ ...h, held: vips.map((vip) => ({ vip, gen: MAX_U32 })) }),
      () => ({ ...h, type: 'leaving', state: 'leaving' }),
      () => ({ ...h, type: 'leaving' }),
      () => ({ ...h, state: this.r.pick(['joining', 'draining', 'leaving'] as const) }),
      () => ({ ...h, health: this.r.pick(['unknown', 'unhealthy'] as const) }),
      () => ({ ...h, held: [], handoffs: vips.map((vip) => ({ vip, to: target, gen: MAX_U32 })) }),
      () => ({ ...h, seq: h.seq + 1 + this.r.int(1e6) }),
      () => ({ ...h, incarnation: h.incarnation + 1 }),
      () => ({ ...h, node: this.r.pick(EVERY_NAME_BUT(names, h.node)) }),
      () => ({ ...h, timestampMs: h.timestampMs + 1 + this.r.int(1000), echoTimestampMs: this.r.int(1e6) }),
      () => ({ ...h, configDigest: this.r.bytes(8).toString('hex') }),
      () => ({ ...h, extensions: recipientTlv(this.r.pick(names)) }),
      () => ({ ...h, extensions: new Uint8Array(0) }),
    ];
    const forged = encodeHeartbeat(this.r.pick(muts)(), this.o.key);
    const b = Buffer.concat([forged.subarray(0, forged.length - 32), cap.bytes.subarray(cap.bytes.length - 32)]);
    if (b.equals(cap.bytes)) return undefined; // the change changed nothing
    return { kind: 'fields changed, MAC kept', bytes: b, from: this.o.address(cap.from), expect: this.expectFor(b, []) };
  }

  wrongKey(target: string): Hostile {
    const { key, names } = this.o;
    const flipped = Buffer.from(key);
    flipped[this.r.int(flipped.length)]! ^= 1 << this.r.int(8);
    const keys = [this.r.bytes(32), flipped, Buffer.concat([key, Buffer.from('\n')]), key.subarray(0, key.length - 1), Buffer.alloc(0), Buffer.from('another cluster')];
    const sender = this.r.pick(EVERY_NAME_BUT(names, target));
    const inc = this.o.incarnation(sender);
    const b = encodeHeartbeat(this.claim(sender, target, this.r.pick([inc, inc + 1, Number.MAX_SAFE_INTEGER])), this.r.pick(keys));
    return { kind: 'member claim, wrong key', bytes: b, from: this.o.address(sender), expect: this.expectFor(b, []) };
  }

  /** Right key (only to reach the sender checks): a name that is not in cluster.nodes. */
  unknownNode(target: string): Hostile {
    const strangers = ['www4', 'WWW1', 'www1 ', ' www2', 'www3.', 'ww', 'www10', 'wwW2', 'www1\u00e9', 'w'.repeat(63), `x-${this.r.int(1e9)}`];
    const b = encodeHeartbeat(this.claim(this.r.pick(strangers), target, Number.MAX_SAFE_INTEGER), this.o.key);
    return { kind: 'unknown node, right key', bytes: b, from: this.anyFrom(), expect: this.expectFor(b, ['unknown-node']) };
  }

  /** Right key: a member's name from an address that is not that member's. */
  wrongSource(target: string): Hostile {
    const sender = this.r.pick(EVERY_NAME_BUT(this.o.names, target));
    const from = this.r.pick([this.o.outsider, ...EVERY_NAME_BUT(this.o.names, sender).map(this.o.address)]);
    const inc = this.o.incarnation(sender);
    const b = encodeHeartbeat(this.claim(sender, target, this.r.pick([inc, inc + 1])), this.o.key);
    return { kind: 'member from wrong address, right key', bytes: b, from, expect: this.expectFor(b, ['wrong-source']) };
  }

  /** Right key: the receiver's own name. */
  self(target: string): Hostile {
    const b = encodeHeartbeat(this.claim(target, target, this.o.incarnation(target) + 1), this.o.key);
    return { kind: 'own name, right key', bytes: b, from: this.anyFrom(), expect: this.expectFor(b, ['self']) };
  }

  /** A genuine captured packet sent again, from its sender's address, to the target. */
  replayOf(cap: Capture, target: string, kind: string): Hostile {
    return { kind, bytes: cap.bytes, from: this.o.address(cap.from), expect: [cap.from === target ? 'self' : 'replay'] };
  }

  /** An old genuine packet (any sender, any recipient) to the target. */
  replay(target: string): Hostile {
    const cap = this.oldCapture();
    const kind = cap.to === target ? 'replay to its recipient' : cap.from === target ? 'replay to its sender' : 'replay to another peer';
    return this.replayOf(cap, target, kind);
  }

  /** One of the newest packets, which the target has not seen: it was addressed to another node. */
  replayFresh(target: string): Hostile | undefined {
    const fresh = this.o.captures.slice(-12).filter((c) => c.to !== target && c.from !== target);
    return fresh.length > 0 ? this.replayOf(this.r.pick(fresh), target, 'fresh packet to another peer') : undefined;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Bookkeeping                                                                                */

const zeroDrops = (): Record<DropReason, number> => Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

class Ledger {
  readonly byKind = new Map<string, number>();
  readonly byReason = zeroDrops();
  readonly perTarget = new Map<object, Record<DropReason, number>>(); // agent instance → drops caused by us
  readonly failures: string[] = [];
  failed = 0;
  total = 0;

  fail(msg: string): void {
    this.failed++;
    if (this.failures.length < 15) this.failures.push(msg);
  }

  check(h: Hostile, target: string, agent: object, r: ReceiveResult | undefined | 'threw', idx: number): void {
    this.total++;
    this.byKind.set(h.kind, (this.byKind.get(h.kind) ?? 0) + 1);
    const what = () => `#${idx} ${h.kind} → ${target} from ${h.from} (${h.bytes.length} bytes ${h.bytes.subarray(0, 48).toString('hex')}…)`;
    if (r === 'threw') return this.fail(`${what()}: receive threw`);
    if (r === undefined) return this.fail(`${what()}: the agent's handler threw (receive returned undefined)`);
    if (r.ok) return this.fail(`${what()}: ACCEPTED as a packet of ${r.peer.name} (seq ${r.packet.seq})`);
    const mine = this.perTarget.get(agent) ?? zeroDrops();
    this.perTarget.set(agent, mine);
    mine[r.reason]++;
    this.byReason[r.reason]++;
    if (!h.expect.includes(r.reason)) this.fail(`${what()}: dropped as ${r.reason} (${r.detail}), expected ${h.expect.join(' or ')}`);
  }

  expectClean(where: string): void {
    expect(this.failures, `${where}: ${this.failed} of ${this.total} hostile packets misjudged (${WHO})`).toEqual([]);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The simulator                                                                              */

const NAMES = ['www1', 'www2', 'www3'];
const VIPS = ['198.51.100.201', '198.51.100.202', '198.51.100.203'];
type Deliver = (from: SimNode, toName: string, bytes: Buffer) => void;

/** Records every packet the simulated network carries (decoded, so replays can pick by sender, recipient, type). */
function tap(c: Cluster): Capture[] {
  const caps: Capture[] = [];
  const net = c as unknown as { deliver: Deliver };
  const deliver = net.deliver.bind(c);
  net.deliver = (from, to, bytes) => {
    const d = decodeHeartbeat(bytes, c.opts.secret);
    if (!d.ok) throw new Error(`the simulator carried a packet that does not decode: ${d.detail}`);
    caps.push({ from: from.name, to, bytes: Buffer.from(bytes), at: c.time.now(), hb: d.packet });
    deliver(from, to, bytes);
  };
  return caps;
}

async function boot(seed: number): Promise<{ c: Cluster; caps: Capture[] }> {
  const c = new Cluster({ nodes: NAMES, vips: VIPS, seed });
  const caps = tap(c);
  for (const n of NAMES) await c.start(n);
  await c.time.advance(4000);
  expect(singleHolders(c).size).toBe(VIPS.length);
  return { c, caps };
}

function singleHolders(c: Cluster): Map<string, string> {
  const out = new Map<string, string>();
  for (const [v, hs] of c.holders()) {
    expect(hs, `holders of ${v} at t=${c.time.now()} (${WHO})`).toHaveLength(1);
    out.set(v, hs[0]!);
  }
  return out;
}

function holdersKey(c: Cluster): string {
  return JSON.stringify([...c.holders()]);
}

function eventMarks(c: Cluster): Map<string, number> {
  return new Map([...c.nodes.values()].map((n) => [n.name, n.events.length]));
}

function eventsSince(c: Cluster, marks: Map<string, number>): string[] {
  return [...c.nodes.values()].flatMap((n) => n.events.slice(marks.get(n.name) ?? 0).map((e) => `${n.name}: ${describeEvent(e)}`));
}

function describeEvent(e: AgentEvent): string {
  if (e.type === 'acquire') return `acquire ${e.vip} (${e.reason}) at ${e.atMs}`;
  if (e.type === 'release') return `release ${e.vip} (${e.reason}${e.to ? ` → ${e.to}` : ''}) at ${e.atMs}`;
  if (e.type === 'peer') return `peer ${e.node} ${e.change} at ${e.atMs}`;
  if (e.type === 'state') return `state ${e.from} → ${e.to} at ${e.atMs}`;
  if (e.type === 'health') return `health ${e.from} → ${e.to} at ${e.atMs}`;
  return `${e.type} ${e.vip} ${e.op} at ${e.atMs}`;
}

function simFactory(c: Cluster, caps: Capture[], r: Rand): Factory {
  return new Factory({
    key: Buffer.from(c.opts.secret), names: NAMES, vips: VIPS, address: (n) => c.node(n).address, outsider: '203.0.113.66',
    digest: configDigest(c.opts), now: () => c.time.now(), captures: caps, replayAgeMs: 10, incarnation: (n) => c.node(n).agent?.incarnation ?? 1,
  }, r);
}

/** Feeds hostile packets to a simulated agent and records how each was judged. */
function injector(c: Cluster, ledger: Ledger) {
  let idx = 0;
  return (target: string, h: Hostile | undefined): void => {
    if (!h) return;
    const agent = c.node(target).agent!;
    let r: ReceiveResult | undefined | 'threw';
    try { r = agent.receive(h.bytes, { address: h.from, port: 7946 }); } catch { r = 'threw'; }
    ledger.check(h, target, agent, r, idx++);
  };
}

/** Every running agent's drop counters equal what the injected packets caused: genuine traffic dropped nothing, nothing went uncounted. */
function expectCountersMatch(c: Cluster, ledger: Ledger, where: string): void {
  for (const n of c.upNodes()) {
    const agent = n.agent!;
    expect(agent.membership.drops, `${where}: drop counters of ${n.name} (${WHO})`).toEqual(ledger.perTarget.get(agent) ?? zeroDrops());
    expect(agent.status().counters.heartbeatsDropped, `${where}: status of ${n.name}`).toEqual(agent.membership.drops);
  }
}

function expectPeers(c: Cluster, viewer: string, want: Record<string, { alive: boolean; mature?: boolean }>, where: string): void {
  const peers = c.node(viewer).agent!.status().peers;
  for (const [name, w] of Object.entries(want)) {
    expect(peers.find((p) => p.name === name), `${where}: ${name} as ${viewer} sees it (${WHO})`).toMatchObject(w);
  }
}

function figures(title: string, ledger: Ledger, extra: Record<string, unknown> = {}): void {
  const kinds = [...ledger.byKind].sort((a, b) => b[1] - a[1]).map(([k, n]) => `    ${String(n).padStart(6)}  ${k}`).join('\n');
  const reasons = DROP_REASONS.map((r) => `    ${String(ledger.byReason[r]).padStart(6)}  ${r}`).join('\n');
  const more = Object.entries(extra).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n');
  console.log(`${title} (${WHO}): ${ledger.total} hostile packets\n  injected by kind:\n${kinds}\n  dropped by reason:\n${reasons}${more ? `\n${more}` : ''}`);
}

describe('hostile heartbeats in the simulator', () => {
  it('never move a VIP, are each counted under a drop reason, and the cluster still fails over', async () => {
    const r = new Rand(SEED);
    const { c, caps } = await boot(SEED);
    const { deadAfterMs } = c.opts;
    const f = simFactory(c, caps, r);
    const ledger = new Ledger();
    const inject = injector(c, ledger);
    const acceptedAt = () => NAMES.reduce((s, n) => s + c.node(n).agent!.membership.accepted, 0);


    /* Phase 1: a settled cluster, hostile packets of every kind interleaved with the real heartbeats. */
    let holders = holdersKey(c);
    let marks = eventMarks(c);
    const accepted0 = acceptedAt();
    const plan: Array<[string, () => void]> = [];
    const each = (n: number, gen: (t: string) => Hostile | undefined, label: string) => {
      for (const t of NAMES) for (let i = 0; i < n; i++) plan.push([label, () => inject(t, gen(t))]);
    };
    each(2500, () => f.random(), 'random');
    each(1500, () => f.framed(), 'framed');
    each(800, () => f.signedRandom(), 'signed');
    each(300, (t) => f.extended(t), 'extended');
    each(1000, (t) => f.randomBitFlips(t), 'flips');
    each(800, (t) => f.refielded(t), 'refielded');
    each(800, (t) => f.wrongKey(t), 'wrong key');
    each(150, (t) => f.unknownNode(t), 'unknown');
    each(150, (t) => f.wrongSource(t), 'source');
    each(60, (t) => f.self(t), 'self');
    each(800, (t) => f.replay(t), 'replay');
    each(200, (t) => f.replayFresh(t), 'fresh');
    for (const t of NAMES) {
      // Every prefix of, and every bit flip in, a few genuine packets addressed to this agent.
      for (const cap of EVERY_NAME_BUT(NAMES, t).map((s) => caps.filter((k) => k.from === s && k.to === t).at(-1)!)) {
        for (const h of f.truncations(cap)) plan.push(['truncations', () => inject(t, h)]);
      }
      const one = caps.filter((k) => k.to === t).at(-1)!;
      for (const h of f.everyBitFlip(one)) plan.push(['every bit', () => inject(t, h)]);
    }
    r.shuffle(plan);
    const perStep = 200;
    for (let i = 0; i < plan.length; i += perStep) {
      for (const [, go] of plan.slice(i, i + perStep)) go();
      await c.time.advance(10);
      if (holdersKey(c) !== holders) break;
    }
    ledger.expectClean('phase 1 (settled cluster)');
    expect(holdersKey(c), `phase 1: holders changed (${WHO})`).toBe(holders);
    expect(eventsSince(c, marks), `phase 1: events (${WHO})`).toEqual([]);
    expectCountersMatch(c, ledger, 'phase 1');
    const genuine1 = acceptedAt() - accepted0;
    expect(genuine1, 'genuine heartbeats kept arriving').toBeGreaterThan(200);
    for (const n of NAMES) expectPeers(c, n, Object.fromEntries(EVERY_NAME_BUT(NAMES, n).map((p) => [p, { alive: true, mature: true }])), 'phase 1');
    const phase1 = `${ledger.total} hostile packets over ${Math.ceil(plan.length / perStep) * 10} virtual ms, ${genuine1} genuine heartbeats accepted meanwhile`;

    /* Phase 2: a real crash, with the victim's last packets replayed (to every survivor) all along. */
    const victim = singleHolders(c).get(VIPS[0]!)!;
    const survivors = EVERY_NAME_BUT(NAMES, victim);
    const victimVips = [...singleHolders(c)].filter(([, h]) => h === victim).map(([v]) => v);
    const before = singleHolders(c);
    marks = eventMarks(c);
    const t0 = c.time.now();
    c.crash(victim);
    await c.time.advance(5); // its packets in flight arrive
    const lastOfVictim = caps.filter((k) => k.from === victim).slice(-8);
    const servedAt = new Map<string, number>();
    while (c.time.now() < t0 + deadAfterMs + 300) {
      for (const s of survivors) {
        for (const k of lastOfVictim) inject(s, f.replayOf(k, s, 'crashed node: last packets replayed'));
        for (let i = 0; i < 20; i++) inject(s, r.pick([() => f.random(), () => f.wrongKey(s), () => f.randomBitFlips(s), () => f.replay(s)])());
      }
      await c.time.advance(5, () => {
        for (const v of victimVips) if (!servedAt.has(v) && c.world.holders(v).length === 1) servedAt.set(v, c.time.now());
      });
    }
    ledger.expectClean('phase 2 (crash)');
    for (const v of victimVips) expect(servedAt.get(v)! - t0, `${v} of crashed ${victim} served again after (ms) (${WHO})`).toBeLessThanOrEqual(deadAfterMs + 20);
    const after = singleHolders(c);
    for (const [v, h] of before) if (h !== victim) expect(after.get(v), `${v} stays put`).toBe(h);
    const crashEvents = eventsSince(c, marks);
    // Only what a crash causes: each survivor sees the victim go down, its VIPs are acquired once each.
    expect(crashEvents.filter((e) => !/: acquire /.test(e) && !e.includes(`: peer ${victim} down `)), `phase 2 events (${WHO})`).toEqual([]);
    expect(crashEvents.filter((e) => /: acquire /.test(e)).map((e) => e.split(' ')[2]).sort(), `phase 2 acquisitions (${WHO})`).toEqual(victimVips.sort());
    const failoverMs = Math.max(...[...servedAt.values()].map((t) => t - t0));

    // Long after: every captured packet of the dead node, over and over. It stays dead; nobody lets go of its VIPs.
    holders = holdersKey(c);
    marks = eventMarks(c);
    const ofVictim = caps.filter((k) => k.from === victim);
    for (let step = 0; step < 200; step++) {
      for (const s of survivors) {
        for (const k of lastOfVictim) inject(s, f.replayOf(k, s, 'crashed node: last packets replayed'));
        for (let i = 0; i < 10; i++) inject(s, f.replayOf(r.pick(ofVictim), s, 'crashed node: old packets replayed'));
      }
      await c.time.advance(10);
    }
    ledger.expectClean('phase 2 (after the crash)');
    expect(holdersKey(c), `phase 2: holders changed after failover (${WHO})`).toBe(holders);
    expect(eventsSince(c, marks), `phase 2: events after failover (${WHO})`).toEqual([]);
    for (const s of survivors) expectPeers(c, s, { [victim]: { alive: false } }, 'phase 2');
    expectCountersMatch(c, ledger, 'phase 2');

    /* Phase 3: the victim comes back; another node leaves and comes back; their old incarnations' packets, 'leaving' included, replayed. */
    await c.start(victim);
    await c.time.advance(c.opts.matureMs + 3000);
    const leaver = singleHolders(c).get(VIPS[1]!)!;
    const leaverOld = c.node(leaver).agent!.incarnation;
    await c.leave(leaver);
    const leaving = caps.filter((k) => k.from === leaver && k.hb.type === 'leaving');
    expect(leaving.length, 'leaving packets captured').toBeGreaterThan(0);
    await c.start(leaver);
    await c.time.advance(c.opts.matureMs + 3000);
    singleHolders(c);
    holders = holdersKey(c);
    marks = eventMarks(c);
    const oldIncarnation = caps.filter((k) => (k.from === leaver && k.hb.incarnation === leaverOld) || (k.from === victim && k.at < t0 + 5));
    for (let step = 0; step < 100; step++) {
      for (const t of NAMES) {
        for (const k of leaving.slice(-6)) inject(t, f.replayOf(k, t, "'leaving' of a node that restarted, replayed"));
        for (let i = 0; i < 10; i++) inject(t, f.replayOf(r.pick(oldIncarnation), t, 'older incarnation replayed'));
      }
      await c.time.advance(10);
    }
    ledger.expectClean('phase 3 (restarts)');
    expect(holdersKey(c), `phase 3: holders changed (${WHO})`).toBe(holders);
    expect(eventsSince(c, marks), `phase 3: events (${WHO})`).toEqual([]);
    for (const n of NAMES) expectPeers(c, n, Object.fromEntries(EVERY_NAME_BUT(NAMES, n).map((p) => [p, { alive: true, mature: true }])), 'phase 3');
    expectCountersMatch(c, ledger, 'phase 3');

    /* Phase 4: after all that, a genuine crash still moves the VIP within dead_after. */
    const victim2 = singleHolders(c).get(VIPS[2]!)!;
    const t1 = c.time.now();
    c.crash(victim2);
    let served2: number | undefined;
    await c.time.advance(deadAfterMs + 300, () => { if (served2 === undefined && c.world.holders(VIPS[2]!).length === 1) served2 = c.time.now(); });
    expect(served2! - t1, `final crash: ${VIPS[2]} served again after (ms) (${WHO})`).toBeLessThanOrEqual(deadAfterMs + 20);
    singleHolders(c);

    figures('simulator', ledger, {
      'phase 1 (settled cluster)': phase1,
      'crash under replay: VIP served again after (ms)': failoverMs, 'final crash (ms)': served2! - t1, 'dead_after (ms)': deadAfterMs,
    });
  });

  it('regression: a crashed node\'s last packet to one peer, replayed to another, neither revives it nor moves its VIP', async () => {
    // Before the recipient was bound under the MAC: www3 crashed, www1 took its VIP over, and www3's last
    // packet to www2 (one seq above the last www1 saw) replayed to www1 made it release the VIP to the dead
    // node's older claim ('duplicate'): no holder for dead_after. Every node as the victim, so that case is in.
    for (const victim of NAMES) {
      const { c, caps } = await boot(SEED + 1);
      const [s1, s2] = EVERY_NAME_BUT(NAMES, victim) as [string, string];
      const vips = [...singleHolders(c)].filter(([, h]) => h === victim).map(([v]) => v);
      const from = { address: c.node(victim).address, port: 7946 };
      const t0 = c.time.now();
      c.crash(victim);
      await c.time.advance(5);
      const lastTo = (to: string) => caps.filter((k) => k.from === victim && k.to === to).at(-1)!;
      const crossReplay = () => {
        expect(c.node(s1).agent!.receive(lastTo(s2).bytes, from), `${victim}'s last packet to ${s2}, replayed to ${s1}`).toMatchObject({ ok: false, reason: 'replay' });
        expect(c.node(s2).agent!.receive(lastTo(s1).bytes, from), `${victim}'s last packet to ${s1}, replayed to ${s2}`).toMatchObject({ ok: false, reason: 'replay' });
      };
      crossReplay(); // while the survivors wait out dead_after: must not delay the failover
      const servedAt = new Map<string, number>();
      await c.time.advance(c.opts.deadAfterMs + 200, () => {
        for (const v of vips) if (!servedAt.has(v) && c.world.holders(v).length === 1) servedAt.set(v, c.time.now());
      });
      for (const v of vips) expect(servedAt.get(v)! - t0, `${v} of ${victim}`).toBeLessThanOrEqual(c.opts.deadAfterMs + 20);
      const holders = holdersKey(c);
      const marks = eventMarks(c);
      crossReplay(); // after the failover: the new holder must not yield to the dead node's older claim
      await c.time.advance(1000);
      expect(eventsSince(c, marks), `victim ${victim}`).toEqual([]);
      expect(holdersKey(c)).toBe(holders);
      // The fix: agents name the recipient of every packet in the extensions area, where the MAC covers it.
      for (const k of caps) expect(tlvRecipient(k.hb.extensions), 'recipient named in a genuine packet').toBe(k.to);
    }
  });

  it('regression: membership drops a packet addressed to another node, accepts one addressed to it or to nobody (older agents)', () => {
    const key = Buffer.from('k'.repeat(32));
    let now = 1000;
    const m = new Membership({ self: 'www2', peers: NAMES.map((name) => ({ name })), key, clock: { now: () => now }, deadAfterMs: 400, matureMs: 3000 });
    const hb = (seq: number, to?: string): Buffer => encodeHeartbeat({
      type: 'heartbeat', node: 'www1', incarnation: 7, seq, state: 'active', health: 'healthy', timestampMs: 5, echoTimestampMs: 0, echoDelayMs: 0,
      configDigest: '00'.repeat(8), held: [{ vip: VIPS[0]!, gen: 1 }], handoffs: [], extensions: to === undefined ? undefined : recipientTlv(to),
    }, key);
    expect(m.receive(hb(1, 'www2'))).toMatchObject({ ok: true });
    expect(m.receive(hb(2, 'www3'))).toMatchObject({ ok: false, reason: 'replay' });
    expect(m.get('www1')!.seq).toBe(1);
    now += 10;
    expect(m.receive(hb(3))).toMatchObject({ ok: true }); // no recipient named: an agent from before the recipient TLV
    expect(m.receive(hb(4, 'www2'))).toMatchObject({ ok: true });
    expect(m.drops.replay).toBe(1);
  });
});

/* ------------------------------------------------------------------------------------------ */
/* Real agents, real UDP on loopback                                                          */

const sockets: Socket[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => Promise.race([a.stop(), sleep(3000)])));
  for (const s of sockets.splice(0)) { try { s.close(); } catch { /* already closed */ } }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bindUdp(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    sockets.push(s);
    s.once('error', reject);
    s.bind(0, address, () => { s.off('error', reject); resolve(s); });
  });
}

function memoryDriver(table: Map<string, string>, name: string): VipDriver {
  return {
    reconcile: async () => [],
    present: async () => [...table].filter(([, n]) => n === name).map(([v]) => v),
    add: async (vip) => { table.set(vip, name); },
    del: async (vip) => { if (table.get(vip) === name) table.delete(vip); },
    announce: async () => {},
  };
}

describe('hostile datagrams over loopback UDP', () => {
  it('real agents drop every one under its reason, keep heartbeating and move nothing', async () => {
    const r = new Rand(SEED ^ 0x5bd1e995);
    const names = ['n1', 'n2', 'n3'];
    const addr = (n: string) => `127.0.0.${names.indexOf(n) + 1}`;
    const OUTSIDER = '127.0.0.66';
    const socks = await Promise.all(names.map((n) => bindUdp(addr(n))));
    const nodes = Object.fromEntries(names.map((n, i) => [n, { address: addr(n), port: (socks[i]!.address() as AddressInfo).port }]));
    const secret = Buffer.from('loopback fuzz key, 32 bytes long');
    const table = new Map<string, string>();
    const events: string[] = [];
    const caps: Capture[] = [];
    const ledger = new Ledger();
    // Hostile datagrams from one attacker socket to one agent arrive in order: match each result to what was sent.
    const attackers = new Map<string, Socket>(); // source address → socket
    const pending = new Map<string, Array<{ h: Hostile; idx: number }>>(); // 'agent attacker-port' → sent, not yet received
    let idx = 0;
    names.forEach((name, i) => {
      const sock = socks[i]!;
      const opts = resolveAgentOptions({ nodeName: name, nodes, vips: VIPS, interface: 'lo', secret, heartbeatMs: 20, deadAfterMs: 300, matureMs: 300 });
      const agent = new Agent(opts, {
        clock: systemClock, timers: systemTimers, log: quietLog, driver: memoryDriver(table, name),
        send: (to, bytes) => {
          const d = decodeHeartbeat(bytes, secret);
          if (d.ok) caps.push({ from: name, to: to.name, bytes: Buffer.from(bytes), at: performance.now(), hb: d.packet });
          if (caps.length > 5000) caps.splice(0, 1000);
          sock.send(bytes, to.port, to.address);
        },
        onEvent: (e) => events.push(`${name}: ${describeEvent(e)}`),
      });
      sock.on('message', (msg, rinfo) => {
        const res = agent.receive(msg, rinfo);
        const q = pending.get(`${name} ${rinfo.port}`);
        const attacker = attackers.get(rinfo.address);
        if (!q || !attacker || (attacker.address() as AddressInfo).port !== rinfo.port) return; // genuine heartbeat
        const sent = q.shift();
        if (!sent) return ledger.fail(`${name}: unexpected datagram from ${rinfo.address}:${rinfo.port}`);
        ledger.check(sent.h, name, agent, res, sent.idx);
      });
      agents.push(agent);
    });
    for (const a of [...names.map(addr), OUTSIDER]) attackers.set(a, await bindUdp(a));
    for (const n of names) for (const s of attackers.values()) pending.set(`${n} ${(s.address() as AddressInfo).port}`, []);

    await Promise.all(agents.map((a) => a.start()));
    const settleBy = performance.now() + 5000;
    const balanced = () => table.size === VIPS.length && new Set(table.values()).size === names.length &&
      agents.every((a) => a.state === 'active' && a.status().peers.every((p) => p.alive && p.mature));
    while (!balanced() && performance.now() < settleBy) await sleep(20);
    await sleep(200);
    expect(balanced(), 'three agents settled, one VIP each').toBe(true);

    const f = new Factory({
      key: secret, names, vips: VIPS, address: addr, outsider: OUTSIDER, digest: configDigest({ vips: VIPS, nodes }),
      now: () => performance.now(), captures: caps, replayAgeMs: 100, incarnation: (n) => agents[names.indexOf(n)]!.incarnation,
    }, r);
    const before = { table: JSON.stringify([...table].sort()), events: events.length, status: agents.map((a) => a.status()) };

    // What to send: every kind, with truncations and every bit flip of one packet per agent.
    const plan: Array<{ target: string; h: Hostile }> = [];
    const each = (n: number, gen: (t: string) => Hostile | undefined) => {
      for (const target of names) for (let i = 0; i < n; i++) { const h = gen(target); if (h) plan.push({ target, h }); }
    };
    each(150, () => f.random());
    each(100, () => f.framed());
    each(60, () => f.signedRandom());
    each(60, (t) => f.randomBitFlips(t));
    each(60, (t) => f.refielded(t));
    each(100, (t) => f.wrongKey(t));
    each(30, (t) => f.unknownNode(t));
    each(30, (t) => f.wrongSource(t));
    each(15, (t) => f.self(t));
    each(100, (t) => f.replay(t));
    each(30, (t) => f.replayFresh(t)); // just sent to another peer: newer than what this agent last got from the sender
    for (const t of names) {
      const cap = caps.filter((k) => k.to === t && performance.now() - k.at > 50).at(-1)!;
      for (const h of f.truncations(cap)) plan.push({ target: t, h });
      f.everyBitFlip(cap).forEach((h, bit) => { if (bit % 3 === 0) plan.push({ target: t, h }); }); // every third bit
    }
    r.shuffle(plan);

    const port = (t: string) => nodes[t]!.port;
    const t0 = performance.now();
    const sent0 = agents.map((a) => a.status().counters.heartbeatsSent);
    const accepted0 = agents.map((a) => a.status().counters.heartbeatsAccepted);
    const BATCH = 60; // about 20 in flight per agent: well inside a default socket receive buffer
    let lost = 0;
    for (let i = 0; i < plan.length; i += BATCH) {
      for (const { target, h } of plan.slice(i, i + BATCH)) {
        const from = attackers.get(h.from)!;
        pending.get(`${target} ${(from.address() as AddressInfo).port}`)!.push({ h, idx: idx++ });
        from.send(h.bytes, port(target), nodes[target]!.address);
      }
      const by = performance.now() + 2000;
      const inFlight = () => [...pending.values()].reduce((s, q) => s + q.length, 0);
      while (inFlight() > 0 && performance.now() < by) await sleep(1);
      if (inFlight() > 0) { lost = inFlight(); break; }
    }
    const blastMs = performance.now() - t0;
    expect(lost, `datagrams never answered by the agents (lost by the kernel, or accepted silently?) (${WHO})`).toBe(0);
    ledger.expectClean('UDP');
    await sleep(100); // the genuine heartbeats go on

    expect(JSON.stringify([...table].sort()), `UDP: the VIPs moved (${WHO})`).toBe(before.table);
    expect(events.slice(before.events), `UDP: agent events (${WHO})`).toEqual([]);
    const dropped = zeroDrops();
    agents.forEach((a, i) => {
      const s = a.status();
      expect(s.counters.heartbeatsDropped, `UDP: drop counters of ${s.node} (${WHO})`).toEqual(ledger.perTarget.get(a) ?? zeroDrops());
      for (const reason of DROP_REASONS) dropped[reason] += s.counters.heartbeatsDropped[reason];
      expect(s.moves).toEqual(before.status[i]!.moves);
      expect(s.counters.acquisitions).toBe(before.status[i]!.counters.acquisitions);
      expect(s.counters.releases).toBe(before.status[i]!.counters.releases);
      expect(s.peers.every((p) => p.alive && p.mature), `UDP: ${s.node} sees every peer alive`).toBe(true);
      expect(s.counters.heartbeatsSent - sent0[i]!, `UDP: ${s.node} kept heartbeating`).toBeGreaterThan(((blastMs + 100) / 20) * 2 * 0.5);
      expect(s.counters.heartbeatsAccepted - accepted0[i]!, `UDP: ${s.node} kept hearing its peers`).toBeGreaterThan(((blastMs + 100) / 20) * 2 * 0.5);
    });
    expect(dropped).toEqual(ledger.byReason);
    figures('loopback UDP', ledger, {
      'blast (ms)': Math.round(blastMs), 'datagrams/s': Math.round(ledger.total / (blastMs / 1000)),
      'heartbeats sent during it': agents.map((a, i) => a.status().counters.heartbeatsSent - sent0[i]!),
    });
  }, 20_000);
});
