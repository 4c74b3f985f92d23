// Mnemonics the zone parser must recognise beyond rr.ts's RRType table: the other types BIND
// knows by name (IANA "Resource Record (RR) TYPEs" registry), so that `LOC ...` gets "not
// supported in text form" instead of "unknown type", plus DNSSEC algorithm and digest names.
import { typeCode } from './rr.js';

const EXTRA_TYPES: Record<string, number> = {
  MD: 3, MF: 4, MB: 7, MG: 8, MR: 9, NULL: 10, WKS: 11, MINFO: 14, RP: 17, AFSDB: 18, X25: 19,
  ISDN: 20, RT: 21, NSAP: 22, 'NSAP-PTR': 23, SIG: 24, KEY: 25, PX: 26, GPOS: 27, LOC: 29, NXT: 30,
  EID: 31, NIMLOC: 32, ATMA: 34, KX: 36, CERT: 37, A6: 38, SINK: 40, APL: 42, IPSECKEY: 45,
  DHCID: 49, NSEC3: 50, NSEC3PARAM: 51, SMIMEA: 53, HIP: 55, NINFO: 56, RKEY: 57, TALINK: 58,
  CDS: 59, CDNSKEY: 60, OPENPGPKEY: 61, CSYNC: 62, ZONEMD: 63, SPF: 99, UINFO: 100, UID: 101,
  GID: 102, UNSPEC: 103, NID: 104, L32: 105, L64: 106, LP: 107, EUI48: 108, EUI64: 109,
  TKEY: 249, TSIG: 250, URI: 256, AVC: 258, DOA: 259, AMTRELAY: 260, RESINFO: 261, TA: 32768, DLV: 32769,
};

/** Type code for a mnemonic or TYPEnnn, case-insensitive; undefined when unknown. */
export function lookupType(text: string): number | undefined {
  return typeCode(text) ?? EXTRA_TYPES[text.toUpperCase()];
}

/** Meta and query-only types (RFC 6895 §3.1) and type 0: never valid as zone data. */
export function isMetaOrReserved(code: number): boolean {
  return code === 0 || code === 41 || (code >= 128 && code <= 255);
}

/** Obsolete types BIND refuses in master files (RFC 973: MD and MF are replaced by MX). */
export function isObsolete(code: number): boolean {
  return code === 3 || code === 4;
}

/** DNSSEC algorithm mnemonics (RFC 4034 Appendix A.1, RFC 5155, 5702, 6605, 8080). */
export const SECALG_CODES: Record<string, number> = {
  RSAMD5: 1, DH: 2, DSA: 3, RSASHA1: 5, NSEC3DSA: 6, 'DSA-NSEC3-SHA1': 6, NSEC3RSASHA1: 7,
  'RSASHA1-NSEC3-SHA1': 7, RSASHA256: 8, RSASHA512: 10, 'ECC-GOST': 12, ECDSAP256SHA256: 13,
  ECDSAP384SHA384: 14, ED25519: 15, ED448: 16, INDIRECT: 252, PRIVATEDNS: 253, PRIVATEOID: 254,
};

/** DS digest type mnemonics (RFC 3658, 4509, 5933, 6605), spelled as BIND accepts them. */
export const DSDIGEST_CODES: Record<string, number> = {
  'SHA-1': 1, SHA1: 1, 'SHA-256': 2, SHA256: 2, GOST: 3, 'SHA-384': 4, SHA384: 4,
};

/** Types of which an owner may hold only one record (BIND's DNS_RDATATYPEATTR_SINGLETON). */
export const SINGLETON_TYPES = new Set<number>([5, 6, 30, 39, 47, 261]); // CNAME SOA NXT DNAME NSEC RESINFO

/** Types that may sit beside a CNAME (RFC 2181 §10.1, RFC 4035 §2.5): KEY, SIG, NSEC, RRSIG. */
export const CNAME_COMPANIONS = new Set<number>([24, 25, 46, 47]);
