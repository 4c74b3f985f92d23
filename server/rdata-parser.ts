// RDATA presentation form -> uncompressed wire form, per type (RFC 1035 §3.3/§5, RFC 3596,
// RFC 2782, RFC 3403, RFC 4034 §5.3, RFC 4255, RFC 6698, RFC 8659) and the RFC 3597 §5
// generic form `\# <length> <hex>`. Mirrors BIND's lib/dns/rdata/*/fromtext checks.
import { NameError, parseName } from './name.js';
import { RRType, nameToWire } from './rr.js';
import type { Token } from './zone-lexer.js';
import { MAX_U32, badNameEscape, decodeCharString, decodeHex, parseIPv4, parseIPv6, parseTtlText, parseUint } from './zone-text.js';
import { DS_DIGEST_OCTETS, SSHFP_DIGEST_OCTETS, validateWire } from './rdata-wire.js';
import { SECALG_CODES, DSDIGEST_CODES } from './rr-mnemonics.js';

/** Problem codes: 'missing-rdata', 'extra-token', 'bad-rdata', 'unsupported-type'. */
export type RdataResult =
  | { ok: true; rdata: Buffer; warnings: string[] }
  | { ok: false; code: string; error: string; line?: number };

class RdataError extends Error {
  constructor(message: string, readonly line?: number, readonly code = 'bad-rdata') {
    super(message);
  }
}

/** Reads the RDATA tokens left to right; every method raises RdataError with a precise message. */
class Cursor {
  private i = 0;
  readonly warnings: string[] = [];
  constructor(private readonly tokens: Token[], private readonly origin: readonly string[] | null, private readonly typeText: string) {}

  get atEnd(): boolean { return this.i >= this.tokens.length; }
  peek(): Token | undefined { return this.tokens[this.i]; }

  next(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new RdataError(`${this.typeText} record is missing its ${what}`, undefined, 'missing-rdata');
    return t;
  }

  plain(what: string): Token {
    const t = this.next(what);
    if (t.quoted) throw new RdataError(`${this.typeText} ${what} may not be a quoted string ("${t.text}")`, t.line);
    return t;
  }

  uint(what: string, max: number): number {
    const t = this.plain(what);
    const r = parseUint(t.text, max, `${this.typeText} ${what}`);
    if (!r.ok) throw new RdataError(r.error, t.line);
    return r.value;
  }

  name(what: string): Buffer {
    const t = this.plain(what);
    const escape = badNameEscape(t.text);
    if (escape) throw new RdataError(`bad ${this.typeText} ${what}: ${escape}`, t.line);
    try {
      return nameToWire(parseName(t.text, this.origin));
    } catch (e) {
      if (e instanceof NameError) throw new RdataError(`bad ${this.typeText} ${what}: ${e.message}`, t.line);
      throw e;
    }
  }

  /** One <character-string>, quoted or not, as length octet + octets. */
  charString(what: string, maxOctets = 255): Buffer {
    const t = this.next(what);
    const r = decodeCharString(t.text, maxOctets);
    if (!r.ok) throw new RdataError(`bad ${this.typeText} ${what}: ${r.error}`, t.line);
    return maxOctets === 255 ? Buffer.concat([Buffer.from([r.value.length]), Buffer.from(r.value, 'latin1')]) : Buffer.from(r.value, 'latin1');
  }

  /** Hex data from all remaining tokens (they may be split by blanks or parentheses). */
  hexRest(what: string, exactOctets: number | undefined, minOctets: number): Buffer {
    const parts: string[] = [];
    while (!this.atEnd) parts.push(this.plain(what).text);
    const r = decodeHex(parts.join(''));
    if (!r.ok) throw new RdataError(`bad ${this.typeText} ${what}: ${r.error}`);
    if (exactOctets !== undefined && r.value.length !== exactOctets) {
      throw new RdataError(`${this.typeText} ${what} is ${r.value.length} octets; this digest type needs exactly ${exactOctets}`);
    }
    if (r.value.length < minOctets) throw new RdataError(`${this.typeText} record is missing its ${what}`, undefined, 'missing-rdata');
    return r.value;
  }

  end(): void {
    const t = this.peek();
    if (t) throw new RdataError(`extra text '${t.text}' after the ${this.typeText} RDATA`, t.line, 'extra-token');
  }
}

