// One resource-record entry of a master file (RFC 1035 §5.1):
//   <owner> [<TTL>] [<class>] <type> <RDATA>   (TTL and class in either order, both optional)
// with BIND's rules for omitted owners and TTLs and for the class (IN only).
import { labelsToKey, wireLength } from './name.js';
import { RRType, soaFields } from './rr.js';
import { parseRdata } from './rdata-parser.js';
import { isMetaOrReserved, isObsolete, lookupType } from './rr-mnemonics.js';
import type { Entry, Token } from './zone-lexer.js';
import { type FileContext, type ParseState, nameOrReport } from './zone-state.js';
import { MAX_TTL, looksLikeTtl, parseTtlText } from './zone-text.js';

/**
 * Largest record (owner, the 10 octets of type, class, TTL and length, RDATA) that fits in a
 * 65535-octet DNS message (RFC 1035 §4.2.2) beside the header (12), an OPT record (11) and the
 * largest TSIG record (358: a 255-octet key name and HMAC-SHA512), so that AXFR can send every
 * record of a zone that loads. (BIND limits RDATA alone, to 65512 octets.)
 */
export const MAX_RECORD_OCTETS = 65535 - 12 - 11 - 358;

const CLASSES: Record<string, number> = { IN: 1, CH: 3, CHAOS: 3, HS: 4, HESIOD: 4, NONE: 254, ANY: 255 };

/** Class code of a class mnemonic or CLASSnnn (RFC 3597 §5), else undefined. */
function classCode(text: string): number | undefined {
  const up = text.toUpperCase();
  if (CLASSES[up] !== undefined) return CLASSES[up];
  const m = /^CLASS([0-9]{1,5})$/.exec(up);
  return m && Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
}

/** A TTL field; values over 2^31-1 become 0 with a warning, as BIND and RFC 2181 §8 do. */
export function ttlField(st: ParseState, file: string, tok: Token): number | undefined {
  if (tok.quoted) return undefined;
  const v = parseTtlText(tok.text);
  if (v === undefined) return undefined;
  if (v > MAX_TTL) {
    st.report(file, tok.line, 'warning', 'ttl-out-of-range', `TTL ${v} out of range 0..${MAX_TTL}; using 0 as BIND does (RFC 2181 §8)`);
    return 0;
  }
  return v;
}

export interface RecordHead {
  ttl: number | undefined;
  type: number;
  typeText: string;
  /** Index of the first RDATA token. */
  next: number;
}

/** Reads `[TTL] [class] type` or `[class] [TTL] type` from tokens[i...]; reports and returns undefined when bad. */
export function readHead(st: ParseState, ctx: FileContext, tokens: Token[], i: number, line: number): RecordHead | undefined {
  let klass: number | undefined;
  let ttl: number | undefined;
  const isClass = (t: Token | undefined): boolean => t !== undefined && !t.quoted && classCode(t.text) !== undefined;
  if (isClass(tokens[i])) klass = classCode(tokens[i++]!.text);
  if (tokens[i] && (ttl = ttlField(st, ctx.file, tokens[i]!)) !== undefined) i++;
  if (klass === undefined && isClass(tokens[i])) klass = classCode(tokens[i++]!.text);
  const tok = tokens[i];
  if (!tok) {
    st.report(ctx.file, line, 'error', 'missing-type', 'record has no type (expected e.g. A, NS, MX after the owner, TTL and class)');
    return undefined;
  }
  const type = tok.quoted ? undefined : lookupType(tok.text);
  if (type === undefined) {
    if (looksLikeTtl(tok.text)) badTtl(st, ctx.file, tok);
    else st.report(ctx.file, tok.line, 'error', 'unknown-type', `unknown RR type '${tok.text}'`);
    return undefined;
  }
  if (klass !== undefined && klass !== 1) {
    st.report(ctx.file, tok.line, 'error', 'bad-class', `class '${tokens.find((t) => classCode(t.text) === klass)?.text ?? klass}' is not allowed: roamdns serves class IN only`);
    return undefined;
  }
  const typeText = tok.text.toUpperCase();
  if (isMetaOrReserved(type) || isObsolete(type)) {
    st.report(ctx.file, tok.line, 'error', 'bad-type', `type ${typeText} may not appear in a zone file (${isObsolete(type) ? 'obsolete, RFC 973' : 'meta or reserved type, RFC 6895 §3.1'})`);
    return undefined;
  }
  return { ttl, type, typeText, next: i + 1 };
}

