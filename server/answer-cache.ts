// The fast path: answers kept as finished wire messages, keyed by (question bytes lower-cased,
// transport size class). Per query only the header and the question are read; the ID, the RD/CD
// bits, the question as asked and the DO bit are patched into a copy of a prebuilt variant; the
// variant (round-robin rotation) is chosen by a counter. Entries are built by the general path
// (lookup + render) on first use, so both paths give the same bytes by construction; anything
// unusual (EDNS options beyond the basics, odd sizes, AXFR, non-IN classes) is left to it.
import type { AnswerOverlay, PoolAnswer } from './pool-overlay.js';
import { lookup, type AnyMode } from './lookup.js';
import type { DnsMetrics } from './metrics.js';
import { EDNS_UDP_SIZE, renderResponse, rotationCount, type Transport } from './response.js';
import { RRClass, RRType, readUncompressedName } from './rr.js';
import { parseQuery, type Query } from './wire.js';
import type { Zone, ZoneSet } from './zone.js';
import { equalsFolded, NOT_DIRECT, WILDCARD_BELOW, type AnswerIndex } from './answer-index.js';
import { asciiLower, isSubdomain, labelsToKey, parentKey } from './name.js';

/** Where the response's OPT flags byte is, or -1; the DO bit is its top bit (RFC 3225). */
interface Entry {
  variants: Buffer[];
  next: number;
  optFlagsAt: number;
  countQuery: () => void;
  countExtra?: () => void;
  dependsOnPools: boolean;
  negative: boolean; // NXDOMAIN or REFUSED: kept in the negative tier
}

/** What the header and question of a query say, when it is simple enough for the fast path. */
interface Peek {
  /** The transport size class: 0 UDP, 1 UDP with EDNS, 2 TCP, 3 TCP with EDNS (part of an entry's key). */
  cls: number;
  qend: number;
  dnssecOk: boolean;
  edns: boolean;
}

/*
 * Capacity. Answers for names that exist (NOERROR, with data or NODATA) and answers for names
 * that do not (NXDOMAIN, REFUSED) are kept apart, so a random-subdomain flood churns only the
 * second. Each is two generations: when the young one is full it becomes the old one and the
 * previous old one is dropped; a hit in the old one moves the entry back to the young one. So
 * the hot entries stay, memory is bounded, and nothing is ever cleared wholesale.
 *
 * | tier     | young generation holds at most                        |
 * |----------|-------------------------------------------------------|
 * | positive | max(100,000, 2 × the records of the zones served)     |
 * | negative | 50,000                                                |
 */
const MIN_POSITIVE = 100_000;
const NEGATIVE = 50_000;
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN'];
const UNCACHEABLE_TYPES = new Set<number>([RRType.AXFR, RRType.IXFR, RRType.OPT, RRType.MAILA, RRType.MAILB]);

/**
 * Reads just enough of a query to know it is plain: QR=0, QUERY, one question of class IN,
 * no answer/authority records, at most one OPT (version 0, well-formed options, UDP size ≥ 1232
 * over UDP), uncompressed ASCII name, nothing after. Anything else returns undefined.
 */
