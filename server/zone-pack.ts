// Records packed into one buffer: the zone's own copy of its records (for AXFR and for telling
// whether a reload changed anything: two zones hold the same data iff their buffers are equal),
// and the form in which a worker thread hands a parsed zone to the main thread (by transfer: no
// copy, no structured clone of a million objects), to be unpacked a slice at a time.
import type { ResourceRecord } from './rr.js';

/*
 * Layout, per record, integers big-endian. Class is IN (the only class a zone may hold) and
 * the file and line are not kept: a zone's records are checked before they are packed.
 *
 * | field      | size        | note                                         |
 * |------------|-------------|----------------------------------------------|
 * | owner len  | 2           | octets of the owner key (UTF-8)              |
 * | owner      | owner len   | the canonical owner key, e.g. "www.example." |
 * | type       | 2           |                                              |
 * | TTL        | 4           | seconds                                      |
 * | RDATA len  | 2           |                                              |
 * | RDATA      | RDATA len   | uncompressed wire form                       |
 */

export interface PackedRecords {
  buf: Buffer;
  count: number;
}

const FIXED = 2 + 2 + 4 + 2;

export function packRecords(records: readonly ResourceRecord[]): PackedRecords {
  let size = 0;
  let last = '';
  let lastOwner = Buffer.alloc(0);
  const owners = records.map((r) => (r.owner === last ? lastOwner : (last = r.owner, lastOwner = Buffer.from(r.owner, 'utf8'))));
  for (let i = 0; i < records.length; i++) size += FIXED + owners[i]!.length + records[i]!.rdata.length;
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const owner = owners[i]!;
    o = buf.writeUInt16BE(owner.length, o);
    o += owner.copy(buf, o);
    o = buf.writeUInt16BE(r.type, o);
    o = buf.writeUInt32BE(r.ttlSeconds >>> 0, o);
    o = buf.writeUInt16BE(r.rdata.length, o);
    o += r.rdata.copy(buf, o);
  }
  return { buf, count: records.length };
}

/** Reads records one at a time; `next()` returns undefined at the end. RDATA is a view, not a copy. */
export class RecordReader {
  private o = 0;
  private lastOwner = '';
  private lastAt = -1;
  private lastLen = 0;
  /** Offset in the buffer of the RDATA of the record next() returned last. */
  rdataAt = 0;
  constructor(private readonly p: PackedRecords) {}

  get done(): boolean {
    return this.o >= this.p.buf.length;
  }

  /** The fields of the record advance() moved to (no objects made: a zone's build reads a million). */
  owner = '';
  type = 0;
  ttlSeconds = 0;
  rdLength = 0;

  /** Moves to the next record and sets the fields above; false at the end. */
  advance(): boolean {
    const b = this.p.buf;
    if (this.o >= b.length) return false;
    let o = this.o;
    const ownerLen = (b[o]! << 8) | b[o + 1]!; o += 2;
    // Consecutive records of one owner share its string (the zone keeps one per name).
    if (!(ownerLen === this.lastLen && this.lastAt >= 0 && b.compare(b, this.lastAt, this.lastAt + ownerLen, o, o + ownerLen) === 0)) {
      this.lastOwner = b.toString('utf8', o, o + ownerLen);
    }
    this.owner = this.lastOwner;
    this.lastAt = o;
    this.lastLen = ownerLen;
    o += ownerLen;
    this.type = (b[o]! << 8) | b[o + 1]!; o += 2;
    this.ttlSeconds = b.readUInt32BE(o); o += 4;
    this.rdLength = (b[o]! << 8) | b[o + 1]!; o += 2;
    this.rdataAt = o;
    this.o = o + this.rdLength;
    return true;
  }

  /** The record advance() moved to, as an object (its RDATA a view, not a copy). */
  record(): ResourceRecord {
    return { owner: this.owner, type: this.type, klass: 1, ttlSeconds: this.ttlSeconds, rdata: this.p.buf.subarray(this.rdataAt, this.rdataAt + this.rdLength) };
  }

  next(): ResourceRecord | undefined {
    return this.advance() ? this.record() : undefined;
  }
}

/** Every record of a packed list, in order. */
export function* unpackRecords(p: PackedRecords): Generator<ResourceRecord> {
  const r = new RecordReader(p);
  for (let rr = r.next(); rr; rr = r.next()) yield rr;
}
