// The zone model: a zone's records grouped into nodes and RRsets, with the structure
// lookup needs (empty non-terminals, delegation points, wildcard presence) computed once at load.
import { isSubdomain, keyToLabels, parentKey } from './name.js';
import { nameToWire, RRType, soaFields, type ResourceRecord } from './rr.js';
import { packRecords, RecordReader, unpackRecords, type PackedRecords } from './zone-pack.js';
import { AnswerIndex, equalsFolded, NOT_DIRECT, WILDCARD_BELOW } from './answer-index.js';
import { NameTable } from './name-table.js';

export interface RRset {
  /** Canonical owner key (the owner's labels: keyToLabels). */
  owner: string;
  type: number;
  ttlSeconds: number;
  /** Distinct RDATAs in zone-file order. */
  rdatas: Buffer[];
  /** Round-robin cursor: the record the next answer starts with (BIND's rrset-order cyclic). */
  next: number;
}

export type { ZoneNode } from './name-table.js';

export interface Zone {
  origin: string;
  originLabels: string[];
  serial: number;
  soa: RRset;
  /** RFC 2308 §5: negative TTL = min(SOA TTL, SOA MINIMUM). */
  negativeTtlSeconds: number;
  /** The names and RRsets, in flat arrays (name-table.ts): get(key) gives a view. */
  nodes: NameTable;
  /** Keys of delegation points (NS below the apex). */
  cuts: Set<string>;
  /** Whether any name has a DNAME (lookups below it are redirected, RFC 6672). */
  hasDname: boolean;
  /** Every name, with its A and AAAA answers, in flat arrays for the fast path (answer-index.ts); none in a zone with a DNAME. */
  answers?: AnswerIndex;
  recordCount: number;
  /**
   * The records as loaded, in file order (for AXFR), packed: about 30 bytes a record. Two
   * zones hold the same data iff these buffers are equal. The RRsets' RDATAs are views into it.
   */
  packed: PackedRecords;
}

/**
 * Builds the model from checked records (no out-of-zone data, one SOA at the apex) packed in
 * one buffer, a slice at a time so a large zone can be built between queries (ZoneStore.reload).
 * Duplicate RDATAs collapse (RFC 2181 §5); an RRset takes the TTL of its first record
 * (RFC 2181 §5.2; the checker warns when they differ).
 */
export class ZoneBuilder {
  private readonly nodes: NameTable;
  private readonly cuts = new Set<string>();
  private hasDname = false;
  private readonly reader: RecordReader;
  private count = 0;
  /** Only when a record was dropped (checked zones have none to drop): the ones kept, to pack again. */
  private kept: ResourceRecord[] | undefined;

  constructor(readonly origin: string, private readonly input: PackedRecords) {
    this.nodes = new NameTable(input.buf, input.count);
    this.nodes.add(origin);
    this.reader = new RecordReader(input);
  }

  /** Phase two: the names go into the answer index, also a slice at a time. */
  private indexing: { index: AnswerIndex; next: number } | undefined;
  private indexed = false;
  private sealed = false;

  get done(): boolean {
    return this.indexed;
  }

  /** Adds up to `max` more records, then indexes up to `max` names at a time; returns how many it did. */
  step(max: number): number {
    let i = 0;
    if (!this.reader.done) {
      for (; i < max; i++) {
        if (!this.reader.advance()) break;
        this.add();
      }
      return i;
    }
    if (this.indexed) return 0;
    // Each of these copies or clears tens of MiB for a large zone: one per step.
    if (!this.sealed) { this.sealed = this.nodes.sealStep(); return 1; }
    if (this.hasDname) { this.indexed = true; return 0; }
    if (!this.indexing) { this.indexing = { index: new AnswerIndex(this.nodes.size), next: 0 }; return 1; }
    const ix = this.indexing;
    for (; i < max; i++) {
      if (ix.next >= this.nodes.size) { ix.index.finish(); this.indexed = true; break; }
      const node = this.nodes.nodeAt(ix.next++);
      const key = node.key;
      ix.index.add(node, (this.cutAtOrAbove(key) ? NOT_DIRECT : 0) | (this.nodes.has(key === '.' ? '*.' : '*.' + key) ? WILDCARD_BELOW : 0));
    }
    return i;
  }