export function peek(msg: Buffer, transport: Transport): Peek | undefined {
  const len = msg.length;
  if (len < 17 || (msg[2]! & 0xf8) !== 0) return undefined; // QR=1 or opcode != QUERY
  if (msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0 || msg[10] !== 0) return undefined;
  const ar = msg[11]!;
  if (ar > 1) return undefined;
  let o = 12;
  for (;;) {
    const l = msg[o];
    if (l === undefined || l > 63) return undefined; // also rejects compression pointers
    if (l === 0) break;
    if (o + 1 + l >= len) return undefined;
    for (let i = o + 1; i <= o + l; i++) if (msg[i]! >= 0x80) return undefined;
    o += 1 + l;
  }
  if (o - 12 + 1 > 255 || o + 5 > len) return undefined;
  const qtype = (msg[o + 1]! << 8) | msg[o + 2]!;
  if (msg[o + 3] !== 0 || msg[o + 4] !== RRClass.IN || UNCACHEABLE_TYPES.has(qtype)) return undefined;
  const qend = o + 5;
  let cls = transport === 'tcp' ? 2 : 0;
  let dnssecOk = false;
  if (ar === 1) {
    // OPT: root owner, type 41, class = UDP size, TTL = ext-rcode, version, flags; then options.
    if (qend + 11 > len || msg[qend] !== 0 || msg[qend + 1] !== 0 || msg[qend + 2] !== 41 || msg[qend + 6] !== 0) return undefined;
    const udp = (msg[qend + 3]! << 8) | msg[qend + 4]!;
    if (transport === 'udp' && udp < 1232) return undefined;
    dnssecOk = (msg[qend + 7]! & 0x80) !== 0;
    let p = qend + 11;
    const end = p + ((msg[qend + 9]! << 8) | msg[qend + 10]!);
    if (end !== len) return undefined;
    while (p < end) {
      if (p + 4 > end) return undefined;
      p += 4 + ((msg[p + 2]! << 8) | msg[p + 3]!);
    }
    if (p !== end) return undefined;
    cls += 1;
  } else if (qend !== len) return undefined;
  return { cls, qend, dnssecOk, edns: ar === 1 };
}

/** The key of a query's entry: the question lower-cased and the size class (made only when an entry is looked up). */
export function entryKey(msg: Buffer, p: Peek): string {
  return msg.toString('latin1', 12, p.qend).toLowerCase() + p.cls;
}

/** A health-managed name in an answer index: what the overlay answers for A and AAAA, and the counters. */
interface PoolName {
  a: PoolAnswer | undefined;
  aaaa: PoolAnswer | undefined;
  countA: (() => void) | undefined;
  countAAAA: (() => void) | undefined;
}

interface NxState {
  /** The labels of the SOA's MNAME and RNAME just below the apex, lower-case (when they are in the zone). */
  soaLabels: Buffer[];
  /**
   * By transport class × 256 + the name's length: the entry of one such NXDOMAIN. Everything
   * after its question is the same for every name of that length (nxdomain()), and emit() puts
   * the question as asked in, so the entry answers them all.
   */
  entries: Map<number, Entry>;
}

/** Writes our OPT record (RFC 6891: root owner, our UDP size, version 0, the DO bit as asked, no options) at out[o...]. */
function writeOpt(out: Buffer, o: number, dnssecOk: boolean): void {
  out[o] = 0; out[o + 1] = 0; out[o + 2] = RRType.OPT;
  out[o + 3] = EDNS_UDP_SIZE >> 8; out[o + 4] = EDNS_UDP_SIZE & 0xff;
  out[o + 5] = 0; out[o + 6] = 0; // extended RCODE, version 0
  out[o + 7] = dnssecOk ? 0x80 : 0; out[o + 8] = 0;
  out[o + 9] = 0; out[o + 10] = 0;
}

/**
 * The header and question of an answer written from the zone: the query's own ID and question,
 * QR, AA, RD and CD as asked, NOERROR, `answers` records, no authority, the OPT when asked.
 */
function answerHead(out: Buffer, msg: Buffer, p: Peek, answers: number): void {
  for (let i = 0; i < p.qend; i++) out[i] = msg[i]!;
  out[2] = 0x84 | (msg[2]! & 0x01); // QR, QUERY, AA, RD as asked
  out[3] = msg[3]! & 0x10; // CD as asked, NOERROR
  out[6] = answers >> 8; out[7] = answers & 0xff;
  out[8] = 0; out[9] = 0;
  out[10] = 0; out[11] = p.edns ? 1 : 0;
}

/**
 * The fixed part of an answer record at out[o...], TTL aside (out[o + 6...o + 9], the caller's):
 * the owner as a pointer to `ownerAt`, `type`, class IN, RDLENGTH `rdlen`.
 */
function rrHead(out: Buffer, o: number, ownerAt: number, type: number, rdlen: number): void {
  out[o] = 0xc0 | (ownerAt >> 8); out[o + 1] = ownerAt & 0xff;
  out[o + 2] = type >> 8; out[o + 3] = type & 0xff;
  out[o + 4] = 0; out[o + 5] = RRClass.IN;
  out[o + 10] = rdlen >> 8; out[o + 11] = rdlen & 0xff;
}