const u8 = (n: number): Buffer => Buffer.from([n]);
const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

function address(c: Cursor, v6: boolean): Buffer {
  const t = c.plain('address');
  const b = v6 ? parseIPv6(t.text) : parseIPv4(t.text);
  if (!b) throw new RdataError(v6 ? `bad IPv6 address '${t.text}'` : `bad IPv4 address '${t.text}' (expected four decimal octets 0..255, no leading zeros)`, t.line);
  return b;
}

/** BIND warns when an NS or MX target looks like an address (check_ns/check_mx in master.c). */
function targetName(c: Cursor, what: string): Buffer {
  const t = c.peek();
  if (t && !t.quoted) {
    const bare = t.text.endsWith('.') ? t.text.slice(0, -1) : t.text;
    if (parseIPv4(bare) || parseIPv6(bare)) c.warnings.push(`${what} '${t.text}' appears to be an address, not a host name`);
  }
  return c.name(what);
}

function soa(c: Cursor): Buffer[] {
  const parts = [c.name('primary server (MNAME)'), c.name('mailbox (RNAME)'), u32(c.uint('serial', MAX_U32))];
  for (const what of ['refresh', 'retry', 'expire', 'minimum']) {
    const t = c.plain(what);
    const v = parseTtlText(t.text);
    if (v === undefined) throw new RdataError(`bad SOA ${what} '${t.text}' (seconds 0..4294967295 or units like 1h30m)`, t.line);
    parts.push(u32(v));
  }
  return parts;
}

function txt(c: Cursor): Buffer[] {
  const parts = [c.charString('string')];
  while (!c.atEnd) parts.push(c.charString('string'));
  return parts;
}

function caa(c: Cursor): Buffer[] {
  const flags = c.uint('flags', 255);
  const tag = c.plain('tag');
  if (!/^[A-Za-z0-9]{1,255}$/.test(tag.text)) throw new RdataError(`bad CAA tag '${tag.text}' (1..255 letters or digits, RFC 8659 §4.1)`, tag.line);
  return [u8(flags), u8(tag.text.length), Buffer.from(tag.text, 'latin1'), c.charString('value', 65535)];
}

function mnemonicOrNumber(c: Cursor, what: string, table: Record<string, number>): number {
  const t = c.plain(what);
  const known = table[t.text.toUpperCase()];
  if (known !== undefined) return known;
  const r = parseUint(t.text, 255, `DS ${what}`);
  if (!r.ok) throw new RdataError(`${r.error} or a mnemonic (${Object.keys(table).slice(0, 4).join(', ')}, ...)`, t.line);
  return r.value;
}

function ds(c: Cursor): Buffer[] {
  const keyTag = c.uint('key tag', 0xffff);
  const alg = mnemonicOrNumber(c, 'algorithm', SECALG_CODES);
  const digestType = mnemonicOrNumber(c, 'digest type', DSDIGEST_CODES);
  return [u16(keyTag), u8(alg), u8(digestType), c.hexRest('digest', DS_DIGEST_OCTETS[digestType], 1)];
}

function naptr(c: Cursor): Buffer[] {
  const parts = [u16(c.uint('order', 0xffff)), u16(c.uint('preference', 0xffff)), c.charString('flags'), c.charString('services')];
  const regexp = c.charString('regexp');
  const bad = naptrRegexpError(regexp.subarray(1).toString('latin1'));
  if (bad) throw new RdataError(`bad NAPTR regexp: ${bad} (RFC 3402 §3.2: delim ere delim substitution delim flags)`);
  return [...parts, regexp, c.name('replacement')];
}

/** RFC 3402 §3.2 substitution expression shape, as BIND's txt_valid_regex checks it. */
function naptrRegexpError(re: string): string | undefined {
  if (re === '') return undefined;
  const delim = re[0]!;
  if (/[0-9\\i\0]/.test(delim)) return `'${delim}' cannot be the delimiter`;
  let delims = 1; let groups = 0; let maxRef = 0;
  for (let i = 1; i < re.length; i++) {
    const ch = re[i]!;
    if (ch === delim) { if (++delims > 3) return 'too many delimiters'; continue; }
    if (delims === 3) { if (ch !== 'i') return `unknown flag '${ch}'`; continue; }
    if (ch === '\\') {
      const nx = re[++i];
      if (nx === undefined) return 'ends with a backslash';
      if (delims === 2 && nx === '0') return 'back-reference \\0';
      if (delims === 2 && /[1-9]/.test(nx)) maxRef = Math.max(maxRef, Number(nx));
      continue;
    }
    if (delims === 1 && ch === '(') groups++;
  }
  if (delims !== 3) return 'missing delimiter';
  if (maxRef > groups) return `back-reference \\${maxRef} but only ${groups} group(s)`;
  return undefined;
}

