// Records packed into one buffer, so a worker thread can hand a parsed zone to the main thread
// by transfer (no copy, no structured clone of a million objects), and the main thread can
// unpack it a slice at a time between queries.
import type { ResourceRecord } from './rr.js';

/*
 * Layout, per record, all integers big-endian:
 *
 * | field      | size        | note                                        |
 * |------------|-------------|---------------------------------------------|
 * | owner len  | 2           | octets of the owner key (UTF-8)             |
 * | owner      | owner len   | the canonical owner key, e.g. "www.example." |
 * | type       | 2           |                                             |
 * | class      | 2           |                                             |
 * | TTL        | 4           | seconds                                     |
 * | file index | 2           | into the `files` list; 0xffff: none         |
 * | line       | 4           | 0: none                                     |
 * | RDATA len  | 2           |                                             |
 * | RDATA      | RDATA len   | uncompressed wire form                      |
 */

export interface PackedRecords {
  buf: Buffer;
  files: string[];
  count: number;
}

const FIXED = 2 + 2 + 2 + 4 + 2 + 4 + 2;
const NO_FILE = 0xffff;

export function packRecords(records: readonly ResourceRecord[]): PackedRecords {
  const files: string[] = [];
  const fileIndex = new Map<string, number>();
  let size = 0;
  const owners = records.map((r) => Buffer.from(r.owner, 'utf8'));
  for (let i = 0; i < records.length; i++) size += FIXED + owners[i]!.length + records[i]!.rdata.length;
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const owner = owners[i]!;
    let fi = NO_FILE;
    if (r.file !== undefined) {
      fi = fileIndex.get(r.file) ?? -1;
      if (fi < 0 && files.length < NO_FILE) { fi = files.length; files.push(r.file); fileIndex.set(r.file, fi); }
      if (fi < 0) fi = NO_FILE;
    }
    o = buf.writeUInt16BE(owner.length, o);
    o += owner.copy(buf, o);
    o = buf.writeUInt16BE(r.type, o);
    o = buf.writeUInt16BE(r.klass, o);
    o = buf.writeUInt32BE(r.ttlSeconds >>> 0, o);
    o = buf.writeUInt16BE(fi, o);
    o = buf.writeUInt32BE((r.line ?? 0) >>> 0, o);
    o = buf.writeUInt16BE(r.rdata.length, o);
    o += r.rdata.copy(buf, o);
  }
  return { buf, files, count: records.length };
}

/** Reads records one at a time from `offset`; `next()` returns undefined at the end. RDATA is a view, not a copy. */
export class RecordReader {
  private o = 0;
  constructor(private readonly p: PackedRecords) {}

  get done(): boolean {
    return this.o >= this.p.buf.length;
  }

  next(): ResourceRecord | undefined {
    const b = this.p.buf;
    if (this.o >= b.length) return undefined;
    let o = this.o;
    const ownerLen = b.readUInt16BE(o); o += 2;
    const owner = b.toString('utf8', o, o + ownerLen); o += ownerLen;
    const type = b.readUInt16BE(o); o += 2;
    const klass = b.readUInt16BE(o); o += 2;
    const ttlSeconds = b.readUInt32BE(o); o += 4;
    const fi = b.readUInt16BE(o); o += 2;
    const line = b.readUInt32BE(o); o += 4;
    const rdLen = b.readUInt16BE(o); o += 2;
    const rdata = b.subarray(o, o + rdLen); o += rdLen;
    this.o = o;
    const rr: ResourceRecord = { owner, type, klass, ttlSeconds, rdata };
    if (fi !== NO_FILE) rr.file = this.p.files[fi];
    if (line !== 0) rr.line = line;
    return rr;
  }
}