/** Whether a[aAt, aAt + len) equals b[bAt, bAt + len), ignoring ASCII case on both sides. */
function equalsBothFolded(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, len: number): boolean {
  for (let i = 0; i < len; i++) {
    let x = a[aAt + i]!, y = b[bAt + i]!;
    if (x >= 0x41 && x <= 0x5a) x += 32;
    if (y >= 0x41 && y <= 0x5a) y += 32;
    if (x !== y) return false;
  }
  return true;
}

/** Label offsets of the question name being looked at (direct(); one query at a time). */
const labelStarts = new Int32Array(128);
/** Where each label of a CNAME's target starts (alias(); the root label is not recorded). */
const targetStarts = new Int32Array(128);

/** Two generations of at most `cap` entries each (see the table above). */
class Generations {
  young = new Map<string, Entry>();
  old = new Map<string, Entry>();
  constructor(public cap: number) {}

  get(key: string): Entry | undefined {
    const y = this.young.get(key);
    if (y) return y;
    const o = this.old.get(key);
    if (o) { this.old.delete(key); this.set(key, o); }
    return o;
  }

  set(key: string, e: Entry): void {
    if (this.young.size >= this.cap) { this.old = this.young; this.young = new Map(); }
    this.young.set(key, e);
  }

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  has(key: string): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}

export class AnswerCache {
  private positive = new Generations(MIN_POSITIVE);
  private negative = new Generations(NEGATIVE);
  private zonesSeen: ZoneSet | undefined;
  private overlaySeen: AnswerOverlay | undefined;
  private readonly poolKeys = new Set<string>();
  private readonly counters = new Map<string, () => void>();

  /** Answers written straight from the zone (direct()), not from an entry. */
  directAnswers = 0;
  private readonly directUdp: () => void;
  private readonly directTcp: () => void;
  /** NXDOMAIN entries of the zones being served (nxdomain()). */
  private nx = new Map<Zone, NxState>();

  /** `any` must be the handler's (HandlerContext.any): both paths give the same bytes. */
  constructor(private readonly metrics: DnsMetrics, private readonly any: AnyMode = 'minimal') {
    this.directUdp = this.counter(metrics.queries, { transport: 'udp', rcode: 'NOERROR' });
    this.directTcp = this.counter(metrics.queries, { transport: 'tcp', rcode: 'NOERROR' });
  }

  get size(): number {
    return this.positive.size + this.negative.size;
  }

  /** The response to `msg` from the cache (built on a miss), or undefined for the general path. */
  answer(msg: Buffer, transport: Transport, zones: ZoneSet, overlay: AnswerOverlay | undefined): Buffer | undefined {
    if (zones !== this.zonesSeen) {
      let records = 0;
      for (const z of zones.zones.values()) records += z.recordCount;
      this.positive = new Generations(Math.max(MIN_POSITIVE, 2 * records));
      this.negative = new Generations(NEGATIVE);
      this.poolKeys.clear();
      this.nx = new Map();
      this.zonesSeen = zones;
      this.overlaySeen = overlay;
    } else if (overlay !== this.overlaySeen) {
      // Health changed: only answers that came from a pool are stale.
      for (const k of this.poolKeys) { this.positive.delete(k); this.negative.delete(k); }
      this.poolKeys.clear();
      this.overlaySeen = overlay;
    }
    const p = peek(msg, transport);
    if (!p) return undefined;
    // Before the entries: on a large zone most of these are first asked, and four misses in the
    // generations cost more than writing the answer.
    const direct = this.direct(msg, p, transport, zones, overlay);
    if (direct) return direct;
    const key = entryKey(msg, p);
    let e = this.positive.get(key) ?? this.negative.get(key);
    if (!e) {
      e = this.build(msg, transport, zones, overlay);
      if (!e) return undefined;
      (e.negative ? this.negative : this.positive).set(key, e);
      if (e.dependsOnPools) {
        this.poolKeys.add(key);
        // Keys whose entries aged out stay listed until health changes; prune them before they add up.
        if (this.poolKeys.size > 4 * (this.positive.cap + this.negative.cap)) {
          for (const k of this.poolKeys) if (!this.positive.has(k) && !this.negative.has(k)) this.poolKeys.delete(k);
        }
      }
    }
    return this.emit(e, msg, p);
  }

