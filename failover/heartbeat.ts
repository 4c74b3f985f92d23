// Heartbeat wire format v1: the signed binary packet an agent sends each peer; layout in docs/heartbeat-protocol.md.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bytesToIp, ipToBytes } from './ip.js';

export const MAGIC = Buffer.from('ROAM', 'latin1');
export const VERSION = 1;
export const MAC_BYTES = 32; // HMAC-SHA256
export const MAX_NAME_BYTES = 63;
export const MAX_LIST_ENTRIES = 4096;
export const MAX_PACKET_BYTES = 65507; // largest UDP payload over IPv4
const FIXED_BYTES = 53; // magic .. nameLen (see the table in the docs)
/** Smallest valid packet: fixed header, a 1-byte name, three empty lists' counts, the MAC. */
export const MIN_PACKET_BYTES = FIXED_BYTES + 1 + 2 + 2 + 2 + MAC_BYTES;

export const PACKET_TYPES = ['heartbeat', 'leaving'] as const;
export const NODE_STATES = ['joining', 'active', 'draining', 'leaving'] as const;
export const HEALTHS = ['unknown', 'healthy', 'unhealthy'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];
export type NodeState = (typeof NODE_STATES)[number];
export type Health = (typeof HEALTHS)[number];

/** A VIP the sender holds, with the generation it acquired it at (older claim = lower gen). */
export interface HeldVip {
  vip: string;
  gen: number;
}

/**
 * A planned move in progress: the sender released `vip`, which it held at `gen`, for
 * `to` to acquire. Stale once anyone has claimed the VIP at a higher gen.
 */
export interface Handoff {
  vip: string;
  to: string;
  gen: number;
}

export interface Heartbeat {
  type: PacketType;
  node: string;
  incarnation: number; // chosen at start (wall-clock ms); a restart gets a higher one
  seq: number; // strictly increasing within an incarnation
  state: NodeState;
  health: Health;
  timestampMs: number; // sender's monotonic clock, echoed back for RTT
  echoTimestampMs: number; // the receiver's last timestampMs the sender saw, 0 = none
  echoDelayMs: number; // how long the sender held that timestamp before echoing it
  configDigest: string; // 16 hex chars: hash of the sender's VIP set, nodes and prefs
  held: HeldVip[];
  handoffs: Handoff[];
  extensions?: Uint8Array; // TLVs for compatible additions (type 1: recipient, see below); other types are ignored
}

/**
 * The extensions area holds TLVs (type u8, length u16, value). Type 1 names the node the
 * packet is addressed to. Sequence numbers count per sender, not per pair, so a packet
 * meant for one peer is usually newer than the last one another peer saw: without the
 * recipient under the MAC it could be replayed to that other peer and accepted.
 */
export const EXT_RECIPIENT = 1;

/** The extensions area of a packet addressed to the node `name`. */
export function recipientExtension(name: string): Buffer {
  const value = Buffer.from(name, 'utf8');
  const tl = Buffer.alloc(3);
  tl[0] = EXT_RECIPIENT;
  tl.writeUInt16BE(value.length, 1);
  return Buffer.concat([tl, value]);
}

/** The recipient an extensions area names; undefined when it names none (an older sender) or is not TLVs. */
export function extensionRecipient(ext: Uint8Array | undefined): string | undefined {
  if (!ext) return undefined;
  const b = Buffer.from(ext.buffer, ext.byteOffset, ext.byteLength);
  for (let i = 0; i + 3 <= b.length; ) {
    const len = b.readUInt16BE(i + 1);
    if (i + 3 + len > b.length) return undefined;
    if (b[i] === EXT_RECIPIENT) return b.toString('utf8', i + 3, i + 3 + len);
    i += 3 + len;
  }
  return undefined;
}

export type DecodeFailure = 'malformed' | 'wrong-version' | 'bad-mac';
export type DecodeResult = { ok: true; packet: Heartbeat } | { ok: false; reason: DecodeFailure; detail: string };

class Truncated extends Error {}

