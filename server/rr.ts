// Resource-record vocabulary shared by the zone parser, the zone model and the wire encoder.
// RDATA is kept in uncompressed wire form (RFC 3597 §3): compact, and encoding needs only
// to know where the compressible names sit (see rdataLayout).

export const RRType = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, SRV: 33,
  NAPTR: 35, DNAME: 39, OPT: 41, DS: 43, SSHFP: 44, RRSIG: 46, NSEC: 47, DNSKEY: 48,
  TLSA: 52, SVCB: 64, HTTPS: 65, IXFR: 251, AXFR: 252, MAILB: 253, MAILA: 254, ANY: 255, CAA: 257,
} as const;

export const RRClass = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

const typeNames = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));

/** Mnemonic for a type code, or the RFC 3597 form TYPEnnn. */
export function typeName(code: number): string {
  return typeNames.get(code) ?? `TYPE${code}`;
}

/** Type code for a mnemonic or TYPEnnn (case-insensitive), or undefined. */
export function typeCode(text: string): number | undefined {
  const up = text.toUpperCase();
  const known = (RRType as Record<string, number>)[up];
  if (known !== undefined) return known;
  const m = /^TYPE([0-9]{1,5})$/.exec(up);
  if (m) {
    const v = Number(m[1]);
    return v <= 0xffff ? v : undefined;
  }
  return undefined;
}

/** Types that may never appear in a zone file's data (meta and query-only types). */
export function isMetaType(code: number): boolean {
  return code === RRType.OPT || (code >= 128 && code <= 255);
}

export interface ResourceRecord {
  /** Canonical owner key (lower-case, absolute). */
  owner: string;
  type: number;
  /** Always IN (1) for data roamdns serves. */
  klass: number;
  ttlSeconds: number;
  /** Uncompressed wire-form RDATA, names in it keep their case. */
  rdata: Buffer;
  /** Where it came from, for messages. */
  file?: string;
  line?: number;
}

/**
 * Where compressible domain names sit in an RDATA, so the encoder may compress them.
 * RFC 3597 §4: only the RFC 1035 types may be compressed (NS, CNAME, SOA, PTR, MX, ...);
 * SRV (RFC 2782) and every newer type are written uncompressed.
 * Returns the list of field kinds: 'name' (compressible) or a fixed byte count.
 */
export type LayoutField = 'name' | number;
const layouts = new Map<number, LayoutField[]>([
  [RRType.NS, ['name']],
  [RRType.CNAME, ['name']],
  [RRType.PTR, ['name']],
  [RRType.MX, [2, 'name']],
  [RRType.SOA, ['name', 'name', 20]],
]);
export function rdataLayout(type: number): LayoutField[] | undefined {
  return layouts.get(type);
}

/** Reads an uncompressed wire name at `off` in `buf`; returns labels and the offset after it. */
export function readUncompressedName(buf: Buffer, off: number): { labels: string[]; end: number } {
  const labels: string[] = [];
  for (;;) {
    if (off >= buf.length) throw new RangeError('name runs past the end of RDATA');
    const len = buf[off]!;
    if (len === 0) return { labels, end: off + 1 };
    if (len > 63) throw new RangeError('compressed or bad label in RDATA');
    if (off + 1 + len > buf.length) throw new RangeError('label runs past the end of RDATA');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
}

/** Encodes labels as an uncompressed wire name (one allocation: zones may hold millions of names). */
export function nameToWire(labels: readonly string[]): Buffer {
  let size = 1;
  for (const l of labels) size += 1 + l.length;
  const out = Buffer.alloc(size);
  let off = 0;
  for (const l of labels) {
    out[off++] = l.length;
    off += out.write(l, off, 'latin1');
  }
  return out;
}

/** Target name of an MX/SRV/NS/CNAME/PTR/DNAME record (labels), for additional-section processing and CNAME chasing. */
export function rdataTarget(rr: ResourceRecord): string[] | undefined {
  switch (rr.type) {
    case RRType.NS: case RRType.CNAME: case RRType.PTR: case RRType.DNAME:
      return readUncompressedName(rr.rdata, 0).labels;
    case RRType.MX:
      return readUncompressedName(rr.rdata, 2).labels;
    case RRType.SRV:
      return readUncompressedName(rr.rdata, 6).labels;
    default:
      return undefined;
  }
}

/** SOA fields from its RDATA. */
export function soaFields(rdata: Buffer): { mname: string[]; rname: string[]; serial: number; refresh: number; retry: number; expire: number; minimum: number } {
  const m = readUncompressedName(rdata, 0);
  const r = readUncompressedName(rdata, m.end);
  const o = r.end;
  return {
    mname: m.labels, rname: r.labels,
    serial: rdata.readUInt32BE(o), refresh: rdata.readUInt32BE(o + 4), retry: rdata.readUInt32BE(o + 8),
    expire: rdata.readUInt32BE(o + 12), minimum: rdata.readUInt32BE(o + 16),
  };
}