  /** A copy of the entry's next variant with the query's ID, RD, CD, question and DO bit; counted. */
  private emit(e: Entry, msg: Buffer, p: Peek): Buffer {
    const v = e.variants[e.next++ % e.variants.length]!;
    if (e.next >= 0x3fffffff) e.next = 0;
    const out = Buffer.allocUnsafe(v.length);
    v.copy(out);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    out[2]! |= msg[2]! & 0x01; // RD is copied (RFC 1035 §4.1.1)
    out[3]! |= msg[3]! & 0x10; // CD is copied (RFC 6840 §5.9)
    msg.copy(out, 12, 12, p.qend); // the question exactly as asked
    if (p.dnssecOk && e.optFlagsAt >= 0) out[e.optFlagsAt]! |= 0x80;
    e.countQuery();
    e.countExtra?.();
    return out;
  }

  /**
   * Answers written straight from the zone's answer index (answer-index.ts): no entry is kept
   * and no string made, so a zone of a million names answers them all without a million cache
   * entries. Three kinds: the A or AAAA records of a name that has them, the CNAME and the
   * target's records for an alias (alias()), and NXDOMAIN for a name that does not exist
   * (nxdomain()). The bytes are the general path's (the same header, the
   * question as asked, the owner as a pointer to it, the records in round-robin order, the same
   * OPT). A health-managed name answers the overlay's records (the VIPs served now), with its
   * cursor and record limit, as the general path does. Declines (undefined) what the index
   * leaves out (names at or below a zone cut, zones with a DNAME), other types of names that
   * exist, a pool's NODATA, and an answer that does not fit.
   */
  private direct(msg: Buffer, p: Peek, transport: Transport, zones: ZoneSet, overlay: AnswerOverlay | undefined): Buffer | undefined {
    const typeAt = p.qend - 4;
    if (typeAt === 13) return undefined; // the root name
    let labels = 0;
    for (let o = 12; ; o += 1 + msg[o]!) {
      labelStarts[labels] = o;
      if (msg[o] === 0) break;
      labels++;
    }
    const zone = zones.findWire(msg, typeAt, labelStarts, labels);
    const index = zone?.answers;
    if (!index) return undefined;
    const at = index.find(msg, 12, typeAt);
    if (at < 0) return this.nxdomain(msg, p, transport, zones, zone!, index, labels);
    const qtype = (msg[typeAt]! << 8) | msg[typeAt + 1]!;
    if (qtype !== RRType.A && qtype !== RRType.AAAA) return undefined;
    const set = index.set(at, qtype);
    if (index.records(set) === 0) return this.alias(msg, p, transport, zones, zone!, index, at, qtype, overlay, labels);
    // A health-managed name answers what the overlay says (its own records, cursor and limit).
    const poolName = overlay !== undefined && overlay.size > 0 ? this.poolsIn(index, overlay).get(at) : undefined;
    const pool = poolName === undefined ? undefined : qtype === RRType.A ? poolName.a : poolName.aaaa;
    if (pool && pool.kind !== 'rrset') return undefined; // NODATA: an entry
    const total = pool ? pool.rrset.rdatas.length : index.records(set);
    const n = pool ? Math.min(total, pool.limit) : total;
    if (n === 0) return undefined;
    const width = qtype === RRType.A ? 4 : 16;
    let size = p.qend + n * (12 + width);
    const limit = transport === 'tcp' ? 0xffff : p.edns ? EDNS_UDP_SIZE : 512;
    if (size + (p.edns ? 11 : 0) > limit) return undefined; // the general path truncates
    if (p.edns) size += 11;
    let start = 0;
    if (!pool) start = index.rotate(set, total);
    else if (total > 1) {
      start = pool.rrset.next++ % total; // as response.ts recordsOf advances it
      if (pool.rrset.next >= 0x3fffffff) pool.rrset.next = 0;
    }
    const out = Buffer.allocUnsafe(size);
    answerHead(out, msg, p, n);
    let o = p.qend;
    const ttl = pool ? pool.rrset.ttlSeconds : 0;
    const recs = pool?.rrset.rdatas;
    for (let i = 0; i < n; i++) {
      rrHead(out, o, 12, qtype, width); // the owner is the question's name
      if (recs) out.writeUInt32BE(ttl, o + 6);
      else index.copyTtl(set, out, o + 6);
      if (recs) recs[(start + i) % total]!.copy(out, o + 12);
      else index.copyRdata(set, width, (start + i) % total, out, o + 12);
      o += 12 + width;
    }
    if (p.edns) writeOpt(out, o, p.dnssecOk);
    (transport === 'udp' ? this.directUdp : this.directTcp)();
    if (pool) (qtype === RRType.A ? poolName!.countA : poolName!.countAAAA)!();
    this.directAnswers++;
    return out;
  }

