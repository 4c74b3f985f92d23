// The A and AAAA answers of a zone in flat typed arrays, found by the wire form of the question
// name, for the fast path. The zone's name table (name-table.ts) is keyed by the presentation
// form and its RRsets are chains of offsets: reaching a name's A records there takes a string
// made from the query, its hash, and several dependent reads. Here it costs a hash of the
// query's own bytes, one slot, one entry and one run of bytes (name and RDATAs side by side),
// each likely a single CPU cache miss, at any zone size.
//
// Only what is answered from the zone as it is goes in: a name at or below a zone cut, any name
// of a zone with a DNAME, and RDATA of an odd length are left out (the general path answers
// them), and so is every other type. Health-managed names are in; the caller asks the overlay.
import { keyToLabels, ownKeyToLabels } from './name.js';
import { grow, growBuffer, trim, trimBuffer } from './columns.js';
import { nameToWire, RRType } from './rr.js';
import type { RRset, ZoneNode } from './zone.js';

/*
 * entries: Int32Array, FIELDS per name:
 *
 * | field | what                                                            |
 * |-------|-----------------------------------------------------------------|
 * | 0     | offset of the name in `bytes` (wire form, lower-case, final 0)  |
 * | 1     | its length                                                      |
 * | 2, 3  | A: offset of the first RDATA in `bytes` (records back to back), count (0: none) |
 * | 4     | A: TTL                                                          |
 * | 5, 6  | AAAA: the same                                                  |
 * | 7     | AAAA: TTL                                                       |
 *
 * slots: open addressing, linear probing, entry index + 1 (0: empty), at least twice the names.
 */
const FIELDS = 8;

/** FNV-1a over the lower-cased octets [start, end) of `b`. */
export function nameHash(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    let c = b[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

export class AnswerIndex {
  private entries: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** Names and RDATAs, back to back. */
  private bytes: Buffer;
  private used = 0;
  private count = 0;
  /** Round-robin cursors, two per entry (A, AAAA). */
  private cursors = new Uint32Array(0);

  /**
   * `capacity`: at most this many names will be added (the zone's node count). The table is
   * filled as names are added, so that finish() has little left to do: an index is built in
   * slices between queries (ZoneBuilder.step), and no slice may take long.
   */
  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.entries = new Int32Array(Math.min(Math.max(1, capacity), 1024) * FIELDS);
    this.bytes = Buffer.allocUnsafe(Math.min(Math.max(1, capacity), 1024) * 32);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (for the memory figures). */
  get byteLength(): number {
    return this.entries.byteLength + this.slots.byteLength + this.bytes.length + this.cursors.byteLength;
  }

  private reserve(n: number): number {
    this.bytes = growBuffer(this.bytes, this.used, this.used + n);
    const at = this.used;
    this.used += n;
    return at;
  }

  /** Adds the A and AAAA RRsets of a name answered as it is (see the top of the file). */
  add(node: ZoneNode): void {
    const a = usable(node.get(RRType.A), 4);
    const aaaa = usable(node.get(RRType.AAAA), 16);
    if (!a && !aaaa) return;
    const wire = nameToWire(ownKeyToLabels(node.key)); // keys are lower-case already (RFC 4343)
    const len = wire.length;
    if (len > 255) return;
    const at = this.reserve(len);
    wire.copy(this.bytes, at);
    this.entries = grow(this.entries, (this.count + 1) * FIELDS);
    const f = this.count++ * FIELDS;
    let s = nameHash(this.bytes, at, at + len) & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = this.count; // entry index + 1
    this.entries[f] = at;
    this.entries[f + 1] = len;
    this.putSet(f + 2, a);
    this.putSet(f + 5, aaaa);
  }

  private putSet(f: number, set: { rdatas: Buffer[]; ttl: number } | undefined): void {
    const ent = this.entries;
    if (!set) { ent[f] = -1; ent[f + 1] = 0; ent[f + 2] = 0; return; }
    let total = 0;
    for (const r of set.rdatas) total += r.length;
    const at = this.reserve(total);
    let o = at;
    for (const r of set.rdatas) o += r.copy(this.bytes, o);
    ent[f] = at;
    ent[f + 1] = set.rdatas.length;
    ent[f + 2] = set.ttl;
  }

  /** Call once, after the last add(): the rotation cursors (the table is filled already). */
  finish(): this {
    this.cursors = new Uint32Array(this.count * 2);
    // The arrays grew by doubling: give back what is unused (a copy of a few ms even at a million names).
    this.entries = trim(this.entries, this.count * FIELDS);
    this.bytes = trimBuffer(this.bytes, this.used);
    return this;
  }

  /** The entry of the name msg[start, end) (wire form, any case, ending with the root label), or -1. */
  find(msg: Uint8Array, start: number, end: number): number {
    if (this.count === 0) return -1;
    const len = end - start;
    const ent = this.entries;
    const b = this.bytes;
    for (let s = nameHash(msg, start, end) & this.mask; ; s = (s + 1) & this.mask) {
      const e = this.slots[s]! - 1;
      if (e < 0) return -1;
      const f = e * FIELDS;
      if (ent[f + 1] !== len) continue;
      const at = ent[f]!;
      let i = 0;
      for (; i < len; i++) {
        let c = msg[start + i]!;
        if (c >= 0x41 && c <= 0x5a) c += 32;
        if (c !== b[at + i]) break;
      }
      if (i === len) return e;
    }
  }

  /** The entry of a name given as its canonical key ("www.example.com."), or -1. */
  findKey(key: string): number {
    const wire = nameToWire(keyToLabels(key));
    return this.find(wire, 0, wire.length);
  }

  /** Records of the A (or AAAA) RRset of entry `e`: 0 when the name has none. */
  records(e: number, qtype: number): number {
    return this.entries[e * FIELDS + (qtype === RRType.A ? 3 : 6)]!;
  }

  /** TTL of that RRset. */
  ttl(e: number, qtype: number): number {
    return this.entries[e * FIELDS + (qtype === RRType.A ? 4 : 7)]!;
  }

  /** Copies RDATA `i` of that RRset to out[o...]; returns its length. */
  copyRdata(e: number, qtype: number, i: number, out: Buffer, o: number): number {
    const width = qtype === RRType.A ? 4 : 16;
    const at = this.entries[e * FIELDS + (qtype === RRType.A ? 2 : 5)]! + i * width;
    this.bytes.copy(out, o, at, at + width);
    return width;
  }

  /** The record an answer starts with, advancing the cursor (BIND's rrset-order cyclic). */
  rotate(e: number, qtype: number, count: number): number {
    if (count < 2) return 0;
    const c = e * 2 + (qtype === RRType.A ? 0 : 1);
    const start = this.cursors[c]! % count;
    this.cursors[c] = (this.cursors[c]! + 1) % 0x3fffffff;
    return start;
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