/** Text parsers for the types roamdns reads in presentation form. */
const parsers = new Map<number, (c: Cursor) => Buffer[]>([
  [RRType.A, (c) => [address(c, false)]],
  [RRType.AAAA, (c) => [address(c, true)]],
  [RRType.NS, (c) => [targetName(c, 'name server')]],
  [RRType.CNAME, (c) => [c.name('target')]],
  [RRType.PTR, (c) => [c.name('target')]],
  [RRType.DNAME, (c) => [c.name('target')]],
  [RRType.MX, (c) => [u16(c.uint('preference', 0xffff)), targetName(c, 'mail exchange')]],
  [RRType.SRV, (c) => [u16(c.uint('priority', 0xffff)), u16(c.uint('weight', 0xffff)), u16(c.uint('port', 0xffff)), c.name('target')]],
  [RRType.SOA, soa],
  [RRType.TXT, txt],
  [RRType.HINFO, (c) => [c.charString('CPU'), c.charString('OS')]],
  [RRType.CAA, caa],
  [RRType.DS, ds],
  [RRType.NAPTR, naptr],
  [RRType.SSHFP, (c) => {
    const alg = c.uint('algorithm', 255); const fp = c.uint('fingerprint type', 255);
    return [u8(alg), u8(fp), c.hexRest('fingerprint', SSHFP_DIGEST_OCTETS[fp], 0)];
  }],
  [RRType.TLSA, (c) => [u8(c.uint('usage', 255)), u8(c.uint('selector', 255)), u8(c.uint('matching type', 255)), c.hexRest('certificate data', undefined, 1)]],
]);

/** True when roamdns can read this type's presentation form (others need RFC 3597 \# form). */
export function hasTextForm(type: number): boolean {
  return parsers.has(type);
}

/** RFC 3597 §5: `\# <length> <hex>`; for known types the data must also be valid for the type. */
function generic(c: Cursor, type: number, typeText: string): Buffer {
  c.next('\\#');
  const length = c.uint('RDATA length', 0xffff);
  const data = c.hexRest('generic RDATA', undefined, 0);
  if (data.length !== length) throw new RdataError(`\\# length says ${length} octets but ${data.length} octets of hex follow`);
  const bad = validateWire(type, data);
  if (bad) throw new RdataError(`RDATA in \\# form is not a valid ${typeText}: ${bad}`);
  return data;
}

/** True when the RDATA is in RFC 3597 generic form; for TXT, `\#` must be followed by a number. */
function isGeneric(type: number, tokens: Token[]): boolean {
  const first = tokens[0];
  if (!first || first.quoted || first.text !== '\\#') return false;
  return type !== RRType.TXT || /^[0-9]+$/.test(tokens[1]?.text ?? '');
}

/** Parses the RDATA tokens of one record. Never throws on bad input. */
export function parseRdata(type: number, typeText: string, tokens: Token[], origin: readonly string[] | null): RdataResult {
  const c = new Cursor(tokens, origin, typeText);
  try {
    let rdata: Buffer;
    if (isGeneric(type, tokens)) {
      rdata = generic(c, type, typeText);
    } else {
      const parse = parsers.get(type);
      if (!parse) {
        return { ok: false, code: 'unsupported-type', error: `type ${typeText} is not supported in text form; write it in RFC 3597 generic form (TYPE${type} \\# <length> <hex>)` };
      }
      rdata = Buffer.concat(parse(c));
      c.end();
    }
    if (rdata.length > 0xffff) return { ok: false, code: 'bad-rdata', error: `RDATA is ${rdata.length} octets, over 65535` };
    return { ok: true, rdata, warnings: c.warnings };
  } catch (e) {
    if (e instanceof RdataError) return { ok: false, code: e.code, error: e.message, line: e.line };
    throw e;
  }
}
