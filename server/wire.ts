// DNS message wire format (RFC 1035 §4): strict query parsing and a compressing response writer.
// The parser never throws on hostile input: every problem becomes a QueryParse outcome.
import { asciiLower, labelsToKey } from './name.js';
import { RRType, rdataLayout, readUncompressedName } from './rr.js';

export const HEADER_LEN = 12;
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, YXDOMAIN: 6, NOTAUTH: 9, BADVERS: 16 } as const;
export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

export interface Edns {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Question name labels as asked (case preserved). */
  qlabels: string[];
  /** Canonical lower-case key of the question name. */
  qkey: string;
  qtype: number;
  qclass: number;
  /** Raw question bytes (name + type + class) for echoing verbatim. */
  question: Buffer;
  edns?: Edns;
  /** Serial of the SOA in the authority section (RFC 1995 §3: an IXFR query carries the client's SOA). */
  authoritySoaSerial?: number;
}

/** What parsing a datagram produced: a query, a reply-worthy error, or nothing to answer. */
export type QueryParse =
  | { kind: 'query'; query: Query }
  | { kind: 'error'; id: number; opcode: number; rd: boolean; rcode: number; reason: string; question?: Buffer; edns?: Edns }
  | { kind: 'drop'; reason: string };

class ParseError extends Error {}

/** Reads a possibly compressed name at `off`; pointer loops and oversize names are errors (RFC 1035 §4.1.4). */
export function readName(msg: Buffer, off: number): { labels: string[]; end: number } {
  const labels: string[] = [];
  let end = -1;
  let total = 1;
  let jumps = 0;
  for (;;) {
    if (off >= msg.length) throw new ParseError('name runs past the end of the message');
    const len = msg[off]!;
    if (len === 0) {
      if (end < 0) end = off + 1;
      return { labels, end };
    }
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (off + 1 >= msg.length) throw new ParseError('truncated compression pointer');
      const ptr = ((len & 0x3f) << 8) | msg[off + 1]!;
      if (end < 0) end = off + 2;
      // Pointers must go backwards; that alone makes loops impossible, the jump cap is belt and braces.
      if (ptr >= off || ++jumps > 127) throw new ParseError('compression pointer loop');
      off = ptr;
      continue;
    }
    if (top !== 0) throw new ParseError(`unsupported label type 0x${top.toString(16)}`);
    if (off + 1 + len > msg.length) throw new ParseError('label runs past the end of the message');
    total += len + 1;
    if (total > 255) throw new ParseError('name longer than 255 octets');
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
}


/** Skips one resource record; returns its type and the offset after it. */
function skipRecord(msg: Buffer, off: number): { type: number; owner: string[]; ttl: number; klass: number; rdStart: number; end: number } {
  const n = readName(msg, off);
  if (n.end + 10 > msg.length) throw new ParseError('truncated resource record header');
  const type = msg.readUInt16BE(n.end);
  const klass = msg.readUInt16BE(n.end + 2);
  const ttl = msg.readUInt32BE(n.end + 4);
  const rdlen = msg.readUInt16BE(n.end + 8);
  const rdStart = n.end + 10;
  if (rdStart + rdlen > msg.length) throw new ParseError('RDATA runs past the end of the message');
  return { type, owner: n.labels, ttl, klass, rdStart, end: rdStart + rdlen };
}

/** The serial of an SOA RDATA inside a message (its names may be compressed). */
function soaSerial(msg: Buffer, start: number, end: number): number {
  const mname = readName(msg, start);
  const rname = readName(msg, mname.end);
  if (rname.end + 20 !== end) throw new ParseError('bad SOA RDATA length');
  return msg.readUInt32BE(rname.end);
}

/** Parses an OPT record's fixed fields (RFC 6891 §6.1.2-3). */
function parseOpt(msg: Buffer, r: ReturnType<typeof skipRecord>): Edns {
  if (r.owner.length !== 0) throw new ParseError('OPT owner is not the root');
  // Options must be well-formed TLVs even though we ignore their content.
  let o = r.rdStart;
  while (o < r.end) {
    if (o + 4 > r.end) throw new ParseError('truncated EDNS option');
    const olen = msg.readUInt16BE(o + 2);
    o += 4 + olen;
    if (o > r.end) throw new ParseError('EDNS option runs past OPT RDATA');
  }
  return { udpSize: Math.max(512, r.klass), version: (r.ttl >>> 16) & 0xff, dnssecOk: (r.ttl & 0x8000) !== 0 };
}