/** Bounds-checked reader: every read past the end throws Truncated, caught inside decode. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer, private readonly end: number) {}
  take(n: number, what: string): Buffer {
    if (this.pos + n > this.end) throw new Truncated(`truncated in ${what}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(what: string): number { return this.take(1, what)[0]!; }
  u16(what: string): number { return this.take(2, what).readUInt16BE(0); }
  u32(what: string): number { return this.take(4, what).readUInt32BE(0); }
  u64(what: string): number {
    const v = this.take(8, what).readBigUInt64BE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Truncated(`${what} above 2^53`);
    return Number(v);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readName(r: Reader, what: string): string {
  const len = r.u8(`${what} length`);
  if (len < 1 || len > MAX_NAME_BYTES) throw new Truncated(`${what} length ${len} outside 1..${MAX_NAME_BYTES}`);
  let name: string;
  try { name = utf8.decode(r.take(len, what)); } catch { throw new Truncated(`${what} is not UTF-8`); }
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new Truncated(`${what} has control characters`);
  return name;
}

function readAddress(r: Reader, what: string): string {
  const family = r.u8(`${what} family`);
  if (family !== 4 && family !== 6) throw new Truncated(`${what} family ${family} is not 4 or 6`);
  return bytesToIp(r.take(family === 4 ? 4 : 16, what));
}

function readList<T>(r: Reader, what: string, item: (r: Reader) => T, key: (t: T) => string): T[] {
  const count = r.u16(`${what} count`);
  if (count > MAX_LIST_ENTRIES) throw new Truncated(`${what} count ${count} above ${MAX_LIST_ENTRIES}`);
  const out: T[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const t = item(r);
    if (seen.has(key(t))) throw new Truncated(`${what} lists ${key(t)} twice`);
    seen.add(key(t));
    out.push(t);
  }
  return out;
}

function enumAt<T>(values: readonly T[], code: number, what: string): T {
  const v = values[code];
  if (v === undefined) throw new Truncated(`${what} code ${code} unknown`);
  return v;
}

/** Parses the authenticated body; throws Truncated on any inconsistency. */
function parseBody(buf: Buffer): Heartbeat {
  const r = new Reader(buf, buf.length - MAC_BYTES);
  r.take(5, 'header');
  const type = enumAt(PACKET_TYPES, r.u8('type') - 1, 'type');
  const state = enumAt(NODE_STATES, r.u8('state'), 'state');
  const health = enumAt(HEALTHS, r.u8('health'), 'health');
  const incarnation = r.u64('incarnation');
  const seq = r.u64('seq');
  const timestampMs = r.u64('timestamp');
  const echoTimestampMs = r.u64('echo timestamp');
  const echoDelayMs = r.u32('echo delay');
  const configDigest = r.take(8, 'config digest').toString('hex');
  const node = readName(r, 'node name');
  const held = readList(r, 'held', (rr) => ({ vip: readAddress(rr, 'held vip'), gen: rr.u32('held gen') }), (h) => h.vip);
  const handoff = (rr: Reader) => ({ vip: readAddress(rr, 'handoff vip'), gen: rr.u32('handoff gen'), to: readName(rr, 'handoff node') });
  const handoffs = readList(r, 'handoffs', handoff, (h) => h.vip);
  const extensions = Buffer.from(r.take(r.u16('extensions length'), 'extensions'));
  if (r.pos !== buf.length - MAC_BYTES) throw new Truncated(`${buf.length - MAC_BYTES - r.pos} trailing bytes before the MAC`);
  return { type, node, incarnation, seq, state, health, timestampMs, echoTimestampMs, echoDelayMs, configDigest, held, handoffs, extensions };
}

