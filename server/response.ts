// Turns a classified lookup result into wire bytes: flags and rcode in one place, round-robin
// rotation of every RRset, EDNS0 (RFC 6891) and truncation (RFC 2181 §9) by the transport's size limit.
import type { LookupResult, Placed } from './lookup.js';
import { keyToLabels } from './name.js';
import { RRClass } from './rr.js';
import { ResponseWriter, Rcode, type Edns, type Query, type WireRecord } from './wire.js';

/** What we advertise and the most we send over UDP with EDNS (the DNS flag day 2020 value). */
export const EDNS_UDP_SIZE = 1232;
const PLAIN_UDP_SIZE = 512; // RFC 1035 §4.2.1
const TCP_SIZE = 65535;
const OPT_SIZE = 11;

export type Transport = 'udp' | 'tcp';

export function sizeLimit(edns: Edns | undefined, transport: Transport): number {
  if (transport === 'tcp') return TCP_SIZE;
  if (!edns) return PLAIN_UDP_SIZE;
  return Math.max(PLAIN_UDP_SIZE, Math.min(edns.udpSize, EDNS_UDP_SIZE));
}

export interface Sections {
  rcode: number;
  aa: boolean;
  answer: Placed[];
  authority: Placed[];
  additional: Placed[];
}

function sectionsOf(result: LookupResult): Sections {
  switch (result.kind) {
    case 'answer':
      return { rcode: Rcode.NOERROR, aa: true, answer: result.answer, authority: [], additional: result.additional };
    case 'nodata':
      return { rcode: Rcode.NOERROR, aa: true, answer: result.answer, authority: result.authority, additional: [] };
    case 'nxdomain':
      return { rcode: Rcode.NXDOMAIN, aa: true, answer: result.answer, authority: result.authority, additional: [] };
    case 'delegation':
      // A referral is not authoritative (RFC 1034 §4.3.2 step 3b) unless a CNAME in our zone led to it.
      return { rcode: Rcode.NOERROR, aa: result.answer.length > 0, answer: result.answer, authority: result.authority, additional: result.additional };
    case 'yxdomain':
      return { rcode: Rcode.YXDOMAIN, aa: true, answer: result.answer, authority: [], additional: [] };
    case 'refused':
      return { rcode: Rcode.REFUSED, aa: false, answer: [], authority: [], additional: [] };
  }
}

/**
 * Expands placed RRsets into records. Each RRset starts at record `rotation % n` when a rotation
 * is given (the answer cache builds every variant that way), else at its own cursor, which
 * advances by one per use (BIND's rrset-order cyclic).
 */
function* recordsOf(placed: Placed[], rotation: number | undefined): Generator<WireRecord> {
  for (const p of placed) {
    const set = p.rrset;
    const rdatas = set.rdatas; // read once: a zone's RRset makes new views on each read
    const n = rdatas.length;
    let start = 0;
    if (n > 1 && rotation !== undefined) start = rotation % n;
    else if (n > 1) {
      start = set.next++ % n;
      if (set.next >= 0x3fffffff) set.next = 0;
    }
    const owner = p.owner ?? keyToLabels(set.owner);
    const ttl = p.ttlSeconds ?? set.ttlSeconds;
    const count = p.limit === undefined ? n : Math.min(n, p.limit);
    for (let i = 0; i < count; i++) {
      yield { owner, type: set.type, klass: RRClass.IN, ttl, rdata: rdatas[(start + i) % n]! };
    }
  }
}

function flagsFor(query: { opcode: number; rd: boolean; cd?: boolean }, aa: boolean, tc: boolean, rcode: number): number {
  return 0x8000 | (query.opcode << 11) | (aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (query.rd ? 0x0100 : 0) | (query.cd ? 0x0010 : 0) | (rcode & 0xf);
}

/** Writes `records` until one does not fit; returns how many were written and whether all fit. */
function writeAll(w: ResponseWriter, records: Iterable<WireRecord>): { count: number; complete: boolean } {
  let count = 0;
  for (const rr of records) {
    if (!w.record(rr)) return { count, complete: false };
    count++;
  }
  return { count, complete: true };
}

/** Encodes the response to `query` from `result`; `rotation` fixes where every RRset starts. */
export function renderResponse(query: Query, result: LookupResult, transport: Transport, rotation?: number): Buffer {
  return renderSections(query, sectionsOf(result), transport, rotation);
}

/** How many distinct rotations a result has: the least common multiple of its RRset sizes, capped. */
export function rotationCount(result: LookupResult, cap = 64): number {
  if (result.kind === 'refused') return 1;
  const placed = [...result.answer, ...('authority' in result ? result.authority : []), ...('additional' in result ? result.additional : [])];
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let n = 1;
  for (const p of placed) {
    const k = p.rrset.rdatas.length;
    if (k > 1) n = Math.min(cap, (n * k) / gcd(n, k));
  }
  return n;
}

/** Encodes a response from explicit sections (for answers that are not lookups, e.g. IXFR's SOA). */
export function renderSections(query: Query, s: Sections, transport: Transport, rotation?: number): Buffer {
  const limit = sizeLimit(query.edns, transport);
  const optReserve = query.edns ? OPT_SIZE : 0;
  const w = new ResponseWriter(limit - optReserve, limit);
  w.question(query.qlabels, query.qtype, query.qclass);
  const afterQuestion = w.off;
  const an = writeAll(w, recordsOf(s.answer, rotation));
  const ns = an.complete ? writeAll(w, recordsOf(s.authority, rotation)) : { count: 0, complete: false };
  let tc = false;
  let ar = { count: 0, complete: true };
  if (!an.complete || !ns.complete) {
    // The required part does not fit: send the question alone with TC so the client retries over TCP.
    tc = true;
    w.off = afterQuestion;
    an.count = 0;
    ns.count = 0;
  } else {
    // Additional data is optional: whatever does not fit is left out without TC (RFC 2181 §9).
    ar = writeAll(w, recordsOf(s.additional, rotation));
  }
  return finish(w, query, flagsFor(query, s.aa, tc, s.rcode), [1, an.count, ns.count, ar.count], s.rcode, limit);
}

function finish(w: ResponseWriter, query: { id: number; edns?: Edns }, flags: number, counts: [number, number, number, number], rcode: number, limit: number): Buffer {
  let arcount = counts[3];
  if (query.edns) {
    w.limit = limit; // release the room reserved for the OPT
    if (w.opt(EDNS_UDP_SIZE, rcode >> 4, query.edns.dnssecOk)) arcount++;
  }
  w.header(query.id, flags, [counts[0], counts[1], counts[2], arcount]);
  return w.finish();
}

/** Encodes an error response (FORMERR, NOTIMP, BADVERS, REFUSED ...) echoing the question when we have one. */
export function renderError(
  e: { id: number; opcode: number; rd: boolean; rcode: number; question?: Buffer; edns?: Edns },
  transport: Transport,
): Buffer {
  const limit = sizeLimit(e.edns, transport);
  const w = new ResponseWriter(limit);
  let qd = 0;
  if (e.question && w.off + e.question.length <= limit - OPT_SIZE) {
    e.question.copy(w.buf, w.off);
    w.off += e.question.length;
    qd = 1;
  }
  return finish(w, e, flagsFor(e, false, false, e.rcode), [qd, 0, 0, 0], e.rcode, limit);
}
