// The names and RRsets of a zone in flat typed arrays, with no object per name or record.
// A Map of names to objects holds a million zone names as some three million objects, and a
// major garbage collection marks each of them while answering waits (100–250 ms on one core
// for a million-record zone); typed arrays are one object each, whatever their length.
//
// Lookups get small view objects (ZoneNode, RRset) made on demand: the general path makes them
// per query it builds, and only for queries the fast path does not answer (answer-cache.ts).
// Views are not kept, so two reads of one RRset give two objects: compare owner and type, not
// identity. A view's `next` (the round-robin cursor) is stored in the table, so it persists.
import { grow, growBuffer, resizeAll, trim, trimBuffer } from './columns.js';
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

/** FNV-1a over a key's characters (keys are ASCII: escapes stand for other octets). */
function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Per name: where its key text is, its length, its first and last RRset (-1: none). */
interface NameColumns { at: Int32Array; len: Uint16Array; firstSet: Int32Array; lastSet: Int32Array; [k: string]: Int32Array | Uint16Array }
/** Per RRset: type, TTL, the next RRset of its name, its RDATA chain, record count, round-robin cursor. */
interface SetColumns { type: Uint16Array; ttl: Uint32Array; next: Int32Array; firstRd: Int32Array; lastRd: Int32Array; count: Int32Array; cursor: Uint32Array; [k: string]: Uint16Array | Uint32Array | Int32Array }
/** Per RDATA: its offset in `data` (the packed records; the length is the 2 octets before) and the next of its RRset. */
interface RdataColumns { at: Int32Array; next: Int32Array; [k: string]: Int32Array }

export class NameTable implements Iterable<[string, ZoneNode]> {
  private text: Buffer; // the names' key text back to back
  private textUsed = 0;
  private readonly name: NameColumns;
  private count = 0;
  private slots: Int32Array; // open addressing, name index + 1
  private mask: number;
  private readonly set: SetColumns;
  private sets = 0;
  private readonly rd: RdataColumns;
  private rds = 0;

