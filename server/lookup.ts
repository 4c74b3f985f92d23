// Authoritative lookup (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 2308 negative answers):
// a pure function from (zones, qname, qtype) to a classified result; encoding lives in response.ts.
import { isSubdomain, labelCount, labelsToKey, MAX_NAME_OCTETS, parentKey, wireLength } from './name.js';
import { nameToWire, RRType, rdataTarget } from './rr.js';
import type { RRset, Zone, ZoneNode, ZoneSet } from './zone.js';
import type { AnswerOverlay } from './pool-overlay.js';

/** An RRset placed in a section; `owner` overrides the RRset's owner (wildcard synthesis, RFC 4592 §3.3.1). */
export interface Placed {
  rrset: RRset;
  owner?: readonly string[];
  /** TTL override, e.g. the SOA of a negative answer (RFC 2308 §3). */
  ttlSeconds?: number;
  /** Write at most this many records of the RRset (a pool's max_answers). */
  limit?: number;
  /** The health-managed pool this answer came from, and whether VIPs were withdrawn from it. */
  pool?: { key: string; degraded: boolean };
}

/** The closed set of outcomes; `answer` may hold a CNAME chain that led to the outcome. */
export type LookupResult =
  | { kind: 'answer'; zone: Zone; answer: Placed[]; additional: Placed[] }
  | { kind: 'nodata'; zone: Zone; answer: Placed[]; authority: Placed[] }
  | { kind: 'nxdomain'; zone: Zone; answer: Placed[]; authority: Placed[] }
  | { kind: 'delegation'; zone: Zone; answer: Placed[]; authority: Placed[]; additional: Placed[] }
  /** RFC 6672 §2.2: the name a DNAME would synthesise is longer than 255 octets. */
  | { kind: 'yxdomain'; zone: Zone; answer: Placed[] }
  | { kind: 'refused' };

/** RFC 1034 §3.6.2 allows chains; cap them so a long or looping chain ends. */
const MAX_CHAIN = 16;

