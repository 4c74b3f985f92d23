// A name -> type -> records index of one zone, and the RFC 1034 §4.3.2 lookup that BIND's
// integrity checks run on it (dns_db_find): do NS, MX and SRV targets inside the zone resolve
// to addresses, or do they hit a delegation, a CNAME, a DNAME or nothing?
import { labelsToKey, parentKey } from './name.js';
import { RRType, type ResourceRecord } from './rr.js';

export type ZoneNode = Map<number, ResourceRecord[]>;

export interface ZoneIndex {
  apex: string;
  apexLabels: number;
  nodes: Map<string, ZoneNode>;
  /** Names that exist only because something lies below them (empty non-terminals, RFC 8020). */
  nonTerminals: Set<string>;
}

export function buildIndex(apex: string, apexLabelCount: number, records: ResourceRecord[]): ZoneIndex {
  const nodes = new Map<string, ZoneNode>();
  const nonTerminals = new Set<string>();
  for (const rr of records) {
    let node = nodes.get(rr.owner);
    if (!node) nodes.set(rr.owner, (node = new Map()));
    const set = node.get(rr.type);
    if (set) set.push(rr);
    else node.set(rr.type, [rr]);
    for (let k = rr.owner; k !== apex && k !== '.'; ) {
      k = parentKey(k);
      nonTerminals.add(k);
    }
  }
  return { apex, apexLabels: apexLabelCount, nodes, nonTerminals };
}

/** dns_db_find's answers that matter to the checks. */
export type FindResult =
  | { kind: 'found' | 'nxrrset' | 'cname' | 'nxdomain' | 'empty' }
  | { kind: 'delegation' | 'dname'; at: string };

/** True when `owner` lies below a zone cut or a DNAME, so it is not authoritative data (RFC 6672 §2.4). */
export function isOccluded(z: ZoneIndex, labels: readonly string[]): boolean {
  const r = walkCuts(z, labels);
  return r !== undefined && !(r.kind === 'delegation' && r.at === labelsToKey(labels));
}

/** Walks from below the apex down to the name: the first NS (at or above it) or DNAME (above it) wins. */
function walkCuts(z: ZoneIndex, labels: readonly string[]): FindResult | undefined {
  for (let k = labels.length - z.apexLabels - 1; k >= 0; k--) {
    const key = labelsToKey(labels.slice(k));
    const node = z.nodes.get(key);
    if (!node) continue;
    if (node.has(RRType.NS)) return { kind: 'delegation', at: key };
    if (k > 0 && node.has(RRType.DNAME)) return { kind: 'dname', at: key };
  }
  return undefined;
}

function atNode(node: ZoneNode, type: number): FindResult {
  if (node.has(type)) return { kind: 'found' };
  if (node.has(RRType.CNAME)) return { kind: 'cname' };
  return { kind: 'nxrrset' };
}

/** Looks `type` up at the in-zone name `labels` (RFC 1034 §4.3.2 steps 3a-3c, RFC 4592 wildcards). */
export function find(z: ZoneIndex, labels: readonly string[], type: number): FindResult {
  const cut = walkCuts(z, labels);
  if (cut) return cut;
  const key = labelsToKey(labels);
  const node = z.nodes.get(key);
  if (node) return atNode(node, type);
  if (z.nonTerminals.has(key)) return { kind: 'empty' };
  // RFC 4592 §3.3.1: the closest encloser is the deepest existing ancestor; its '*' child may match.
  for (let k = 1; k <= labels.length - z.apexLabels; k++) {
    const ce = labelsToKey(labels.slice(k));
    if (!z.nodes.has(ce) && !z.nonTerminals.has(ce) && ce !== z.apex) continue;
    const wild = z.nodes.get(ce === '.' ? '*.' : '*.' + ce);
    return wild ? atNode(wild, type) : { kind: 'nxdomain' };
  }
  return { kind: 'nxdomain' };
}

/** A then AAAA, as BIND's zone_check_ns/mx/srv do: 'found' if either exists. */
export function findAddress(z: ZoneIndex, labels: readonly string[]): FindResult {
  const a = find(z, labels, RRType.A);
  return a.kind === 'nxrrset' ? find(z, labels, RRType.AAAA) : a;
}