function mac(key: Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/**
 * Decodes and authenticates a packet. Order: framing (magic), version, size, MAC over
 * everything before it, then the strict parse — nothing unauthenticated is parsed
 * beyond the first five bytes. Never throws.
 */
export function decodeHeartbeat(bytes: Uint8Array, key: Uint8Array): DecodeResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 5 || !buf.subarray(0, 4).equals(MAGIC)) return { ok: false, reason: 'malformed', detail: 'no ROAM magic' };
  if (buf[4] !== VERSION) return { ok: false, reason: 'wrong-version', detail: `version ${buf[4]}, this agent speaks ${VERSION}` };
  if (buf.length < MIN_PACKET_BYTES || buf.length > MAX_PACKET_BYTES) {
    return { ok: false, reason: 'malformed', detail: `length ${buf.length} outside ${MIN_PACKET_BYTES}..${MAX_PACKET_BYTES}` };
  }
  const bodyEnd = buf.length - MAC_BYTES;
  if (!timingSafeEqual(mac(key, buf.subarray(0, bodyEnd)), buf.subarray(bodyEnd))) {
    return { ok: false, reason: 'bad-mac', detail: 'HMAC-SHA256 does not match' };
  }
  try {
    return { ok: true, packet: parseBody(buf) };
  } catch (e) {
    if (e instanceof Truncated) return { ok: false, reason: 'malformed', detail: e.message };
    return { ok: false, reason: 'malformed', detail: `unexpected: ${String(e)}` };
  }
}

function u64(n: number, what: string): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} ${n} is not an integer in 0..2^53`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function u16(n: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; }
function u32(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} ${n} outside 0..2^32-1`);
  const b = Buffer.alloc(4); b.writeUInt32BE(n); return b;
}

function nameBytes(name: string, what: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length < 1 || b.length > MAX_NAME_BYTES) throw new RangeError(`${what} "${name}" must be 1..${MAX_NAME_BYTES} bytes`);
  return Buffer.concat([Buffer.of(b.length), b]);
}

function addressBytes(vip: string): Buffer {
  const b = ipToBytes(vip);
  if (!b) throw new RangeError(`"${vip}" is not an IP address`);
  return Buffer.concat([Buffer.of(b.length === 4 ? 4 : 6), b]);
}

function list<T>(items: readonly T[], what: string, enc: (t: T) => Buffer[]): Buffer[] {
  if (items.length > MAX_LIST_ENTRIES) throw new RangeError(`${what}: ${items.length} entries, at most ${MAX_LIST_ENTRIES}`);
  return [u16(items.length), ...items.flatMap(enc)];
}

/** Encodes and signs a heartbeat. Throws RangeError only on caller bugs (bad name, too many VIPs). */
export function encodeHeartbeat(p: Heartbeat, key: Uint8Array): Buffer {
  const digest = Buffer.from(p.configDigest, 'hex');
  if (digest.length !== 8) throw new RangeError('configDigest must be 16 hex characters');
  const ext = p.extensions ?? new Uint8Array(0);
  if (ext.length > 0xffff) throw new RangeError('extensions above 65535 bytes');
  const body = Buffer.concat([
    MAGIC, Buffer.of(VERSION, PACKET_TYPES.indexOf(p.type) + 1, NODE_STATES.indexOf(p.state), HEALTHS.indexOf(p.health)),
    u64(p.incarnation, 'incarnation'), u64(p.seq, 'seq'), u64(Math.floor(p.timestampMs), 'timestamp'),
    u64(Math.floor(p.echoTimestampMs), 'echo timestamp'), u32(Math.min(0xffffffff, Math.floor(p.echoDelayMs)), 'echo delay'),
    digest, nameBytes(p.node, 'node name'),
    ...list(p.held, 'held', (h) => [addressBytes(h.vip), u32(h.gen, 'gen')]),
    ...list(p.handoffs, 'handoffs', (h) => [addressBytes(h.vip), u32(h.gen, 'handoff gen'), nameBytes(h.to, 'handoff node')]),
    u16(ext.length), Buffer.from(ext),
  ]);
  if (body.length + MAC_BYTES > MAX_PACKET_BYTES) throw new RangeError(`heartbeat of ${body.length + MAC_BYTES} bytes exceeds ${MAX_PACKET_BYTES}`);
  return Buffer.concat([body, mac(key, body)]);
}