  /** A delegation at the name or between it and the apex: its data is not answered as it is. */
  private cutAtOrAbove(key: string): boolean {
    if (this.cuts.size === 0) return false;
    for (let k = key; k !== this.origin; k = parentKey(k)) if (this.cuts.has(k)) return true;
    return false;
  }

  /** Adds the record the reader is at. */
  private add(): void {
    const { nodes, origin, reader } = this;
    const owner = reader.owner, type = reader.type;
    if (!isSubdomain(owner, origin)) return this.drop();
    const before = nodes.size;
    const n = nodes.add(owner);
    const s = nodes.setOf(n, type);
    if (s < 0) {
      nodes.addSet(n, type, reader.ttlSeconds, reader.rdataAt);
      if (type === RRType.NS && owner !== origin) this.cuts.add(owner);
      if (type === RRType.DNAME) this.hasDname = true;
    } else if (!nodes.addRdata(s, reader.rdataAt)) {
      return this.drop();
    }
    this.count++;
    this.kept?.push(reader.record());
    // A new name: every ancestor up to the apex exists, possibly as an empty non-terminal.
    if (nodes.size === before) return;
    for (let k = owner; k !== origin; ) {
      k = parentKey(k);
      if (nodes.has(k)) break;
      nodes.add(k);
    }
  }

  /** The record just read is not kept: from now on the kept ones are listed (all before it were kept). */
  private drop(): void {
    if (this.kept) return;
    this.kept = [];
    const r = new RecordReader(this.input);
    for (let i = 0; i < this.count; i++) this.kept.push(r.next()!);
  }

  finish(): Zone {
    const { nodes, origin } = this;
    while (!this.done) this.step(4096);
    const soa = nodes.get(origin)!.get(RRType.SOA);
    if (!soa) throw new Error(`zone ${origin} has no SOA at its apex`);
    const f = soaFields(soa.rdatas[0]!);
    return {
      origin, originLabels: keyToLabels(origin), serial: f.serial, soa,
      negativeTtlSeconds: Math.min(soa.ttlSeconds, f.minimum),
      nodes, cuts: this.cuts, hasDname: this.hasDname, answers: this.indexing?.index, recordCount: this.count,
      packed: this.kept ? packRecords(this.kept) : this.input,
    };
  }
}

/** Builds the model in one go (see ZoneBuilder). */
export function buildZone(origin: string, records: readonly ResourceRecord[]): Zone {
  return new ZoneBuilder(origin, packRecords(records)).finish();
}

/** The records of a zone as loaded, in file order. */
export function zoneRecords(zone: Zone): Iterable<ResourceRecord> {
  return unpackRecords(zone.packed);
}

/** A set of zones, matched by the closest enclosing origin. */
export class ZoneSet {
  /** Origins in wire form (lower-case), deepest first, for findWire (made on first use). */
  private wire: { name: Buffer; zone: Zone }[] | undefined;

  constructor(readonly zones: ReadonlyMap<string, Zone>) {}

  /**
   * find() for a name in wire form, msg[start, end) ending with the root label, any case, with
   * `labelStarts` the offsets of its labels: the deepest origin that is a suffix at a label
   * boundary. No strings made. Undefined also when the name is in none of the zones.
   */
  findWire(msg: Uint8Array, end: number, labelStarts: Int32Array, labels: number): Zone | undefined {
    this.wire ??= [...this.zones.values()]
      .map((zone) => ({ zone, name: nameToWire(zone.originLabels) }))
      .sort((a, b) => b.zone.originLabels.length - a.zone.originLabels.length);
    for (const { name, zone } of this.wire) {
      const depth = zone.originLabels.length;
      if (depth > labels) continue;
      const at = labelStarts[labels - depth]!; // where the origin's first label would start
      if (end - at === name.length && equalsFolded(msg, at, name, 0, name.length)) return zone;
    }
    return undefined;
  }

  /** The zone whose origin is the closest ancestor of `qkey` (or the name itself), if any. */
  find(qkey: string): Zone | undefined {
    for (let k = qkey; ; k = parentKey(k)) {
      const z = this.zones.get(k);
      if (z) return z;
      if (k === '.') return undefined;
    }
  }
}