  /** `data`: the buffer the RDATA offsets point into; `records`: how many will come (a size hint). */
  constructor(private readonly data: Buffer, records: number) {
    const n = Math.max(16, records + 16);
    this.text = Buffer.allocUnsafe(n * 16);
    this.name = { at: new Int32Array(n), len: new Uint16Array(n), firstSet: new Int32Array(n), lastSet: new Int32Array(n) };
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.set = {
      type: new Uint16Array(n), ttl: new Uint32Array(n), next: new Int32Array(n), firstRd: new Int32Array(n),
      lastRd: new Int32Array(n), count: new Int32Array(n), cursor: new Uint32Array(n),
    };
    this.rd = { at: new Int32Array(n), next: new Int32Array(n) };
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (for the memory figures). */
  get byteLength(): number {
    const columns = [...Object.values(this.name), ...Object.values(this.set), ...Object.values(this.rd)];
    return this.text.length + this.slots.byteLength + columns.reduce((n, a) => n + a.byteLength, 0);
  }

  // ---- lookups -------------------------------------------------------------------------

  /** The index of the name `key`, or -1. */
  indexOf(key: string): number {
    const len = key.length;
    for (let s = keyHash(key) & this.mask; ; s = (s + 1) & this.mask) {
      const i = this.slots[s]! - 1;
      if (i < 0) return -1;
      if (this.name.len[i] !== len) continue;
      const at = this.name.at[i]!;
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
    return this.text.toString('latin1', this.name.at[i]!, this.name.at[i]! + this.name.len[i]!);
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
    for (let s = this.name.firstSet[i]!; s >= 0; s = this.set.next[s]!) if (this.set.type[s] === type) return s;
    return -1;
  }

  setCountAt(i: number): number {
    let n = 0;
    for (let s = this.name.firstSet[i]!; s >= 0; s = this.set.next[s]!) n++;
    return n;
  }

  setsAt(i: number, owner: string): RRset[] {
    const out: RRset[] = [];
    for (let s = this.name.firstSet[i]!; s >= 0; s = this.set.next[s]!) out.push(new SetView(this, s, owner));
    return out;
  }

  setTypeOf(s: number): number { return this.set.type[s]!; }
  setTtlOf(s: number): number { return this.set.ttl[s]!; }
  cursor(s: number): number { return this.set.cursor[s]!; }
  setCursorTo(s: number, v: number): void { this.set.cursor[s] = v; }

  /** The RDATAs of RRset `s`, as views of the packed records. */
  rdatasOf(s: number): Buffer[] {
    const out = new Array<Buffer>(this.set.count[s]!);
    let k = 0;
    for (let r = this.set.firstRd[s]!; r >= 0; r = this.rd.next[r]!) {
      const at = this.rd.at[r]!;
      out[k++] = this.data.subarray(at, at + ((this.data[at - 2]! << 8) | this.data[at - 1]!));
    }
    return out;
  }

  // ---- building --------------------------------------------------------------------------

  /** The last name is in: trims the columns to their use and drops what only adding needs. No add() after. */
  seal(): void {
    while (!this.sealStep());
  }

  private sealed = 0;

  /**
   * seal() a part at a time (each copies up to a few tens of MiB for a zone of a million
   * names): true once the whole is done. For a zone built between queries.
   */
  sealStep(): boolean {
    switch (this.sealed++) {
      case 0:
        this.name.lastSet = new Int32Array(0);
        this.set.lastRd = new Int32Array(0);
        resizeAll(this.name, (a) => trim(a, this.count));
        return false;
      case 1: resizeAll(this.set, (a) => trim(a, this.sets)); return false;
      case 2: resizeAll(this.rd, (a) => trim(a, this.rds)); return false;
      case 3: this.text = trimBuffer(this.text, this.textUsed); return true;
      default: return true;
    }
  }

  /** The index of the name `key`, added (with no RRsets) if it is not there. */
  add(key: string): number {
    const found = this.indexOf(key);
    if (found >= 0) return found;
    if ((this.count + 1) * 2 > this.slots.length) this.rehash();
    const i = this.count++;
    if (this.count > this.name.at.length) resizeAll(this.name, (a) => grow(a, this.count));
    this.text = growBuffer(this.text, this.textUsed, this.textUsed + key.length);
    this.name.at[i] = this.textUsed;
    this.name.len[i] = key.length;
    this.textUsed += this.text.write(key, this.textUsed, 'latin1');
    this.name.firstSet[i] = -1;
    this.name.lastSet[i] = -1;
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
    if (this.sets > this.set.type.length) resizeAll(this.set, (a) => grow(a, this.sets));
    const set = this.set;
    set.type[s] = type;
    set.ttl[s] = ttl;
    set.next[s] = -1;
    set.count[s] = 0;
    set.cursor[s] = 0;
    set.firstRd[s] = -1;
    set.lastRd[s] = -1;
    const last = this.name.lastSet[i]!;
    if (last >= 0) set.next[last] = s;
    else this.name.firstSet[i] = s;
    this.name.lastSet[i] = s;
    this.addRdata(s, rdAt);
    return s;
  }

  /** Adds the RDATA at `at` to RRset `s` unless it has it already (RFC 2181 §5); false if it had. */
  addRdata(s: number, at: number): boolean {
    const d = this.data;
    const len = (d[at - 2]! << 8) | d[at - 1]!;
    for (let r = this.set.firstRd[s]!; r >= 0; r = this.rd.next[r]!) {
      const o = this.rd.at[r]!;
      if (((d[o - 2]! << 8) | d[o - 1]!) === len && d.compare(d, at, at + len, o, o + len) === 0) return false;
    }
    const r = this.rds++;
    if (this.rds > this.rd.at.length) resizeAll(this.rd, (a) => grow(a, this.rds));
    this.rd.at[r] = at;
    this.rd.next[r] = -1;
    const last = this.set.lastRd[s]!;
    if (last >= 0) this.rd.next[last] = r;
    else this.set.firstRd[s] = r;
    this.set.lastRd[s] = r;
    this.set.count[s]!++;
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
