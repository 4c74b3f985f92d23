// The names and RRsets of a zone in flat typed arrays, with no object per name or record.
// A Map of names to objects holds a million zone names as some three million objects, and a
// major garbage collection marks each of them while answering waits (100–250 ms on one core
// for a million-record zone); typed arrays are one object each, whatever their length.
//
// Lookups get small view objects (ZoneNode, RRset) made on demand: the general path makes them
// per query it builds, and only for queries the fast path does not answer (answer-cache.ts).
// Views are not kept, so two reads of one RRset give two objects: compare owner and type, not
// identity. A view's `next` (the round-robin cursor) is stored in the table, so it persists.
import type { RRset } from './zone.js';

/** A name of the zone and its RRsets, in the order their first record came; none: an empty non-terminal (RFC 8020). */
export interface ZoneNode {
  readonly key: string;
  get(type: number): RRset | undefined;
  has(type: number): boolean;
  readonly size: number;
  /** Every RRset (a new array). */
  readonly sets: RRset[];
}

type Grown = Int32Array | Uint32Array | Uint16Array;

function grow<T extends Grown>(a: T, need: number): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/** FNV-1a over a key's characters (keys are ASCII: escapes stand for other octets). */
function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class NameTable implements Iterable<[string, ZoneNode]> {
  // Names: the key text back to back; per name its place, length and first RRset (-1: none).
  private text: Buffer;
  private textUsed = 0;
  private nameAt: Int32Array;
  private nameLen: Uint16Array;
  private firstSet: Int32Array;
  private lastSet: Int32Array;
  private count = 0;
  private slots: Int32Array; // open addressing, name index + 1
  private mask: number;
  // RRsets: per set its type, TTL, next set of the same name, RDATA chain, count and cursor.
  private setType: Uint16Array;
  private setTtl: Uint32Array;
  private setNext: Int32Array;
  private setFirstRd: Int32Array;
  private setLastRd: Int32Array;
  private setCount: Int32Array;
  private setCursor: Uint32Array;
  private sets = 0;
  // RDATAs: their offsets in `data` (the packed records; the length is the 2 octets before).
  private rdAt: Int32Array;
  private rdNext: Int32Array;
  private rds = 0;

  /** `data`: the buffer the RDATA offsets point into; `records`: how many will come (a size hint). */
  constructor(private readonly data: Buffer, records: number) {
    const n = Math.max(16, records + 16);
    this.text = Buffer.allocUnsafe(n * 16);
    this.nameAt = new Int32Array(n);
    this.nameLen = new Uint16Array(n);
    this.firstSet = new Int32Array(n);
    this.lastSet = new Int32Array(n);
    let cap = 16;
    while (cap < (records + 16) * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.setType = new Uint16Array(n);
    this.setTtl = new Uint32Array(n);
    this.setNext = new Int32Array(n);
    this.setFirstRd = new Int32Array(n);
    this.setLastRd = new Int32Array(n);
    this.setCount = new Int32Array(n);
    this.setCursor = new Uint32Array(n);
    this.rdAt = new Int32Array(n);
    this.rdNext = new Int32Array(n);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (for the memory figures). */
  get byteLength(): number {
    return this.text.length + this.slots.byteLength + [this.nameAt, this.nameLen, this.firstSet, this.lastSet, this.setType, this.setTtl,
      this.setNext, this.setFirstRd, this.setLastRd, this.setCount, this.setCursor, this.rdAt, this.rdNext]
      .reduce((n, a) => n + a.byteLength, 0);
  }

  // ---- lookups -------------------------------------------------------------------------

  /** The index of the name `key`, or -1. */
  indexOf(key: string): number {
    const len = key.length;
    for (let s = keyHash(key) & this.mask; ; s = (s + 1) & this.mask) {
      const i = this.slots[s]! - 1;
      if (i < 0) return -1;
      if (this.nameLen[i] !== len) continue;
      const at = this.nameAt[i]!;
      let j = 0;
      while (j < len && this.text[at + j] === key.charCodeAt(j)) j++;
      if (j === len) return i;
    }
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  get(key: string): ZoneNode | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : new NodeView(this, i, key);
  }

  keyAt(i: number): string {
    return this.text.toString('latin1', this.nameAt[i]!, this.nameAt[i]! + this.nameLen[i]!);
  }

  nodeAt(i: number): ZoneNode {
    return new NodeView(this, i, this.keyAt(i));
  }

  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.count; i++) yield this.keyAt(i);
  }

  *values(): IterableIterator<ZoneNode> {
    for (let i = 0; i < this.count; i++) yield this.nodeAt(i);
  }

  *entries(): IterableIterator<[string, ZoneNode]> {
    for (let i = 0; i < this.count; i++) {
      const node = this.nodeAt(i);
      yield [node.key, node];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, ZoneNode]> {
    return this.entries();
  }

  /** The RRset of `type` at name `i`, or -1. */
  setOf(i: number, type: number): number {
    for (let s = this.firstSet[i]!; s >= 0; s = this.setNext[s]!) if (this.setType[s] === type) return s;
    return -1;
  }

  setCountAt(i: number): number {
    let n = 0;
    for (let s = this.firstSet[i]!; s >= 0; s = this.setNext[s]!) n++;
    return n;
  }

  setsAt(i: number, owner: string): RRset[] {
    const out: RRset[] = [];
    for (let s = this.firstSet[i]!; s >= 0; s = this.setNext[s]!) out.push(new SetView(this, s, owner));
    return out;
  }

  setTypeOf(s: number): number { return this.setType[s]!; }
  setTtlOf(s: number): number { return this.setTtl[s]!; }
  cursor(s: number): number { return this.setCursor[s]!; }
  setCursorTo(s: number, v: number): void { this.setCursor[s] = v; }

  /** The RDATAs of RRset `s`, as views of the packed records. */
  rdatasOf(s: number): Buffer[] {
    const out = new Array<Buffer>(this.setCount[s]!);
    let k = 0;
    for (let r = this.setFirstRd[s]!; r >= 0; r = this.rdNext[r]!) {
      const at = this.rdAt[r]!;
      out[k++] = this.data.subarray(at, at + ((this.data[at - 2]! << 8) | this.data[at - 1]!));
    }
    return out;
  }

  // ---- building --------------------------------------------------------------------------

  /** The last name is in: trims the arrays to their use and drops what only adding needs. No add() after. */
  seal(): void {
    const trim = <T extends Grown>(a: T, n: number): T => (a.length > n * 1.25 ? (a.slice(0, n) as T) : a);
    const n = this.count, s = this.sets, r = this.rds;
    this.nameAt = trim(this.nameAt, n);
    this.nameLen = trim(this.nameLen, n);
    this.firstSet = trim(this.firstSet, n);
    this.setType = trim(this.setType, s);
    this.setTtl = trim(this.setTtl, s);
    this.setNext = trim(this.setNext, s);
    this.setFirstRd = trim(this.setFirstRd, s);
    this.setCount = trim(this.setCount, s);
    this.setCursor = trim(this.setCursor, s);
    this.rdAt = trim(this.rdAt, r);
    this.rdNext = trim(this.rdNext, r);
    if (this.text.length > this.textUsed * 1.25) this.text = Buffer.from(this.text.subarray(0, this.textUsed));
    this.lastSet = new Int32Array(0);
    this.setLastRd = new Int32Array(0);
  }

  /** The index of the name `key`, added (with no RRsets) if it is not there. */
  add(key: string): number {
    const found = this.indexOf(key);
    if (found >= 0) return found;
    if ((this.count + 1) * 2 > this.slots.length) this.rehash();
    const i = this.count++;
    if (i >= this.nameAt.length) {
      const n = this.nameAt.length * 2;
      this.nameAt = grow(this.nameAt, n);
      this.nameLen = grow(this.nameLen, n);
      this.firstSet = grow(this.firstSet, n);
      this.lastSet = grow(this.lastSet, n);
    }
    if (this.textUsed + key.length > this.text.length) {
      const t = Buffer.allocUnsafe(Math.max(this.text.length * 2, this.textUsed + key.length));
      this.text.copy(t, 0, 0, this.textUsed);
      this.text = t;
    }
    this.nameAt[i] = this.textUsed;
    this.nameLen[i] = key.length;
    this.textUsed += this.text.write(key, this.textUsed, 'latin1');
    this.firstSet[i] = -1;
    this.lastSet[i] = -1;
    let s = keyHash(key) & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = i + 1;
    return i;
  }

  /** More names than the size hint allowed for (deep names make many empty non-terminals). */
  private rehash(): void {
    const cap = this.slots.length * 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    for (let i = 0; i < this.count; i++) {
      let s = keyHash(this.keyAt(i)) & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = i + 1;
    }
  }

  /** A new RRset at name `i` with its first RDATA (at `rdAt` in the data). Returns its index. */
  addSet(i: number, type: number, ttl: number, rdAt: number): number {
    const s = this.sets++;
    if (s >= this.setType.length) {
      const n = this.setType.length * 2;
      this.setType = grow(this.setType, n);
      this.setTtl = grow(this.setTtl, n);
      this.setNext = grow(this.setNext, n);
      this.setFirstRd = grow(this.setFirstRd, n);
      this.setLastRd = grow(this.setLastRd, n);
      this.setCount = grow(this.setCount, n);
      this.setCursor = grow(this.setCursor, n);
    }
    this.setType[s] = type;
    this.setTtl[s] = ttl;
    this.setNext[s] = -1;
    this.setCount[s] = 0;
    this.setCursor[s] = 0;
    this.setFirstRd[s] = -1;
    this.setLastRd[s] = -1;
    if (this.lastSet[i]! >= 0) this.setNext[this.lastSet[i]!] = s;
    else this.firstSet[i] = s;
    this.lastSet[i] = s;
    this.addRdata(s, rdAt);
    return s;
  }

  /** Adds the RDATA at `at` to RRset `s` unless it has it already (RFC 2181 §5); false if it had. */
  addRdata(s: number, at: number): boolean {
    const d = this.data;
    const len = (d[at - 2]! << 8) | d[at - 1]!;
    for (let r = this.setFirstRd[s]!; r >= 0; r = this.rdNext[r]!) {
      const o = this.rdAt[r]!;
      if (((d[o - 2]! << 8) | d[o - 1]!) === len && d.compare(d, at, at + len, o, o + len) === 0) return false;
    }
    const r = this.rds++;
    if (r >= this.rdAt.length) {
      this.rdAt = grow(this.rdAt, this.rdAt.length * 2);
      this.rdNext = grow(this.rdNext, this.rdAt.length);
    }
    this.rdAt[r] = at;
    this.rdNext[r] = -1;
    if (this.setLastRd[s]! >= 0) this.rdNext[this.setLastRd[s]!] = r;
    else this.setFirstRd[s] = r;
    this.setLastRd[s] = r;
    this.setCount[s]!++;
    return true;
  }
}

class NodeView implements ZoneNode {
  constructor(private readonly t: NameTable, private readonly i: number, readonly key: string) {}

  get(type: number): RRset | undefined {
    const s = this.t.setOf(this.i, type);
    return s < 0 ? undefined : new SetView(this.t, s, this.key);
  }

  has(type: number): boolean {
    return this.t.setOf(this.i, type) >= 0;
  }

  get size(): number {
    return this.t.setCountAt(this.i);
  }

  get sets(): RRset[] {
    return this.t.setsAt(this.i, this.key);
  }
}

/** An RRset of the table. Read `rdatas` once per use: every read makes new views. */
class SetView implements RRset {
  readonly type: number;
  readonly ttlSeconds: number;

  constructor(private readonly t: NameTable, private readonly s: number, readonly owner: string) {
    this.type = t.setTypeOf(s);
    this.ttlSeconds = t.setTtlOf(s);
  }

  get rdatas(): Buffer[] {
    return this.t.rdatasOf(this.s);
  }

  get next(): number {
    return this.t.cursor(this.s);
  }

  set next(v: number) {
    this.t.setCursorTo(this.s, v);
  }
}
