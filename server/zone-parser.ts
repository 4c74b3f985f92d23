// RFC 1035 §5 master-file parser as BIND reads it: directives ($ORIGIN, $TTL, $INCLUDE,
// $GENERATE), owners, TTL/class/type fields and RDATA, collecting every problem with its file
// and line instead of throwing. Semantic checks (SOA, NS, CNAME, ...) live in zone-check.ts.
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { labelsToKey, parseName } from './name.js';
import type { ResourceRecord } from './rr.js';
import { lexZone } from './zone-lexer.js';
import { parseFileText } from './zone-directives.js';
import { ParseState, type ZoneProblem } from './zone-state.js';

export type { ZoneProblem } from './zone-state.js';
export { MAX_PROBLEMS } from './zone-state.js';

export interface ParsedZone {
  /** Canonical origin key, e.g. 'example.com.' */
  origin: string;
  /** The zone's (top) file, named by problems that concern the whole zone. */
  file?: string;
  records: ResourceRecord[];
  problems: ZoneProblem[];
}

export interface ParseOptions {
  /** Canonical origin key; when absent it comes from the file name (<origin>.zone) or the first $ORIGIN. */
  origin?: string;
  /** Reads a file as latin1 text (one char per octet); injectable for tests. Defaults to fs ($INCLUDE: regular files only). */
  readFile?: (path: string) => string;
}

export interface ParseTextOptions extends ParseOptions {
  /** Name used in problems and as the base directory of relative $INCLUDE paths. */
  file: string;
}

/** `example.com.zone` -> 'example.com.'; undefined unless the base name ends in `.zone`. */
export function originFromFileName(file: string): string | undefined {
  const base = basename(file);
  if (!base.toLowerCase().endsWith('.zone') || base.length <= 5) return undefined;
  return originKey(base.slice(0, -5));
}

/** Canonical key of an origin given as text ('example.com' or 'example.com.'); undefined when bad. */
export function originKey(text: string): string | undefined {
  try {
    return labelsToKey(parseName(text.endsWith('.') ? text : text + '.', null));
  } catch {
    return undefined;
  }
}

/** The first `$ORIGIN absolute.name.` of a file, for files whose origin is not given otherwise. */
function firstOrigin(text: string): string | undefined {
  for (const e of lexZone(text).entries) {
    const [d, arg] = e.tokens;
    if (!e.blankOwner && d?.text.toUpperCase() === '$ORIGIN' && arg?.text.endsWith('.')) return originKey(arg.text);
  }
  return undefined;
}

/** Parses master-file text. Never throws: every problem is in the result. */
export function parseZoneText(text: string, opts: ParseTextOptions): ParsedZone {
  const st = new ParseState(opts.readFile ?? readIncludedFile);
  const origin = opts.origin ?? firstOrigin(text);
  if (origin === undefined) {
    st.report(opts.file, 0, 'error', 'no-origin', "cannot tell the zone's origin: pass --origin NAME, name the file <origin>.zone, or start it with $ORIGIN");
  }
  const originLabels = origin === undefined ? null : safeLabels(origin);
  st.includeStack.push(resolve(opts.file));
  try {
    parseFileText(st, { file: opts.file, origin: originLabels, owner: null }, text);
  } catch (e) {
    // A bug must not take the server down: report it as a problem of this file.
    st.report(opts.file, 0, 'error', 'internal-error', `zone parser failed: ${(e as Error).message}`);
  }
  return { origin: origin ?? '.', file: opts.file, records: st.records, problems: st.problems.list };
}

/** Reads and parses a zone file; the origin comes from opts, the file name, or its first $ORIGIN. */
export function parseZoneFile(file: string, opts: ParseOptions = {}): ParsedZone {
  const readFile = opts.readFile ?? defaultReadFile;
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    const problem: ZoneProblem = { file, line: 0, severity: 'error', code: 'file-unreadable', message: `cannot read zone file: ${(e as Error).message}` };
    return { origin: opts.origin ?? originFromFileName(file) ?? '.', file, records: [], problems: [problem] };
  }
  return parseZoneText(text, { ...opts, file, origin: opts.origin ?? originFromFileName(file) });
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'latin1');
}

/** $INCLUDE reads regular files only: a FIFO or a device (/dev/stdin, /dev/zero) would block or never end. */
function readIncludedFile(path: string): string {
  const stat = statSync(path);
  if (!stat.isFile() && !stat.isDirectory()) throw new Error('not a regular file'); // a directory fails below with EISDIR
  return readFileSync(path, 'latin1');
}

function safeLabels(key: string): string[] | null {
  try {
    return parseName(key, null);
  } catch {
    return null;
  }
}
