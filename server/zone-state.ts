// State shared by the zone parser's pieces while one zone is read: the records so far, the
// problems (bounded), the TTL defaults of RFC 1035 §5.1 / RFC 2308 §4, and the $INCLUDE stack.
import { NameError, parseName } from './name.js';
import type { ResourceRecord } from './rr.js';
import type { Token } from './zone-lexer.js';
import { badNameEscape } from './zone-text.js';

export interface ZoneProblem {
  file: string;
  /** 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read). */
  line: number;
  severity: 'error' | 'warning';
  /** Stable machine-readable code, e.g. 'bad-ttl', 'cname-and-other-data'. */
  code: string;
  message: string;
}

/** One problem as `file:line: [warning: ]message` (no line number when it concerns the whole file). */
export function formatProblem(p: ZoneProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return `${where}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

/** Parsing stops after this many errors; beyond this many warnings, further ones are dropped. */
export const MAX_PROBLEMS = 100;

/** Problems of one zone, bounded so that a garbage file cannot flood the output or the memory. */
export class ProblemList {
  readonly list: ZoneProblem[];
  private errors = 0;
  private warnings = 0;

  constructor(existing: readonly ZoneProblem[] = []) {
    this.list = [...existing];
    for (const p of existing) {
      if (p.severity === 'error') this.errors++;
      else this.warnings++;
    }
  }

  /** True once MAX_PROBLEMS errors are in: the parser stops there. */
  get full(): boolean {
    return this.errors >= MAX_PROBLEMS;
  }

  add(p: ZoneProblem): void {
    if (p.severity === 'error' ? this.full : this.warnings >= MAX_PROBLEMS) return;
    const message = printable(p.message);
    if (p.severity === 'error') {
      this.list.push({ ...p, message });
      if (++this.errors === MAX_PROBLEMS) {
        this.list.push({ ...p, code: 'too-many-problems', message: `stopped after ${MAX_PROBLEMS} errors` });
      }
    } else {
      this.list.push({ ...p, message });
      if (++this.warnings === MAX_PROBLEMS) {
        this.list.push({ ...p, code: 'too-many-warnings', message: `further warnings are not shown (over ${MAX_PROBLEMS})` });
      }
    }
  }
}

/** Per-zone parse state shared across $INCLUDEd files (BIND's dns_loadctx). */
export class ParseState {
  readonly records: ResourceRecord[] = [];
  readonly problems = new ProblemList();
  /** $TTL (or the SOA MINIMUM fallback): the TTL of records that give none. */
  defaultTtl: number | undefined;
  /** Last TTL used: RFC 1035 §5.1 semantics when there is no $TTL. */
  lastTtl: number | undefined;
  warnedRfc1035 = false;
  /** Records made by $GENERATE so far (bounded per zone, so a hostile file cannot exhaust memory). */
  generated = 0;
  /** Octets of owner and RDATA text $GENERATE expanded to so far (bounded per zone, as `generated`). */
  generatedOctets = 0;
  /** $INCLUDE reads so far and the octets they returned (bounded per zone, as `generated`). */
  includes = 0;
  includedOctets = 0;
  /** Absolute paths of the files being read, outermost first (include loop detection). */
  readonly includeStack: string[] = [];

  constructor(readonly readFile: (path: string) => string) {}

  get full(): boolean {
    return this.problems.full;
  }

  report(file: string, line: number, severity: ZoneProblem['severity'], code: string, message: string): void {
    this.problems.add({ file, line, severity, code, message });
  }
}

/** Control characters from the input are shown as \DDD so messages are safe to print on a terminal. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => '\\' + String(c.charCodeAt(0)).padStart(3, '0'));
}

/** Where the parser is in one file: its name, the current $ORIGIN and the previous owner. */
export interface FileContext {
  file: string;
  origin: string[] | null;
  owner: string[] | null;
}

/** Parses a name relative to the context origin; reports and returns undefined when bad. */
export function nameOrReport(st: ParseState, ctx: FileContext, tok: Token, what: string): string[] | undefined {
  if (tok.quoted && what !== 'owner') {
    st.report(ctx.file, tok.line, 'error', 'bad-name', `bad ${what} "${tok.text}": a name may not be a quoted string`);
    return undefined;
  }
  const escape = badNameEscape(tok.text);
  if (escape) {
    st.report(ctx.file, tok.line, 'error', 'bad-name', `bad ${what}: ${escape}`);
    return undefined;
  }
  try {
    return parseName(tok.text, ctx.origin);
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
    st.report(ctx.file, tok.line, 'error', 'bad-name', `bad ${what} '${tok.text}': ${e.message}`);
    return undefined;
  }
}