/** Parses a query datagram or TCP message. */
export function parseQuery(msg: Buffer): QueryParse {
  if (msg.length < HEADER_LEN) return { kind: 'drop', reason: 'short-header' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop', reason: 'response-received' }; // QR=1: never answer a response
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  const cd = (flags & 0x0010) !== 0;
  const qd = msg.readUInt16BE(4), an = msg.readUInt16BE(6), ns = msg.readUInt16BE(8), ar = msg.readUInt16BE(10);
  let question: Buffer | undefined;
  let edns: Edns | undefined;
  try {
    let off = HEADER_LEN;
    let q: { labels: string[]; qtype: number; qclass: number } | undefined;
    if (qd === 1) {
      const n = readName(msg, off);
      if (n.end + 4 > msg.length) throw new ParseError('truncated question');
      q = { labels: n.labels, qtype: msg.readUInt16BE(n.end), qclass: msg.readUInt16BE(n.end + 2) };
      question = msg.subarray(off, n.end + 4);
      off = n.end + 4;
    } else if (qd > 1) {
      // Skip the extra questions only to be able to say FORMERR; we never answer them.
      return { kind: 'error', id, opcode, rd, rcode: Rcode.FORMERR, reason: 'qdcount-not-1' };
    }
    for (let i = 0; i < an; i++) off = skipRecord(msg, off).end;
    let authoritySoaSerial: number | undefined;
    for (let i = 0; i < ns; i++) {
      const r = skipRecord(msg, off);
      if (r.type === RRType.SOA) authoritySoaSerial = soaSerial(msg, r.rdStart, r.end);
      off = r.end;
    }
    for (let i = 0; i < ar; i++) {
      const r = skipRecord(msg, off);
      if (r.type === RRType.OPT) {
        if (edns) throw new ParseError('more than one OPT record'); // RFC 6891 §6.1.1
        edns = parseOpt(msg, r);
      }
      off = r.end;
    }
    if (off !== msg.length) throw new ParseError('trailing bytes after the message');
    if (!q) return { kind: 'error', id, opcode, rd, rcode: Rcode.FORMERR, reason: 'qdcount-0', edns };
    if (opcode !== Opcode.QUERY) return { kind: 'error', id, opcode, rd, rcode: Rcode.NOTIMP, reason: 'opcode', question, edns };
    if (edns && edns.version > 0) return { kind: 'error', id, opcode, rd, rcode: Rcode.BADVERS, reason: 'badvers', question, edns };
    return {
      kind: 'query',
      query: { id, opcode, rd, cd, qlabels: q.labels, qkey: labelsToKey(q.labels), qtype: q.qtype, qclass: q.qclass, question: question!, edns, authoritySoaSerial },
    };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { kind: 'error', id, opcode, rd, rcode: Rcode.FORMERR, reason: 'malformed', question: undefined, edns: undefined };
  }
}

/** A record ready to be written: owner labels (or the question's position), type, class, TTL, RDATA. */
export interface WireRecord {
  owner: readonly string[];
  type: number;
  klass: number;
  ttl: number;
  rdata: Buffer;
}

/** Response writer with RFC 1035 §4.1.4 name compression; stops cleanly when the size limit is hit. */
export class ResponseWriter {
  readonly buf: Buffer;
  off = HEADER_LEN;
  private readonly names = new Map<string, number>();

  /** `limit` is the most bytes the message may take (it may be raised up to `capacity` later, e.g. for OPT). */
  constructor(public limit: number, capacity = limit) {
    this.buf = Buffer.allocUnsafe(Math.max(limit, capacity));
  }

  header(id: number, flags: number, counts: [number, number, number, number]): void {
    this.buf.writeUInt16BE(id, 0);
    this.buf.writeUInt16BE(flags, 2);
    this.buf.writeUInt16BE(counts[0], 4);
    this.buf.writeUInt16BE(counts[1], 6);
    this.buf.writeUInt16BE(counts[2], 8);
    this.buf.writeUInt16BE(counts[3], 10);
  }

  /** Writes the question as asked; registers its name for compression. Returns false if it does not fit. */
  question(labels: readonly string[], qtype: number, qclass: number): boolean {
    const mark = this.off;
    if (!this.name(labels, true) || this.off + 4 > this.limit) { this.off = mark; return false; }
    this.buf.writeUInt16BE(qtype, this.off);
    this.buf.writeUInt16BE(qclass, this.off + 2);
    this.off += 4;
    return true;
  }

  /** Writes a name, compressing against earlier names. Returns false if it does not fit. */
  name(labels: readonly string[], compress: boolean): boolean {
    const start = this.off;
    for (let i = 0; i < labels.length; i++) {
      let suffix = '';
      for (let j = i; j < labels.length; j++) suffix += asciiLower(labels[j]!) + '\u0000';
      const ptr = compress ? this.names.get(suffix) : undefined;
      if (ptr !== undefined) {
        if (this.off + 2 > this.limit) { this.off = start; return false; }
        this.buf.writeUInt16BE(0xc000 | ptr, this.off);
        this.off += 2;
        return true;
      }
      const l = labels[i]!;
      if (this.off + 1 + l.length > this.limit) { this.off = start; return false; }
      if (this.off < 0x4000 && !this.names.has(suffix)) this.names.set(suffix, this.off);
      this.buf[this.off] = l.length;
      this.buf.write(l, this.off + 1, 'latin1');
      this.off += 1 + l.length;
    }
    if (this.off + 1 > this.limit) { this.off = start; return false; }
    this.buf[this.off++] = 0;
    return true;
  }

  /** Writes one RR; compressible RDATA names are compressed (RFC 3597 §4). False (and nothing written) if it does not fit. */
  record(rr: WireRecord): boolean {
    const mark = this.off;
    const namesBefore = this.names.size;
    const ok = this.name(rr.owner, true) && this.off + 10 <= this.limit && this.rdata(rr);
    if (!ok) {
      this.off = mark;
      if (this.names.size !== namesBefore) for (const [k, v] of this.names) if (v >= mark) this.names.delete(k);
    }
    return ok;
  }

  private rdata(rr: WireRecord): boolean {
    const o = this.off;
    this.buf.writeUInt16BE(rr.type, o);
    this.buf.writeUInt16BE(rr.klass, o + 2);
    this.buf.writeUInt32BE(rr.ttl >>> 0, o + 4);
    this.off = o + 10;
    const layout = rdataLayout(rr.type);
    if (!layout) {
      if (this.off + rr.rdata.length > this.limit) return false;
      rr.rdata.copy(this.buf, this.off);
      this.off += rr.rdata.length;
    } else {
      let src = 0;
      for (const field of layout) {
        if (field === 'name') {
          const n = readUncompressedName(rr.rdata, src);
          if (!this.name(n.labels, true)) return false;
          src = n.end;
        } else {
          if (this.off + field > this.limit) return false;
          rr.rdata.copy(this.buf, this.off, src, src + field);
          this.off += field;
          src += field;
        }
      }
    }
    this.buf.writeUInt16BE(this.off - o - 10, o + 8);
    return true;
  }

  /** Writes an OPT pseudo-record (RFC 6891 §6.1.2) advertising `udpSize`; `extRcode` is the upper 8 bits. */
  opt(udpSize: number, extRcode: number, dnssecOk: boolean): boolean {
    if (this.off + 11 > this.limit) return false;
    const o = this.off;
    this.buf[o] = 0;
    this.buf.writeUInt16BE(RRType.OPT, o + 1);
    this.buf.writeUInt16BE(udpSize, o + 3);
    this.buf[o + 5] = extRcode;
    this.buf[o + 6] = 0; // version 0
    this.buf.writeUInt16BE(dnssecOk ? 0x8000 : 0, o + 7);
    this.buf.writeUInt16BE(0, o + 9);
    this.off += 11;
    return true;
  }

  /** A copy of the bytes written so far. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.off));
  }
}
