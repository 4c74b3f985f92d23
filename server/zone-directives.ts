// The entry loop of one master file and its control entries: $ORIGIN and $INCLUDE
// (RFC 1035 §5.1), $TTL (RFC 2308 §4) and BIND's $GENERATE.
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { lexZone, type Entry, type Token } from './zone-lexer.js';
import { addRecord, parseRecordEntry, readHead, ttlField } from './zone-records.js';
import { type FileContext, type ParseState, nameOrReport } from './zone-state.js';
import { expandTemplate, generateCount, parseGenerateRange } from './zone-generate.js';

export const MAX_INCLUDE_DEPTH = 16;
/**
 * $INCLUDE reads one zone may make in all, a file included twice counting twice: within the depth
 * limit, 16 small files that each include the next one ten times would otherwise mean 10^15 reads.
 */
export const MAX_INCLUDES = 4096;
/** Octets of $INCLUDEd text one zone may read in all, the same bound for large files. */
export const MAX_INCLUDED_OCTETS = 64 * 1024 * 1024;
/** Most records all $GENERATE lines of one zone may make together. */
export const MAX_GENERATE_RECORDS = 65536;
/**
 * Most text (owners and RDATA, 256 octets a record on average) all $GENERATE lines of one zone may
 * expand to together: one line with a 64 KiB RDATA would otherwise make 4 GiB out of 65536 records.
 */
export const MAX_GENERATE_OCTETS = MAX_GENERATE_RECORDS * 256;

/** Lexes and parses one file's text into `st` (the top file and each $INCLUDEd one). */
export function parseFileText(st: ParseState, ctx: FileContext, text: string): void {
  const { entries, issues } = lexZone(text);
  for (const issue of issues) st.report(ctx.file, issue.line, 'error', issue.code, issue.message);
  for (const entry of entries) {
    if (st.full) return;
    const first = entry.tokens[0]!;
    if (!entry.blankOwner && !first.quoted && first.text.startsWith('$')) directive(st, ctx, entry);
    else parseRecordEntry(st, ctx, entry);
  }
}

function directive(st: ParseState, ctx: FileContext, entry: Entry): void {
  const [d, ...args] = entry.tokens;
  const name = d!.text.toUpperCase();
  if (name === '$ORIGIN') originDirective(st, ctx, entry.line, args);
  else if (name === '$TTL') ttlDirective(st, ctx, entry.line, args);
  else if (name === '$INCLUDE') includeDirective(st, ctx, entry.line, args);
  else if (name === '$GENERATE') generateDirective(st, ctx, entry.line, args);
  else st.report(ctx.file, entry.line, 'error', 'unknown-directive', `unknown directive '${d!.text}' (allowed: $ORIGIN, $TTL, $INCLUDE, $GENERATE)`);
}

const SYNTAX: Record<string, string> = {
  $ORIGIN: '$ORIGIN <domain-name>',
  $TTL: '$TTL <ttl> (e.g. 300 or 1h)',
  $INCLUDE: '$INCLUDE <file> [<origin>]',
  $GENERATE: '$GENERATE <start>-<stop>[/<step>] <lhs> [<ttl>] [<class>] <type> <rhs>',
};

/** Reports too few or too many arguments; true when the count is within min..max. */
function arity(st: ParseState, ctx: FileContext, line: number, what: string, args: Token[], min: number, max: number): boolean {
  if (args.length < min) {
    st.report(ctx.file, line, 'error', 'bad-directive', `${what} is missing arguments (syntax: ${SYNTAX[what]})`);
    return false;
  }
  if (args.length > max) {
    st.report(ctx.file, args[max]!.line, 'error', 'extra-token', `extra text '${args[max]!.text}' after ${what} (syntax: ${SYNTAX[what]})`);
    return false;
  }
  return true;
}

/** RFC 1035 §5.1: `$ORIGIN <domain-name>`; a relative name is relative to the current origin. */
function originDirective(st: ParseState, ctx: FileContext, line: number, args: Token[]): void {
  if (!arity(st, ctx, line, '$ORIGIN', args, 1, 1)) return;
  const origin = nameOrReport(st, ctx, args[0]!, '$ORIGIN name');
  if (origin) ctx.origin = origin;
}

/** RFC 2308 §4: `$TTL <ttl>` sets the TTL of records that omit theirs. */
function ttlDirective(st: ParseState, ctx: FileContext, line: number, args: Token[]): void {
  if (!arity(st, ctx, line, '$TTL', args, 1, 1)) return;
  const ttl = ttlField(st, ctx.file, args[0]!);
  if (ttl === undefined) {
    st.report(ctx.file, line, 'error', 'bad-ttl', `bad $TTL '${args[0]!.text}' (seconds 0..2147483647, or units like 1h30m, 1w2d)`);
    return;
  }
  st.defaultTtl = ttl;
  st.lastTtl = ttl;
}

/**
 * RFC 1035 §5.1: `$INCLUDE <file> [<origin>]`. The path is relative to the including file's
 * directory. The included file starts with the given (else the current) origin and the current
 * owner; afterwards both revert, as in BIND.
 */
