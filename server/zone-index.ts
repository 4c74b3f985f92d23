// A name -> type -> records index of one zone, and the RFC 1034 §4.3.2 lookup that BIND's
// integrity checks run on it (dns_db_find): do NS, MX and SRV targets inside the zone resolve
// to addresses, or do they hit a delegation, a CNAME, a DNAME or nothing?
import { labelsToKey, parentKey } from './name.js';
import { RRType, type ResourceRecord } from './rr.js';

/** The records of one name by type, in the order the types came (arrays: a Map per name costs seconds on a million names). */
export class ZoneNode {
  readonly types: number[];
  readonly sets: ResourceRecord[][];
  constructor(first: ResourceRecord) {
    this.types = [first.type];
    this.sets = [[first]];
  }

  get(type: number): ResourceRecord[] | undefined {
    const i = this.types.indexOf(type);
    return i < 0 ? undefined : this.sets[i];
  }

  has(type: number): boolean {
    return this.types.includes(type);
  }
}

export interface ZoneIndex {
  apex: string;
  apexLabels: number;
  nodes: Map<string, ZoneNode>;
  /** Names that exist only because something lies below them (empty non-terminals, RFC 8020). */
  nonTerminals: Set<string>;
  /** Memo of cutAbove: names share their ancestors, so each ancestor is looked at once. */
  cutsAbove: Map<string, FindResult | null>;
  /** Memo of closestEncloser, for the same reason. */
  enclosers: Map<string, string>;
}

/** The index of names grouped by owner (zone-check.ts mergeRRsets builds them): adds the empty non-terminals. */
export function buildIndex(apex: string, apexLabelCount: number, nodes: Map<string, ZoneNode>): ZoneIndex {
  const nonTerminals = new Set<string>();
  for (const owner of nodes.keys()) {
    for (let k = owner; k !== apex && k !== '.'; ) {
      k = parentKey(k);
      if (nonTerminals.has(k)) break; // its ancestors are in already
      nonTerminals.add(k);
    }
  }
  return { apex, apexLabels: apexLabelCount, nodes, nonTerminals, cutsAbove: new Map(), enclosers: new Map() };
}

/** dns_db_find's answers that matter to the checks. */
export type FindResult =
  | { kind: 'found' | 'nxrrset' | 'cname' | 'nxdomain' | 'empty' }
  | { kind: 'delegation' | 'dname'; at: string };

/** True when `owner` lies below a zone cut or a DNAME, so it is not authoritative data (RFC 6672 §2.4). */
export function isOccluded(z: ZoneIndex, labels: readonly string[]): boolean {
  const key = labelsToKey(labels);
  const r = walkCuts(z, key);
  return r !== undefined && !(r.kind === 'delegation' && r.at === key);
}

/** Walks from below the apex down to the name: the first NS (at or above it) or DNAME (above it) wins. */
function walkCuts(z: ZoneIndex, key: string): FindResult | undefined {
  if (key === z.apex) return undefined;
  return cutAbove(z, key) ?? (z.nodes.get(key)?.has(RRType.NS) ? { kind: 'delegation', at: key } : undefined);
}

/**
 * The first NS or DNAME strictly between the apex and the in-zone name `key`, from the top.
 * Memoized, so that a zone of many deep names costs one look per distinct ancestor, not one
 * per label of every name (127 labels x 65536 $GENERATEd names took seconds).
 */
function cutAbove(z: ZoneIndex, key: string): FindResult | undefined {
  const known = z.cutsAbove.get(key);
  if (known !== undefined) return known ?? undefined;
  const parent = parentKey(key);
  let found: FindResult | undefined;
  if (parent !== z.apex && parent !== key) {
    found = cutAbove(z, parent);
    const node = found ? undefined : z.nodes.get(parent);
    if (node?.has(RRType.NS)) found = { kind: 'delegation', at: parent };
    else if (node?.has(RRType.DNAME)) found = { kind: 'dname', at: parent };
  }
  z.cutsAbove.set(key, found ?? null);
  return found;
}

function atNode(node: ZoneNode, type: number): FindResult {
  if (node.has(type)) return { kind: 'found' };
  if (node.has(RRType.CNAME)) return { kind: 'cname' };
  return { kind: 'nxrrset' };
}

/** Looks `type` up at the in-zone name `labels` (RFC 1034 §4.3.2 steps 3a-3c, RFC 4592 wildcards). */
export function find(z: ZoneIndex, labels: readonly string[], type: number): FindResult {
  const key = labelsToKey(labels);
  const cut = walkCuts(z, key);
  if (cut) return cut;
  const node = z.nodes.get(key);
  if (node) return atNode(node, type);
  if (z.nonTerminals.has(key)) return { kind: 'empty' };
  // RFC 4592 §3.3.1: the closest encloser is the deepest existing ancestor; its '*' child may match.
  if (key === z.apex) return { kind: 'nxdomain' };
  const ce = closestEncloser(z, key);
  const wild = z.nodes.get(ce === '.' ? '*.' : '*.' + ce);
  return wild ? atNode(wild, type) : { kind: 'nxdomain' };
}

/** The deepest existing proper ancestor of the in-zone name `key` (the apex at the latest), memoized. */
function closestEncloser(z: ZoneIndex, key: string): string {
  const known = z.enclosers.get(key);
  if (known !== undefined) return known;
  const parent = parentKey(key);
  const ce = parent === z.apex || parent === key || z.nodes.has(parent) || z.nonTerminals.has(parent) ? parent : closestEncloser(z, parent);
  z.enclosers.set(key, ce);
  return ce;
}

/** A then AAAA, as BIND's zone_check_ns/mx/srv do: 'found' if either exists. */
export function findAddress(z: ZoneIndex, labels: readonly string[]): FindResult {
  const a = find(z, labels, RRType.A);
  return a.kind === 'nxrrset' ? find(z, labels, RRType.AAAA) : a;
}
