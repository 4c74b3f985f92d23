// Every name of a zone in flat typed arrays, found by the wire form of the question name, for
// the fast path: its A and AAAA answers, its CNAME, and enough to know that a name does not exist. The
// zone's name table (name-table.ts) is keyed by the presentation form and its RRsets are chains
// of offsets: reaching a name's A records there takes a string made from the query, its hash and
// several dependent reads. Here it costs a hash of the query's own bytes, one slot (which holds
// the hash, so a probe that cannot match reads nothing more) and one run of bytes: the name, its
// flags and its A and AAAA records side by side, each likely a single CPU cache miss, at any
// zone size.
//
// Every name is in, empty non-terminals too, so a name that is not here does not exist; whether
// that is NXDOMAIN depends on its closest encloser's flags (a zone cut, a wildcard). Names at or
// below a zone cut carry no records (the general path refers them), and neither does RDATA of an
// odd length. A zone with a DNAME has no index (built by ZoneBuilder). Health-managed names are
// in; the caller asks the overlay.
import { keyToLabels, ownKeyToLabels } from './name.js';
import { growBuffer, trimBuffer } from './columns.js';
import { nameToWire, RRType } from './rr.js';
import type { RRset, ZoneNode } from './zone.js';

/*
 * A name's record in `bytes`, at offset `at` (what find() returns):
 *
 * | offset              | size     | what                                                      |
 * |---------------------|----------|-----------------------------------------------------------|
 * | 0                   | 1        | length L of the name                                      |
 * | 1                   | L        | the name in wire form, lower-case, ending with the root   |
 * | 1 + L               | 1        | flags: NOT_DIRECT, WILDCARD_BELOW                         |
 * | 2 + L               | 10 + 4a  | the A set: count a (u16), TTL (u32 BE), cursor (u32), a RDATAs of 4 octets |
 * | 12 + L + 4a         | 10 + 16b | the AAAA set, the same with RDATAs of 16 octets          |
 * | 22 + L + 4a + 16b   | 1        | length T of the CNAME's target, 0 when the name has none  |
 * | 23 + L + 4a + 16b   | 4 + 4 + T| (T > 0) the CNAME's TTL (u32 BE), the target's record (u32, see cnameTarget()), the target in wire form as in the zone |
 *
 * A set's offset is what set() returns; its count 0 means the name has no such records here.
 * The records are in chunks of at most 4 MiB (none spans two): an offset is chunk × 4 MiB + the
 * offset inside it. So a large zone's index is never copied whole while it grows, which would
 * stall the answers between two slices of a reload.
 * slots: open addressing, linear probing, two numbers a slot: the name's hash and at + 1 (0: empty);
 * at least one and a half times as many slots as names (a probe that is not the name rarely reads
 * more than the slot: it holds the hash).
 */
/** The name is at or below a zone cut: answered by the general path (a referral), NXDOMAIN below it too. */
export const NOT_DIRECT = 1;
/** The name has a wildcard child (`*.name`): a name that does not exist below it may match it. */
export const WILDCARD_BELOW = 2;
const SET_HEAD = 10;
/** Before a CNAME's target: its length, TTL and the target's record. */
const CNAME_HEAD = 9;
const CHUNK_BITS = 22;
const CHUNK = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK - 1;

