// Health-aware answers: for each pool (a health-managed name), the A/AAAA RRsets to answer with
// right now, precomputed whenever health or the zone changes, so the answer path only does a
// Map lookup (no I/O, no filtering per query). server/ never imports health/: the caller passes
// what is served as a plain function.
import { RRType } from './rr.js';
import type { RRset, ZoneSet } from './zone.js';

export interface PoolPolicy {
  /** Canonical name key, e.g. 'www.example.com.' */
  key: string;
  /** Name as configured (the health checker's pool id). */
  name: string;
  /** `all`: answer every VIP when none is served (fail-open); `none`: NODATA. */
  whenAllDown: 'all' | 'none';
  /** TTL of an answer from which some VIPs were withdrawn. */
  degradedTtlSeconds: number;
  /** At most this many records per answer (chosen by the rotation, so every VIP gets its turn). */
  maxAnswers: number;
}

/** What a pool name answers for A or AAAA: an RRset (maybe filtered) with a record limit, or NODATA. */
export type PoolAnswer = { kind: 'rrset'; rrset: RRset; limit: number; degraded: boolean } | { kind: 'nodata' };

/** Served = true, withdrawn = false, unknown to the checker = undefined (treated as served). */
export type ServedFn = (pool: string, vip: string) => boolean | undefined;

/** The VIP an A/AAAA RDATA holds, in the canonical text form (RFC 5952 for IPv6). */
export function vipText(type: number, rdata: Buffer): string {
  if (type === RRType.A) return `${rdata[0]}.${rdata[1]}.${rdata[2]}.${rdata[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(rdata.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export class AnswerOverlay {
  static readonly EMPTY = new AnswerOverlay(new Map());
  constructor(private readonly byName: ReadonlyMap<string, ReadonlyMap<number, PoolAnswer>>) {}

  get(key: string, type: number): PoolAnswer | undefined {
    return this.byName.get(key)?.get(type);
  }

  get size(): number {
    return this.byName.size;
  }

  /** The names it answers for (canonical keys). */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }
}

/**
 * Builds the overlay from the zones being served, the pools, and what is served now.
 * Rotation cursors carry over from `previous` so a health flip does not restart the round-robin.
 */
export function buildOverlay(zones: ZoneSet, policies: readonly PoolPolicy[], served: ServedFn, previous?: AnswerOverlay): AnswerOverlay {
  const byName = new Map<string, Map<number, PoolAnswer>>();
  for (const p of policies) {
    const node = zones.find(p.key)?.nodes.get(p.key);
    if (!node) continue;
    const answers = new Map<number, PoolAnswer>();
    for (const type of [RRType.A, RRType.AAAA]) {
      const set = node.get(type);
      if (set) answers.set(type, poolAnswer(p, set, served, previous?.get(p.key, type)));
    }
    if (answers.size) byName.set(p.key, answers);
  }
  return new AnswerOverlay(byName);
}

function poolAnswer(p: PoolPolicy, set: RRset, served: ServedFn, prev: PoolAnswer | undefined): PoolAnswer {
  const rdatas = set.rdatas;
  const up = rdatas.filter((r) => served(p.name, vipText(set.type, r)) !== false);
  const limit = Math.min(p.maxAnswers, rdatas.length);
  const next = prev?.kind === 'rrset' ? prev.rrset.next : 0;
  // A copy (the zone's RRset keeps its own cursor): owner, type, TTL, RDATAs, cursor.
  const copy = (recs: Buffer[], ttlSeconds: number): RRset => ({ owner: set.owner, type: set.type, ttlSeconds, rdatas: recs, next });
  if (up.length === rdatas.length) return { kind: 'rrset', rrset: copy(rdatas, set.ttlSeconds), limit, degraded: false };
  if (up.length === 0) {
    if (p.whenAllDown === 'none') return { kind: 'nodata' };
    // Fail-open (as gdnsd and Route 53 do): every VIP, with the short TTL so clients come back soon.
    return { kind: 'rrset', rrset: copy(rdatas, Math.min(set.ttlSeconds, p.degradedTtlSeconds)), limit, degraded: true };
  }
  return { kind: 'rrset', rrset: copy(up, Math.min(set.ttlSeconds, p.degradedTtlSeconds)), limit: Math.min(p.maxAnswers, up.length), degraded: true };
}
