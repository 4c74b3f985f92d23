// The zone model: a zone's records grouped into nodes and RRsets, with the structure
// lookup needs (empty non-terminals, delegation points, wildcard presence) computed once at load.
import { isSubdomain, keyToLabels, parentKey } from './name.js';
import { RRType, soaFields, type ResourceRecord } from './rr.js';

export interface RRset {
  /** Canonical owner key. */
  owner: string;
  /** Owner labels (lower-case) for encoding. */
  ownerLabels: string[];
  type: number;
  ttlSeconds: number;
  /** Distinct RDATAs in zone-file order. */
  rdatas: Buffer[];
  /** Round-robin cursor: the record the next answer starts with (BIND's rrset-order cyclic). */
  next: number;
}

export interface ZoneNode {
  key: string;
  /** Empty for an empty non-terminal (RFC 8020: the name exists, it has no data). */
  rrsets: Map<number, RRset>;
}

export interface Zone {
  origin: string;
  originLabels: string[];
  serial: number;
  soa: RRset;
  /** RFC 2308 §5: negative TTL = min(SOA TTL, SOA MINIMUM). */
  negativeTtlSeconds: number;
  nodes: Map<string, ZoneNode>;
  /** Keys of delegation points (NS below the apex). */
  cuts: Set<string>;
  recordCount: number;
  /** The records as loaded, in file order (for AXFR). */
  records: ResourceRecord[];
}

/**
 * Builds the model from checked records (no out-of-zone data, one SOA at the apex), one record
 * at a time so a large zone can be built in slices between queries (ZoneStore.reload).
 * Duplicate RDATAs collapse (RFC 2181 §5); an RRset takes the TTL of its first record
 * (RFC 2181 §5.2; the checker warns when they differ).
 */
export class ZoneBuilder {
  private readonly nodes = new Map<string, ZoneNode>();
  private readonly kept: ResourceRecord[] = [];
  private readonly cuts = new Set<string>();

  constructor(readonly origin: string) {
    this.node(origin);
  }

  private node(key: string): ZoneNode {
    let n = this.nodes.get(key);
    if (!n) { n = { key, rrsets: new Map() }; this.nodes.set(key, n); }
    return n;
  }

  add(rr: ResourceRecord): void {
    const { nodes, origin } = this;
    if (!isSubdomain(rr.owner, origin)) return;
    const n = this.node(rr.owner);
    let set = n.rrsets.get(rr.type);
    if (!set) {
      set = { owner: rr.owner, ownerLabels: keyToLabels(rr.owner), type: rr.type, ttlSeconds: rr.ttlSeconds, rdatas: [], next: 0 };
      n.rrsets.set(rr.type, set);
      if (rr.type === RRType.NS && rr.owner !== origin) this.cuts.add(rr.owner);
    }
    if (set.rdatas.some((r) => r.equals(rr.rdata))) return;
    set.rdatas.push(rr.rdata);
    this.kept.push(rr);
    // Every ancestor up to the apex exists, possibly as an empty non-terminal.
    for (let k = rr.owner; k !== origin; ) {
      k = parentKey(k);
      if (nodes.has(k)) break;
      this.node(k);
    }
  }

  finish(): Zone {
    const { nodes, origin } = this;
    const soa = nodes.get(origin)!.rrsets.get(RRType.SOA);
    if (!soa) throw new Error(`zone ${origin} has no SOA at its apex`);
    const f = soaFields(soa.rdatas[0]!);
    return {
      origin, originLabels: keyToLabels(origin), serial: f.serial, soa,
      negativeTtlSeconds: Math.min(soa.ttlSeconds, f.minimum),
      nodes, cuts: this.cuts, recordCount: this.kept.length, records: this.kept,
    };
  }
}

/** Builds the model in one go (see ZoneBuilder). */
export function buildZone(origin: string, records: ResourceRecord[]): Zone {
  const b = new ZoneBuilder(origin);
  for (const rr of records) b.add(rr);
  return b.finish();
}

/** A set of zones, matched by the closest enclosing origin. */
export class ZoneSet {
  constructor(readonly zones: ReadonlyMap<string, Zone>) {}

  /** The zone whose origin is the closest ancestor of `qkey` (or the name itself), if any. */
  find(qkey: string): Zone | undefined {
    for (let k = qkey; ; k = parentKey(k)) {
      const z = this.zones.get(k);
      if (z) return z;
      if (k === '.') return undefined;
    }
  }
}