  /**
   * A or AAAA asked of an alias: the CNAME and the target's records (RFC 1034 §4.3.2 step 3a),
   * written from the index when the target is a name of the same zone with such records, not
   * health-managed, not an alias itself (answer-index.ts cnameTarget()), and no zone we serve
   * lies below this one (the general path stops the chase there). The bytes are the general
   * path's: the CNAME's owner is a pointer to the question; its target is written as in the zone
   * up to the longest run of trailing labels it shares with the question (compared ignoring
   * case, as ResponseWriter does), then a pointer to those labels in the question; each record
   * of the target points its owner at that target. The target's records rotate with its own
   * cursor, as when they are asked for directly.
   */
  private alias(msg: Buffer, p: Peek, transport: Transport, zones: ZoneSet, zone: Zone, index: AnswerIndex, at: number, qtype: number, overlay: AnswerOverlay | undefined, labels: number): Buffer | undefined {
    const c = index.cname(at);
    if (c < 0 || this.zonesBelow(zones).has(zone)) return undefined;
    const target = index.cnameTarget(c);
    if (target < 0) return undefined;
    if (overlay !== undefined && overlay.size > 0 && this.poolsIn(index, overlay).has(target)) return undefined;
    const set = index.set(target, qtype);
    const total = index.records(set);
    if (total === 0) return undefined; // NODATA after the CNAME: an entry
    // The target's labels, and how many trailing ones it shares with the question.
    const tb = index.cnameChunk(c);
    const ts = index.cnameStart(c);
    let tl = 0;
    for (let o = ts; tb[o] !== 0; o += 1 + tb[o]!) targetStarts[tl++] = o;
    let shared = 0;
    while (shared < tl && shared < labels) {
      const t = targetStarts[tl - 1 - shared]!, q = labelStarts[labels - 1 - shared]!;
      if (tb[t] !== msg[q] || !equalsBothFolded(tb, t + 1, msg, q + 1, tb[t]!)) break;
      shared++;
    }
    if (shared === 0) return undefined; // the root zone's: the general path ends the name with the root label
    const literal = targetStarts[tl - shared]! - ts; // octets of the labels written out
    const rdlen = literal + 2;
    const width = qtype === RRType.A ? 4 : 16;
    let size = p.qend + 12 + rdlen + total * (12 + width);
    const limit = transport === 'tcp' ? 0xffff : p.edns ? EDNS_UDP_SIZE : 512;
    if (size + (p.edns ? 11 : 0) > limit) return undefined; // the general path truncates
    if (p.edns) size += 11;
    const start = index.rotate(set, total);
    const out = Buffer.allocUnsafe(size);
    answerHead(out, msg, p, total + 1);
    let o = p.qend;
    rrHead(out, o, 12, RRType.CNAME, rdlen); // the alias is the question's name
    index.copyCnameTtl(c, out, o + 6);
    o += 12;
    tb.copy(out, o, ts, ts + literal);
    const shares = labelStarts[labels - shared]!;
    // The target's owner name: its first label written here, or (all of it shared) in the question.
    const owner = literal > 0 ? o : shares;
    o += literal;
    out[o] = 0xc0 | (shares >> 8); out[o + 1] = shares & 0xff;
    o += 2;
    for (let i = 0; i < total; i++) {
      rrHead(out, o, owner, qtype, width);
      index.copyTtl(set, out, o + 6);
      index.copyRdata(set, width, (start + i) % total, out, o + 12);
      o += 12 + width;
    }
    if (p.edns) writeOpt(out, o, p.dnssecOk);
    (transport === 'udp' ? this.directUdp : this.directTcp)();
    this.directAnswers++;
    return out;
  }

