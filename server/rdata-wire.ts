// Checks of uncompressed wire-form RDATA for the types roamdns knows (RFC 3597 §5: RDATA given
// in \# form for a known type must be valid for that type), and the canonical form used to
// merge duplicate records (names compared case-insensitively, RFC 4343; RFC 4034 §6.2).
import { RRType } from './rr.js';

/** Field kinds: a fixed octet count, a domain name, one <character-string>, or the remainder. */
type Field = number | 'name' | 'str' | 'strs' | 'rest';

const layouts = new Map<number, Field[]>([
  [RRType.A, [4]],
  [RRType.AAAA, [16]],
  [RRType.NS, ['name']],
  [RRType.CNAME, ['name']],
  [RRType.PTR, ['name']],
  [RRType.DNAME, ['name']],
  [RRType.MX, [2, 'name']],
  [RRType.SRV, [6, 'name']],
  [RRType.SOA, ['name', 'name', 20]],
  [RRType.TXT, ['strs']],
  [RRType.HINFO, ['str', 'str']],
  [RRType.NAPTR, [4, 'str', 'str', 'str', 'name']],
  [RRType.DS, [4, 'rest']],
  [RRType.SSHFP, [2, 'rest']],
  [RRType.TLSA, [3, 'rest']],
  [RRType.CAA, [1, 'str', 'rest']],
]);

/** Digest lengths fixed by their RFCs: DS (RFC 4509, 6605) and SSHFP (RFC 4255, 6594). */
export const DS_DIGEST_OCTETS: Record<number, number> = { 1: 20, 2: 32, 4: 48 };
export const SSHFP_DIGEST_OCTETS: Record<number, number> = { 1: 20, 2: 32 };

/** Reads an uncompressed name (RFC 1035 §3.1) at `off`; undefined when malformed. */
export function readWireName(buf: Buffer, off: number): { labels: string[]; end: number } | undefined {
  const labels: string[] = [];
  let total = 1;
  for (;;) {
    if (off >= buf.length) return undefined;
    const len = buf[off]!;
    if (len === 0) return { labels, end: off + 1 };
    if (len > 63 || off + 1 + len > buf.length) return undefined; // RFC 3597 §4: no compression here
    total += 1 + len;
    if (total > 255) return undefined;
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
}

/** Walks `buf` by the type's layout; calls `onName` for each name's span. Returns an error or undefined. */
function walk(type: number, buf: Buffer, onName?: (start: number, end: number) => void): string | undefined {
  const layout = layouts.get(type);
  if (!layout) return undefined;
  let off = 0;
  for (const f of layout) {
    if (typeof f === 'number') {
      if (off + f > buf.length) return `RDATA too short (${buf.length} octets)`;
      off += f;
    } else if (f === 'name') {
      const n = readWireName(buf, off);
      if (!n) return `bad domain name at RDATA offset ${off}`;
      onName?.(off, n.end);
      off = n.end;
    } else if (f === 'str' || f === 'strs') {
      do {
        if (off >= buf.length || off + 1 + buf[off]! > buf.length) return `bad character-string at RDATA offset ${off}`;
        off += 1 + buf[off]!;
      } while (f === 'strs' && off < buf.length);
    } else {
      off = buf.length;
    }
  }
  if (off !== buf.length) return `${buf.length - off} octets of extra data at the end of the RDATA`;
  return undefined;
}

/** Validates RDATA of a known type as BIND's fromwire does; undefined when valid or type unknown. */
export function validateWire(type: number, buf: Buffer): string | undefined {
  const e = walk(type, buf);
  if (e) return e;
  if (type === RRType.DS) {
    const want = DS_DIGEST_OCTETS[buf[3]!];
    if (buf.length < 5 || (want !== undefined && buf.length !== 4 + want)) return `DS digest type ${buf[3]} needs a ${want ?? '1+'} octet digest`;
  }
  if (type === RRType.SSHFP) {
    const want = SSHFP_DIGEST_OCTETS[buf[1]!];
    if (want !== undefined && buf.length !== 2 + want) return `SSHFP fingerprint type ${buf[1]} needs ${want} octets`;
  }
  if (type === RRType.TLSA && buf.length < 4) return 'TLSA needs at least one octet of certificate data';
  if (type === RRType.CAA) {
    const tag = buf.subarray(2, 2 + buf[1]!);
    if (tag.length === 0 || !/^[A-Za-z0-9]+$/.test(tag.toString('latin1'))) return 'CAA tag must be 1..255 letters or digits';
  }
  return undefined;
}

/** Types whose RDATA names compare case-insensitively when BIND merges duplicates. */
const NAME_TYPES = new Set<number>([RRType.NS, RRType.CNAME, RRType.PTR, RRType.DNAME, RRType.MX, RRType.SRV, RRType.SOA, RRType.NAPTR]);

/** RDATA with its embedded names lower-cased (ASCII), as a latin1 key for duplicate detection. */
export function canonicalRdataKey(type: number, buf: Buffer): string {
  if (!NAME_TYPES.has(type)) return buf.toString('latin1');
  const copy = Buffer.from(buf);
  walk(type, buf, (start, end) => {
    for (let i = start; i < end; i++) {
      const c = copy[i]!;
      if (c >= 0x41 && c <= 0x5a) copy[i] = c + 32;
    }
  });
  return copy.toString('latin1');
}
