// Presentation-format value parsers shared by the zone parser and the RDATA parser: TTLs,
// decimal numbers, IPv4/IPv6 addresses, <character-string>s and hex. None of them throws;
// each returns the value or an error string that says what is wrong and what is allowed.

export const MAX_TTL = 0x7fffffff; // RFC 2181 §8: TTLs are 0..2^31-1
export const MAX_U32 = 0xffffffff;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const err = <T>(error: string): Parsed<T> => ({ ok: false, error });

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/**
 * BIND's TTL syntax (lib/dns/ttl.c bind_ttl): a plain number, or digit groups each with a unit
 * w/d/h/m/s in any case ("1h30m", "1W2D"). Returns seconds up to 2^32-1, or undefined.
 */
export function parseTtlText(text: string): number | undefined {
  if (text.length === 0 || text.length > 63) return undefined;
  let total = 0;
  let i = 0;
  while (i < text.length) {
    const m = /^[0-9]+/.exec(text.slice(i));
    if (!m) return undefined;
    const n = Number(m[0]);
    if (n > MAX_U32) return undefined;
    i += m[0].length;
    if (i === text.length) {
      if (total !== 0) return undefined; // BIND: "1h30" is a syntax error
      total = n;
      break;
    }
    const unit = UNIT_SECONDS[text[i]!.toLowerCase()];
    if (unit === undefined) return undefined;
    total += n * unit;
    i++;
  }
  return total > MAX_U32 ? undefined : total;
}

/** True when a token looks like an attempted TTL (so a bad one gets a TTL message, not "unknown type"). */
export function looksLikeTtl(text: string): boolean {
  return /^[-+]?[0-9]/.test(text);
}

/** Unsigned decimal number (BIND isc_lex number: digits only) no larger than `max`. */
export function parseUint(text: string, max: number, what: string): Parsed<number> {
  if (!/^[0-9]+$/.test(text)) return err(`${what} '${text}' is not a decimal number (0..${max})`);
  const n = Number(text);
  if (n > max) return err(`${what} ${text} out of range 0..${max}`);
  return ok(n);
}

/** Dotted-quad IPv4 as inet_pton(3) accepts it: four decimal octets, no leading zeros. */
export function parseIPv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let k = 0; k < 4; k++) {
    const p = parts[k]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[k] = Number(p);
  }
  return out;
}

/** IPv6 as inet_pton(3) accepts it (RFC 4291 §2.2), including a trailing dotted quad; no zone index. */
export function parseIPv6(text: string): Buffer | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const words = [...head, ...tail];
  if (halves.length === 1 ? words.length !== 8 : words.length > 7) return undefined;
  const out = Buffer.alloc(16);
  head.forEach((w, k) => out.writeUInt16BE(w, 2 * k));
  tail.forEach((w, k) => out.writeUInt16BE(w, 16 - 2 * (tail.length - k)));
  return out;
}

/** Colon-separated 16-bit groups; the last may be a dotted quad (two groups) when it ends the address. */
function groups(s: string, mayEndWithV4: boolean): number[] | undefined {
  if (s === '') return [];
  const parts = s.split(':');
  const words: number[] = [];
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!;
    if (mayEndWithV4 && k === parts.length - 1 && p.includes('.')) {
      const v4 = parseIPv4(p);
      if (!v4) return undefined;
      words.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
      words.push(parseInt(p, 16));
    } else {
      return undefined;
    }
  }
  return words;
}

/**
 * Decodes a <character-string> (RFC 1035 §5.1): '\X' is X, '\DDD' is the octet DDD (0..255).
 * Returns the octets as a latin1 string; `maxOctets` is 255 for one string (RFC 1035 §3.3).
 */
export function decodeCharString(text: string, maxOctets = 255): Parsed<string> {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    let c = text[i]!;
    if (c === '\\') {
      if (i + 1 >= text.length) return err(`string ends with a lone backslash`);
      const d = text.slice(i + 1, i + 4);
      if (/^[0-9]/.test(d)) {
        if (!/^[0-9]{3}$/.test(d) || Number(d) > 255) return err(`bad escape '\\${d}' in string (use \\DDD with DDD 000..255)`);
        c = String.fromCharCode(Number(d));
        i += 3;
      } else {
        c = text[i + 1]!;
        i += 1;
      }
    }
    out += c;
  }
  if (out.length > maxOctets) return err(`string is ${out.length} octets, over ${maxOctets}`);
  return ok(out);
}

/**
 * BIND refuses a '\' followed by a digit unless three digits 000..255 follow (RFC 1035 §5.1
 * \DDD); name.ts's parseName would take `\25x` as '25x'. Returns the problem, or undefined.
 */
export function badNameEscape(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') continue;
    const d = text.slice(i + 1, i + 4);
    if (/^[0-9]/.test(d) && (!/^[0-9]{3}$/.test(d) || Number(d) > 255)) return `bad escape '\\${d}' in name '${text}' (use \\DDD with DDD 000..255)`;
    i++;
  }
  return undefined;
}

/** Hex digits (RFC 3597 §5, DS/SSHFP/TLSA data), split across tokens allowed; even count. */
export function decodeHex(text: string): Parsed<Buffer> {
  if (!/^[0-9a-fA-F]*$/.test(text)) return err(`bad hex data '${text.slice(0, 40)}' (only 0-9 a-f allowed)`);
  if (text.length % 2 !== 0) return err(`hex data has an odd number of digits (${text.length})`);
  return ok(Buffer.from(text, 'hex'));
}