function includeDirective(st: ParseState, ctx: FileContext, line: number, args: Token[]): void {
  if (!arity(st, ctx, line, '$INCLUDE', args, 1, 2)) return;
  const origin = args[1] ? nameOrReport(st, ctx, args[1], '$INCLUDE origin') : ctx.origin;
  if (origin === undefined) return;
  const rel = args[0]!.text;
  const file = isAbsolute(rel) ? rel : join(dirname(ctx.file), rel);
  const abs = resolve(file);
  if (st.includeStack.includes(abs)) {
    st.report(ctx.file, line, 'error', 'include-loop', `$INCLUDE '${rel}' includes a file that is already being read (loop)`);
    return;
  }
  if (st.includeStack.length > MAX_INCLUDE_DEPTH) {
    st.report(ctx.file, line, 'error', 'include-depth', `$INCLUDE '${rel}' nests deeper than ${MAX_INCLUDE_DEPTH} files`);
    return;
  }
  const tooMany = (limit: string): void => st.report(ctx.file, line, 'error', 'include-count', `$INCLUDE '${rel}' is one too many: a zone may read ${limit} in all (each inclusion counts)`);
  const octetLimit = `${MAX_INCLUDED_OCTETS / 1048576} MiB of $INCLUDE text`;
  if (st.includes >= MAX_INCLUDES || st.includedOctets > MAX_INCLUDED_OCTETS) {
    tooMany(st.includes >= MAX_INCLUDES ? `${MAX_INCLUDES} $INCLUDE files` : octetLimit);
    return;
  }
  st.includes++;
  let text: string;
  try {
    text = st.readFile(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    st.report(ctx.file, line, 'error', 'include-failed', `cannot read $INCLUDE file '${rel}' (${why})`);
    return;
  }
  st.includedOctets += text.length;
  if (st.includedOctets > MAX_INCLUDED_OCTETS) {
    tooMany(octetLimit);
    return;
  }
  st.includeStack.push(abs);
  parseFileText(st, { file, origin, owner: ctx.owner }, text);
  st.includeStack.pop();
}

/**
 * BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`: one record per iterator
 * value, `$` in lhs and rhs replaced by it. The owner of later lines is not changed.
 */
function generateDirective(st: ParseState, ctx: FileContext, line: number, args: Token[]): void {
  if (!arity(st, ctx, line, '$GENERATE', args, 4, Infinity)) return;
  const range = parseGenerateRange(args[0]!.text);
  if (!range) {
    st.report(ctx.file, line, 'error', 'bad-directive', `$GENERATE range '${args[0]!.text}' is not start-stop[/step] with 0 <= start <= stop`);
    return;
  }
  st.generated += generateCount(range);
  if (st.generated > MAX_GENERATE_RECORDS) {
    st.report(ctx.file, line, 'error', 'bad-directive', `$GENERATE range '${args[0]!.text}' takes the zone over ${MAX_GENERATE_RECORDS} generated records`);
    return;
  }
  const head = readHead(st, ctx, args, 2, line);
  if (!head) return;
  if (!arity(st, ctx, line, '$GENERATE', args.slice(head.next), 1, 1)) return;
  const lhs = args[1]!.text;
  const rhsTok = args[head.next]!;
  const rhs = rhsTok.quoted ? unescapeQuotes(rhsTok.text) : rhsTok.text;
  for (let it = range.start; it <= range.stop && !st.full; it += range.step) {
    if (!generateOne(st, ctx, line, head, lhs, rhs, it)) return;
  }
}

function generateOne(st: ParseState, ctx: FileContext, line: number, head: NonNullable<ReturnType<typeof readHead>>, lhs: string, rhs: string, it: number): boolean {
  const owner = expandTemplate(lhs, it);
  const data = expandTemplate(rhs, it);
  if (!owner.ok || !data.ok) {
    st.report(ctx.file, line, 'error', 'bad-directive', `$GENERATE ${owner.ok ? '' : owner.error}${data.ok ? '' : data.error}`);
    return false;
  }
  st.generatedOctets += owner.text.length + data.text.length;
  if (st.generatedOctets > MAX_GENERATE_OCTETS) {
    st.report(ctx.file, line, 'error', 'bad-directive', `$GENERATE takes the zone over ${MAX_GENERATE_OCTETS / 1048576} MiB of generated text`);
    return false;
  }
  const ownerLabels = nameOrReport(st, ctx, { text: owner.text, quoted: false, line }, '$GENERATE owner');
  const lexed = lexZone(data.text);
  if (!ownerLabels || lexed.issues.length > 0) {
    if (lexed.issues[0]) st.report(ctx.file, line, 'error', 'bad-directive', `$GENERATE rhs '${data.text}': ${lexed.issues[0].message}`);
    return false;
  }
  const before = st.problems.list.length;
  const tokens = (lexed.entries[0]?.tokens ?? []).map((t) => ({ ...t, line }));
  addRecord(st, ctx, ownerLabels, head, tokens, line);
  return !st.problems.list.slice(before).some((p) => p.severity === 'error');
}

/** BIND's lexer turns `\"` inside a quoted string into `"`; do the same before re-lexing a quoted rhs. */
function unescapeQuotes(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) {
      out += text[i + 1] === '"' ? '"' : text.slice(i, i + 2);
      i++;
    } else {
      out += text[i];
    }
  }
  return out;
}