/** One step of the walk for a single name inside one zone. */
type Step =
  | { kind: 'data'; node: ZoneNode; owner: readonly string[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'cut'; cut: ZoneNode }
  | { kind: 'dname'; node: ZoneNode; dname: RRset };

/**
 * Finds what `qkey` is in `zone`: walks down from the apex looking for a zone cut
 * (RFC 1034 §4.3.2 step 3b), then an exact match (3a) or a wildcard at the closest
 * encloser (3c, RFC 4592 §3.3.1). A DS query at a cut is answered by the parent side.
 */
function walk(zone: Zone, qkey: string, qlabels: readonly string[], qtype: number): Step {
  const chain: string[] = [];
  for (let k = qkey; k !== zone.origin && k !== '.'; k = parentKey(k)) chain.push(k);
  const apex = zone.nodes.get(zone.origin)!;
  const apexDname = chain.length > 0 ? apex.get(RRType.DNAME) : undefined;
  if (apexDname) return { kind: 'dname', node: apex, dname: apexDname };
  let encloser = zone.origin;
  for (let i = chain.length - 1; i >= 0; i--) {
    const k = chain[i]!;
    const node = zone.nodes.get(k);
    if (!node) break;
    if (zone.cuts.has(k) && !(i === 0 && qtype === RRType.DS)) return { kind: 'cut', cut: node };
    // RFC 6672 §3.2: a DNAME at a proper ancestor redirects the whole subtree below it.
    const dname = i > 0 ? node.get(RRType.DNAME) : undefined;
    if (dname) return { kind: 'dname', node, dname };
    encloser = k;
  }
  const exact = encloser === qkey ? zone.nodes.get(qkey)! : undefined;
  if (exact) return exact.size === 0 ? { kind: 'nodata' } : { kind: 'data', node: exact, owner: qlabels };
  const wild = zone.nodes.get(encloser === '.' ? '*.' : '*.' + encloser);
  if (!wild) return { kind: 'nxdomain' };
  // A wildcard that is only an empty non-terminal still matches and yields NODATA (RFC 4592 §2.2.2).
  return wild.size === 0 ? { kind: 'nodata' } : { kind: 'data', node: wild, owner: qlabels };
}

function negative(zone: Zone): Placed[] {
  return [{ rrset: zone.soa, ttlSeconds: zone.negativeTtlSeconds }];
}

/** A/AAAA of an in-zone name, for additional-section processing (RFC 1034 §4.3.2 step 6). */
function addresses(zone: Zone, target: readonly string[] | undefined, out: Placed[]): void {
  if (!target) return;
  const key = labelsToKey(target);
  if (!isSubdomain(key, zone.origin)) return;
  const node = zone.nodes.get(key);
  if (!node) return;
  const a = node.get(RRType.A);
  const aaaa = node.get(RRType.AAAA);
  // RRsets are views made on each read (name-table.ts): the same one is the same owner and type.
  const placed = (x: RRset) => out.some((p) => p.rrset.owner === x.owner && p.rrset.type === x.type);
  if (a && !placed(a)) out.push({ rrset: a });
  if (aaaa && !placed(aaaa)) out.push({ rrset: aaaa });
}

function additionalFor(zone: Zone, placed: Placed[]): Placed[] {
  const extra: Placed[] = [];
  for (const p of placed) {
    const t = p.rrset.type;
    if (t !== RRType.MX && t !== RRType.SRV && t !== RRType.NS) continue;
    for (const rdata of p.rrset.rdatas) {
      addresses(zone, rdataTarget({ owner: p.rrset.owner, type: t, klass: 1, ttlSeconds: 0, rdata }), extra);
    }
  }
  return extra;
}

function referral(zone: Zone, cut: ZoneNode, answer: Placed[]): LookupResult {
  const ns = cut.get(RRType.NS)!;
  const authority = [{ rrset: ns }];
  return { kind: 'delegation', zone, answer, authority, additional: additionalFor(zone, authority) };
}

/** An RRset as answered: a pool name's A/AAAA comes from the health overlay (null = withheld, NODATA). */
function place(node: ZoneNode, rrset: RRset, owner: readonly string[], overlay: AnswerOverlay | undefined): Placed | null {
  const pa = overlay && (rrset.type === RRType.A || rrset.type === RRType.AAAA) ? overlay.get(node.key, rrset.type) : undefined;
  if (!pa) return { rrset, owner };
  if (pa.kind === 'nodata') return null;
  return { rrset: pa.rrset, owner, limit: pa.limit, pool: { key: node.key, degraded: pa.degraded } };
}

/**
 * How QTYPE ANY is answered. 'minimal' (RFC 8482 §4.1, the default of `serve`): one RRset of
 * the name — the one of the lowest type code that the health overlay does not withhold, as Knot
 * picks it — so ANY is no amplifier; 'full': every RRset, as RFC 1034 §4.3.2 reads and BIND answers.
 */
export type AnyMode = 'minimal' | 'full';

/** Answers `qtype` at a node that has data: the RRset, one or all RRsets for ANY, or the CNAME to follow. */
function atNode(node: ZoneNode, owner: readonly string[], qtype: number, overlay: AnswerOverlay | undefined, any: AnyMode): { found: Placed[] } | { cname: Placed } | null {
  if (qtype === RRType.ANY) {
    const found: Placed[] = [];
    const sets = any === 'minimal' ? [...node.sets].sort((a, b) => a.type - b.type) : node.sets;
    for (const rrset of sets) {
      const placed = place(node, rrset, owner, overlay);
      if (placed) found.push(placed);
      if (any === 'minimal' && found.length === 1) break;
    }
    return { found };
  }
  const set = node.get(qtype);
  if (set) {
    const placed = place(node, set, owner, overlay);
    return placed ? { found: [placed] } : null;
  }
  const cname = node.get(RRType.CNAME);
  if (cname) return { cname: { rrset: cname, owner } };
  return null;
}

/**
 * RFC 6672 §3.2: the CNAME a DNAME at `owner` implies for `labels`, or undefined when the
 * new name would be over 255 octets (YXDOMAIN). Its TTL is the DNAME's.
 */
function synthesize(labels: readonly string[], owner: string, dname: RRset): RRset | undefined {
  const target = rdataTarget({ owner, type: RRType.DNAME, klass: 1, ttlSeconds: 0, rdata: dname.rdatas[0]! })!;
  const prefix = labels.slice(0, labels.length - labelCount(owner));
  const name = [...prefix, ...target];
  if (wireLength(name) > MAX_NAME_OCTETS) return undefined;
  return { owner: labelsToKey(labels), type: RRType.CNAME, ttlSeconds: dname.ttlSeconds, rdatas: [nameToWire(name)], next: 0 };
}

/** The zone to answer from; DS at a zone apex belongs to the parent side of the cut (RFC 4034 §5) when we serve it. */
function closestZone(zones: ZoneSet, qkey: string, qtype: number): Zone | undefined {
  const zone = zones.find(qkey);
  if (zone && qtype === RRType.DS && zone.origin === qkey && qkey !== '.') return zones.find(parentKey(qkey)) ?? zone;
  return zone;
}

/** RFC 1034 §4.3.2: the whole algorithm, CNAME chains included, for one question. */
export function lookup(zones: ZoneSet, qkey: string, qlabels: readonly string[], qtype: number, overlay?: AnswerOverlay, any: AnyMode = 'full'): LookupResult {
  const zone = closestZone(zones, qkey, qtype);
  if (!zone) return { kind: 'refused' };
  const answer: Placed[] = [];
  const seen = new Set<string>();
  let key = qkey;
  let labels = qlabels;
  for (let hops = 0; ; hops++) {
    seen.add(key);
    const step = walk(zone, key, labels, qtype);
    if (step.kind === 'cut') return referral(zone, step.cut, answer);
    if (step.kind === 'nxdomain') return { kind: 'nxdomain', zone, answer, authority: negative(zone) };
    if (step.kind === 'nodata') return { kind: 'nodata', zone, answer, authority: negative(zone) };
    let r: ReturnType<typeof atNode>;
    if (step.kind === 'dname') {
      answer.push({ rrset: step.dname });
      const cname = synthesize(labels, step.node.key, step.dname);
      if (!cname) return { kind: 'yxdomain', zone, answer };
      r = { cname: { rrset: cname } };
    } else {
      r = atNode(step.node, step.owner, qtype, overlay, any);
    }
    if (!r) return { kind: 'nodata', zone, answer, authority: negative(zone) };
    if ('found' in r) {
      answer.push(...r.found);
      // ANY gets no additional-section processing (neither BIND nor Knot adds any).
      return { kind: 'answer', zone, answer, additional: qtype === RRType.ANY ? [] : additionalFor(zone, r.found) };
    }
    answer.push(r.cname);
    // Follow the CNAME only inside this zone (RFC 1034 §4.3.2 step 3a), stop on loops and long chains.
    const target = rdataTarget({ owner: key, type: RRType.CNAME, klass: 1, ttlSeconds: 0, rdata: r.cname.rrset.rdatas[0]! })!;
    const tkey = labelsToKey(target);
    if (!isSubdomain(tkey, zone.origin) || zones.find(tkey) !== zone || seen.has(tkey) || hops >= MAX_CHAIN) {
      return { kind: 'answer', zone, answer, additional: [] };
    }
    key = tkey;
    labels = target;
  }
}