function badTtl(st: ParseState, file: string, tok: Token): void {
  const message = /^-?[0-9]+$/.test(tok.text)
    ? `TTL ${tok.text} out of range 0..${MAX_TTL}`
    : `bad TTL '${tok.text}' (seconds 0..${MAX_TTL}, or units like 1h30m, 1w2d)`;
  st.report(file, tok.line, 'error', 'bad-ttl', message);
}

/**
 * The TTL of a record, as BIND decides it (lib/dns/master.c): explicit, else $TTL, else the last
 * TTL used (RFC 1035 §5.1), else for an SOA its MINIMUM (with a warning), else an error.
 */
export function resolveTtl(st: ParseState, file: string, line: number, explicit: number | undefined, type: number, rdata: Buffer): number {
  if (explicit !== undefined) return (st.lastTtl = explicit);
  if (st.defaultTtl !== undefined) return (st.lastTtl = st.defaultTtl);
  if (st.lastTtl !== undefined) {
    if (!st.warnedRfc1035) st.report(file, line, 'warning', 'rfc1035-ttl', `no TTL and no $TTL: using the previous record's TTL ${st.lastTtl} (RFC 1035 §5.1)`);
    st.warnedRfc1035 = true;
    return st.lastTtl;
  }
  if (type === RRType.SOA) {
    const minimum = Math.min(soaFields(rdata).minimum, MAX_TTL);
    st.report(file, line, 'warning', 'soa-minimum-ttl', `no TTL specified and no $TTL: using the SOA MINIMUM ${minimum} as BIND does`);
    st.defaultTtl = minimum;
    return (st.lastTtl = minimum);
  }
  st.report(file, line, 'error', 'no-ttl', 'no TTL specified: add a $TTL line or a TTL on the first record');
  return 0;
}

/** Parses the RDATA and stores the record; shared by plain entries and $GENERATE. */
export function addRecord(st: ParseState, ctx: FileContext, owner: string[], head: RecordHead, rdataTokens: Token[], line: number): void {
  const r = parseRdata(head.type, head.typeText, rdataTokens, ctx.origin);
  if (!r.ok) {
    st.report(ctx.file, r.line ?? line, 'error', r.code, r.error);
    return;
  }
  const octets = wireLength(owner) + 10 + r.rdata.length;
  if (octets > MAX_RECORD_OCTETS) {
    st.report(ctx.file, line, 'error', 'record-too-large', `record is ${octets} octets (owner, type, class, TTL, length, RDATA of ${r.rdata.length}); a DNS message has room for ${MAX_RECORD_OCTETS}`);
    return;
  }
  for (const w of r.warnings) st.report(ctx.file, line, 'warning', 'suspicious-rdata', w);
  const ttlSeconds = resolveTtl(st, ctx.file, line, head.ttl, head.type, r.rdata);
  st.records.push({ owner: labelsToKey(owner), type: head.type, klass: 1, ttlSeconds, rdata: r.rdata, file: ctx.file, line });
}

/** A record entry: owner (or the previous one when the line starts with a blank), head, RDATA. */
export function parseRecordEntry(st: ParseState, ctx: FileContext, entry: Entry): void {
  let i = 0;
  let owner = ctx.owner;
  if (entry.blankOwner) {
    if (!owner) {
      st.report(ctx.file, entry.line, 'error', 'no-owner', 'line starts with a blank but there is no previous owner name to repeat');
      return;
    }
  } else {
    const parsed = nameOrReport(st, ctx, entry.tokens[0]!, 'owner');
    if (!parsed) return;
    owner = ctx.owner = parsed;
    i = 1;
  }
  const head = readHead(st, ctx, entry.tokens, i, entry.line);
  if (head) addRecord(st, ctx, owner, head, entry.tokens.slice(head.next), entry.line);
}