/** FNV-1a over the lower-cased octets [start, end) of `b`. */
export function nameHash(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    let c = b[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h | 0;
}

/** Whether a[aAt, aAt + len) equals `lower` (already lower-case) at lowerAt, ignoring ASCII case in `a`. */
export function equalsFolded(a: Uint8Array, aAt: number, lower: Uint8Array, lowerAt: number, len: number): boolean {
  for (let i = 0; i < len; i++) {
    let c = a[aAt + i]!;
    if (c >= 0x41 && c <= 0x5a) c += 32;
    if (c !== lower[lowerAt + i]) return false;
  }
  return true;
}

export class AnswerIndex {
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** The names' records, back to back (see the table above). */
  private readonly chunks: Buffer[];
  /** Bytes used in the last chunk. */
  private used = 0;
  private count = 0;

  /**
   * `capacity`: at most this many names will be added (the zone's node count). The table is
   * filled as names are added, so that finish() has little left to do: an index is built in
   * slices between queries (ZoneBuilder.step), and no slice may take long.
   */
  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 1.5) cap *= 2; // so at most two thirds full
    this.slots = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.chunks = [Buffer.allocUnsafe(Math.min(Math.max(1, capacity), 1024) * 48)];
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (for the memory figures). */
  get byteLength(): number {
    let n = this.slots.byteLength;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /** Adds a name with its flags, and its A, AAAA and CNAME RRsets unless NOT_DIRECT (see the top of the file). */
  add(node: ZoneNode, flags: number): void {
    const a = flags & NOT_DIRECT ? undefined : usable(node.get(RRType.A), 4);
    const aaaa = flags & NOT_DIRECT ? undefined : usable(node.get(RRType.AAAA), 16);
    const cname = flags & NOT_DIRECT ? undefined : node.get(RRType.CNAME);
    const target = cname?.rdatas.length === 1 ? cname.rdatas[0]! : undefined; // RDATA: one uncompressed name
    const wire = nameToWire(ownKeyToLabels(node.key)); // keys are lower-case already (RFC 4343)
    const len = wire.length;
    if (len > 255) return;
    const need = 3 + len + 2 * SET_HEAD + (a ? 4 * a.rdatas.length : 0) + (aaaa ? 16 * aaaa.rdatas.length : 0) + (target ? CNAME_HEAD + target.length : 0);
    const last = this.chunks.length - 1;
    if (this.used + need > CHUNK) { this.chunks.push(Buffer.allocUnsafe(CHUNK)); this.used = 0; }
    else this.chunks[last] = growBuffer(this.chunks[last]!, this.used, this.used + need, CHUNK);
    const chunk = this.chunks.length - 1;
    const b = this.chunks[chunk]!;
    const o = this.used;
    this.used += need;
    b[o] = len;
    wire.copy(b, o + 1);
    b[o + 1 + len] = flags;
    const c = this.putSet(b, this.putSet(b, o + 2 + len, a), aaaa);
    b[c] = target ? target.length : 0;
    if (target) {
      b.writeUInt32BE(cname!.ttlSeconds, c + 1);
      b.writeUInt32LE(0, c + 5);
      target.copy(b, c + CNAME_HEAD);
    }
    const h = nameHash(b, o + 1, o + 1 + len);
    let s = h & this.mask;
    while (this.slots[2 * s + 1] !== 0) s = (s + 1) & this.mask;
    this.slots[2 * s] = h;
    this.slots[2 * s + 1] = chunk * CHUNK + o + 1;
    this.count++;
  }

  /** Writes a set at `o`; returns where the next one goes. */
  private putSet(b: Buffer, o: number, set: { rdatas: Buffer[]; ttl: number } | undefined): number {
    const n = set ? set.rdatas.length : 0;
    b.writeUInt16BE(n, o);
    b.writeUInt32BE(set ? set.ttl : 0, o + 2);
    b.writeUInt32LE(0, o + 6);
    o += SET_HEAD;
    if (set) for (const r of set.rdatas) o += r.copy(b, o);
    return o;
  }

  /** Call once, after the last add(): gives back the room the last chunk has not used. */
  finish(): this {
    const last = this.chunks.length - 1;
    this.chunks[last] = trimBuffer(this.chunks[last]!, this.used);
    return this;
  }

  /** The name msg[start, end) (wire form, any case, ending with the root label): its record's offset, or -1. */
  find(msg: Uint8Array, start: number, end: number): number {
    const len = end - start;
    const slots = this.slots;
    const h = nameHash(msg, start, end);
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const at = slots[2 * s + 1]! - 1;
      if (at < 0) return -1;
      if (slots[2 * s] !== h) continue;
      const b = this.chunks[at >>> CHUNK_BITS]!;
      const o = (at & IN_CHUNK) + 1;
      if (b[o - 1] === len && equalsFolded(msg, start, b, o, len)) return at;
    }
  }

  /** The record of a name given as its canonical key ("www.example.com."), or -1. */
  findKey(key: string): number {
    const wire = nameToWire(keyToLabels(key));
    return this.find(wire, 0, wire.length);
  }

  /** The flags of the name at `at` (NOT_DIRECT, WILDCARD_BELOW). */
  flags(at: number): number {
    const b = this.chunks[at >>> CHUNK_BITS]!;
    const o = at & IN_CHUNK;
    return b[o + 1 + b[o]!]!;
  }

  /** The offset of the A (or AAAA) set of the name at `at`. */
  set(at: number, qtype: number): number {
    const b = this.chunks[at >>> CHUNK_BITS]!;
    const o = at & IN_CHUNK;
    const a = o + 2 + b[o]!;
    return (at - o) + (qtype === RRType.A ? a : a + SET_HEAD + 4 * ((b[a]! << 8) | b[a + 1]!));
  }

  /** Records of the set at `set`: 0 when the name has none here. */
  records(set: number): number {
    const b = this.chunks[set >>> CHUNK_BITS]!;
    const o = set & IN_CHUNK;
    return (b[o]! << 8) | b[o + 1]!;
  }

  /** Copies the set's TTL (4 octets, network order) to out[o...]. */
  copyTtl(set: number, out: Uint8Array, o: number): void {
    const b = this.chunks[set >>> CHUNK_BITS]!;
    const s = set & IN_CHUNK;
    out[o] = b[s + 2]!; out[o + 1] = b[s + 3]!; out[o + 2] = b[s + 4]!; out[o + 3] = b[s + 5]!;
  }

  /** Copies RDATA `i` (of `width` octets) of the set to out[o...]. */
  copyRdata(set: number, width: number, i: number, out: Uint8Array, o: number): void {
    const b = this.chunks[set >>> CHUNK_BITS]!;
    for (let k = (set & IN_CHUNK) + SET_HEAD + i * width, end = k + width; k < end; ) out[o++] = b[k++]!;
  }

  /** The offset of the CNAME of the name at `at` (for cnameTarget() and the target's bytes), or -1 when it has none. */
  cname(at: number): number {
    const b = this.chunks[at >>> CHUNK_BITS]!;
    const o = at & IN_CHUNK;
    const a = o + 2 + b[o]!;
    const aaaa = a + SET_HEAD + 4 * ((b[a]! << 8) | b[a + 1]!);
    const c = aaaa + SET_HEAD + 16 * ((b[aaaa]! << 8) | b[aaaa + 1]!);
    return b[c] === 0 ? -1 : (at - o) + c;
  }

  /**
   * The record of the CNAME's target when the fast path can answer with it: a name of this zone,
   * not at or below a zone cut, without a CNAME of its own (a longer chain is the general
   * path's); -1 otherwise. Found on first use and kept in the CNAME's record: the index does not
   * change once built, and building it resolves no targets (a slice of a reload stays short).
   */
  cnameTarget(c: number): number {
    const b = this.chunks[c >>> CHUNK_BITS]!;
    const o = c & IN_CHUNK;
    const known = b.readUInt32LE(o + 5);
    if (known !== 0) return known - 2;
    const t = o + CNAME_HEAD;
    const at = this.find(b, t, t + b[o]!);
    const ok = at >= 0 && (this.flags(at) & NOT_DIRECT) === 0 && this.cname(at) < 0;
    b.writeUInt32LE(ok ? at + 2 : 1, o + 5);
    return ok ? at : -1;
  }

  /** The chunk holding the CNAME at `c`: its target is at cnameStart(c) there (wire form, as in the zone, length at cnameStart(c) - 9). */
  cnameChunk(c: number): Buffer {
    return this.chunks[c >>> CHUNK_BITS]!;
  }

  /** Where the target of the CNAME at `c` starts in cnameChunk(c). */
  cnameStart(c: number): number {
    return (c & IN_CHUNK) + CNAME_HEAD;
  }

  /** Copies the CNAME's TTL (4 octets, network order) to out[o...]. */
  copyCnameTtl(c: number, out: Uint8Array, o: number): void {
    const b = this.chunks[c >>> CHUNK_BITS]!;
    const s = (c & IN_CHUNK) + 1;
    out[o] = b[s]!; out[o + 1] = b[s + 1]!; out[o + 2] = b[s + 2]!; out[o + 3] = b[s + 3]!;
  }

  /** The record an answer starts with, advancing the set's cursor (BIND's rrset-order cyclic). */
  rotate(set: number, count: number): number {
    if (count < 2) return 0;
    const b = this.chunks[set >>> CHUNK_BITS]!;
    const o = (set & IN_CHUNK) + 6;
    const c = b.readUInt32LE(o);
    b.writeUInt32LE((c + 1) % 0x3fffffff, o);
    return c % count;
  }
}

/** The RDATAs and TTL of an RRset whose every RDATA has the type's fixed length (an A of 4 octets, an AAAA of 16). */
function usable(set: RRset | undefined, width: number): { rdatas: Buffer[]; ttl: number } | undefined {
  if (!set) return undefined;
  const rdatas = set.rdatas;
  if (rdatas.length === 0 || rdatas.length > 0xffff) return undefined;
  for (const r of rdatas) if (r.length !== width) return undefined;
  return { rdatas, ttl: set.ttlSeconds };
}