  /** The zones of `zones` that have another zone we serve below them (found once per zone set). */
  private zonesBelow(zones: ZoneSet): Set<Zone> {
    if (this.below?.zones !== zones) {
      const set = new Set<Zone>();
      for (const z of zones.zones.values()) {
        if (z.origin === '.') continue;
        const parent = zones.find(parentKey(z.origin));
        if (parent) set.add(parent);
      }
      this.below = { zones, set };
    }
    return this.below.set;
  }

  private below: { zones: ZoneSet; set: Set<Zone> } | undefined;

  /**
   * NXDOMAIN for a name the index does not hold, any type: when its closest encloser (the
   * nearest ancestor that exists, the apex at the latest) is neither at or below a zone cut nor
   * the parent of a wildcard, the name does not exist (RFC 1034 §4.3.2 step 3c, RFC 4592 §3.3.1)
   * and the answer is the zone's SOA in the authority section (RFC 2308 §3). What follows the
   * question is the same for every such name of the zone of the same length and transport class:
   * the SOA's owner is a pointer to the apex inside the question, and so are the parts of its
   * MNAME and RNAME compressed against the question, unless a label of the name just below the
   * apex is also theirs (then the general path answers). So the general path renders it once per
   * length (nxEntry) and emit() puts each name's question in.
   */
  private nxdomain(msg: Buffer, p: Peek, transport: Transport, zones: ZoneSet, zone: Zone, index: AnswerIndex, labels: number): Buffer | undefined {
    const typeAt = p.qend - 4;
    const below = labels - zone.originLabels.length; // labels of the name below the apex (≥ 1: the apex is in the index)
    let ce = -1;
    for (let j = 1; j <= below && ce < 0; j++) ce = index.find(msg, labelStarts[j]!, typeAt);
    if (ce < 0 || (index.flags(ce) & (NOT_DIRECT | WILDCARD_BELOW)) !== 0) return undefined;
    const nx = this.nxOf(zone);
    const last = labelStarts[below - 1]!; // the label just below the apex
    for (const l of nx.soaLabels) if (msg[last] === l.length && equalsFolded(msg, last + 1, l, 0, l.length)) return undefined;
    const key = p.cls * 256 + (typeAt - 12);
    const e = nx.entries.get(key) ?? this.nxEntry(msg, transport, zones, nx, key);
    if (!e) return undefined;
    this.directAnswers++;
    return this.emit(e, msg, p);
  }

  /** The NXDOMAIN state of a zone: the SOA's own labels just below the apex, the tails made so far. */
  private nxOf(zone: Zone): NxState {
    let nx = this.nx.get(zone);
    if (!nx) {
      const depth = zone.originLabels.length;
      const soaLabels: Buffer[] = [];
      const rdata = zone.soa.rdatas[0]!;
      const mname = readUncompressedName(rdata, 0);
      const rname = readUncompressedName(rdata, mname.end);
      for (const name of [mname.labels, rname.labels]) {
        if (name.length > depth && isSubdomain(labelsToKey(name), zone.origin)) soaLabels.push(Buffer.from(asciiLower(name[name.length - depth - 1]!), 'latin1'));
      }
      nx = { soaLabels, entries: new Map() };
      this.nx.set(zone, nx);
    }
    return nx;
  }

  /** Builds the NXDOMAIN answer to `msg` with the general path and keeps it for its zone, class and name length. */
  private nxEntry(msg: Buffer, transport: Transport, zones: ZoneSet, nx: NxState, key: number): Entry | undefined {
    const e = this.build(msg, transport, zones, undefined);
    const first = e?.variants[0];
    // Anything but a plain NXDOMAIN (one SOA, not truncated) stays with the entries.
    if (!e || e.variants.length !== 1 || !first || (first[3]! & 0xf) !== 3 || (first[2]! & 0x02) !== 0) return undefined;
    nx.entries.set(key, e);
    return e;
  }
  /**
   * The entries of `index` that are health-managed names, with what the overlay answers for
   * them and their counters: found once per overlay (a handful of names), so the answer path
   * asks a small Map of numbers, not the overlay with a string it would first have to make.
   */
  private poolsIn(index: AnswerIndex, overlay: AnswerOverlay): Map<number, PoolName> {
    const last = this.lastPools;
    if (index === last.index && overlay === last.overlay) return last.entries;
    let entries = this.poolEntries.get(index);
    if (!entries || entries.overlay !== overlay) {
      const byEntry = new Map<number, PoolName>();
      for (const key of overlay.names()) {
        const e = index.findKey(key);
        if (e < 0) continue;
        const a = overlay.get(key, RRType.A), aaaa = overlay.get(key, RRType.AAAA);
        byEntry.set(e, { a, aaaa, countA: a && this.poolCounter(a, key), countAAAA: aaaa && this.poolCounter(aaaa, key) });
      }
      entries = { overlay, byEntry };
      this.poolEntries.set(index, entries);
    }
    this.lastPools = { index, overlay, entries: entries.byEntry };
    return entries.byEntry;
  }

  private lastPools: { index?: AnswerIndex; overlay?: AnswerOverlay; entries: Map<number, PoolName> } = { entries: new Map() };
  private readonly poolEntries = new WeakMap<AnswerIndex, { overlay: AnswerOverlay; byEntry: Map<number, PoolName> }>();

  /** roamdns_pool_answers_total for one pool answer of the overlay. */
  private poolCounter(pool: PoolAnswer, key: string): () => void {
    return this.counter(this.metrics.poolAnswers, { pool: key, degraded: pool.kind === 'rrset' && pool.degraded ? 'yes' : 'no' });
  }

  /** Builds every rotation of the answer with the general path. */
  private build(msg: Buffer, transport: Transport, zones: ZoneSet, overlay: AnswerOverlay | undefined): Entry | undefined {
    const parsed = parseQuery(msg);
    if (parsed.kind !== 'query') return undefined;
    const q: Query = { ...parsed.query, id: 0, rd: false, cd: false, edns: parsed.query.edns && { ...parsed.query.edns, dnssecOk: false } };
    const result = lookup(zones, q.qkey, q.qlabels, q.qtype, overlay, this.any);
    const n = rotationCount(result);
    const variants = Array.from({ length: n }, (_, k) => renderResponse(q, result, transport, k));
    const first = variants[0]!;
    const rcode = first[3]! & 0xf;
    const truncated = (first[2]! & 0x02) !== 0;
    const pools = result.kind === 'answer' ? result.answer.filter((x) => x.pool) : [];
    const dependsOnPools = overlay !== undefined && overlay.size > 0 && (pools.length > 0 || result.kind === 'nodata');
    const extra: (() => void)[] = pools.map((x) => this.counter(this.metrics.poolAnswers, { pool: x.pool!.key, degraded: x.pool!.degraded ? 'yes' : 'no' }));
    if (truncated && transport === 'udp') extra.push(this.counter(this.metrics.truncated, {}));
    return {
      variants, next: 0,
      optFlagsAt: q.edns ? first.length - 11 + 7 : -1,
      countQuery: this.counter(this.metrics.queries, { transport, rcode: RCODE_NAMES[rcode] ?? String(rcode) }),
      countExtra: extra.length === 0 ? undefined : extra.length === 1 ? extra[0] : () => extra.forEach((f) => f()),
      dependsOnPools,
      negative: rcode === 3 || rcode === 5,
    };
  }

  private counter(metric: DnsMetrics['queries'], labels: Record<string, string>): () => void {
    const k = metric.name + JSON.stringify(labels);
    let f = this.counters.get(k);
    if (!f) {
      const bound = metric.bind(labels);
      f = () => bound.inc();
      this.counters.set(k, f);
    }
    return f;
  }
}
