// Tokenizer for RFC 1035 §5.1 master files as BIND's isc_lex reads them: it turns text into
// entries (one per logical line, parentheses joined) of tokens, and never throws.
//
// Rules (RFC 1035 §5.1, BIND lib/isc/lex.c):
//   - ';' starts a comment to the end of the line, unless escaped or inside quotes;
//   - '(' ... ')' continue an entry across lines (BIND allows nesting);
//   - a line that starts with a blank has no owner (the previous owner applies);
//   - '"' quotes a string; inside it only an unescaped '"' ends it, a bare newline is an error;
//   - '\X' and '\DDD' escapes are kept verbatim in token text: names and strings decode them.

export interface Token {
  /** Raw text; quoted tokens without their quotes, escapes not yet decoded. */
  text: string;
  quoted: boolean;
  line: number;
}

export interface Entry {
  /** Line of the entry's first token. */
  line: number;
  /** True when the entry's line starts with a blank: the owner is inherited. */
  blankOwner: boolean;
  tokens: Token[];
}

export interface LexIssue {
  line: number;
  code: string;
  message: string;
}

export interface LexResult {
  entries: Entry[];
  issues: LexIssue[];
}

const BREAKS = new Set([' ', '\t', '\n', '\r', ';', '(', ')', '"']);

/** Splits master-file text into entries; malformed entries are dropped and reported. */
export function lexZone(text: string): LexResult {
  return new Lexer(text).run();
}

class Lexer {
  private i = 0;
  private line = 1;
  private depth = 0;
  private parenLine = 0;
  private tokens: Token[] = [];
  private blankOwner = false;
  private poisoned = false;
  private readonly entries: Entry[] = [];
  private readonly issues: LexIssue[] = [];

  constructor(private readonly text: string) {}

  run(): LexResult {
    this.startLine();
    while (this.i < this.text.length) this.step(this.text[this.i]!);
    if (this.depth > 0) {
      this.issue(this.parenLine, 'unbalanced-paren', `'(' opened on line ${this.parenLine} is never closed before the end of the file`);
      this.poisoned = true;
    }
    this.endEntry();
    return { entries: this.entries, issues: this.issues };
  }

  private step(c: string): void {
    if (c === '\n') {
      this.i++;
      this.line++;
      if (this.depth === 0) {
        this.endEntry();
        this.startLine();
      }
    } else if (c === ' ' || c === '\t' || c === '\r') {
      this.i++;
    } else if (c === ';') {
      while (this.i < this.text.length && this.text[this.i] !== '\n') this.i++;
    } else if (c === '(') {
      if (this.depth === 0) this.parenLine = this.line;
      this.depth++;
      this.i++;
    } else if (c === ')') {
      this.i++;
      if (this.depth === 0) this.fail('unbalanced-paren', "')' without a matching '('");
      else this.depth--;
    } else if (c === '"') {
      this.quoted();
    } else {
      this.bare();
    }
  }

  /** A line that begins outside parentheses starts a new entry; a leading blank means "same owner". */
  private startLine(): void {
    const c = this.text[this.i];
    this.blankOwner = c === ' ' || c === '\t';
  }

  private endEntry(): void {
    if (this.tokens.length > 0 && !this.poisoned) {
      this.entries.push({ line: this.tokens[0]!.line, blankOwner: this.blankOwner, tokens: this.tokens });
    }
    this.tokens = [];
    this.poisoned = false;
    this.depth = 0;
  }

  private fail(code: string, message: string): void {
    this.issue(this.line, code, message);
    this.poisoned = true;
  }

  private issue(line: number, code: string, message: string): void {
    this.issues.push({ line, code, message });
  }

  /** Unquoted token: runs to a blank, ';', a parenthesis or a quote; '\' protects the next char. */
  private bare(): void {
    const start = this.i;
    const line = this.line;
    while (this.i < this.text.length) {
      const c = this.text[this.i]!;
      if (c === '\\') {
        const next = this.text[this.i + 1];
        if (next === undefined || next === '\n') { this.i++; break; }
        this.i += 2;
        continue;
      }
      if (BREAKS.has(c)) break;
      this.i++;
    }
    this.tokens.push({ text: this.text.slice(start, this.i), quoted: false, line });
  }

  /** Quoted string (RFC 1035 §5.1 <character-string>): ends at an unescaped '"' on the same line. */
  private quoted(): void {
    const line = this.line;
    let j = this.i + 1;
    let out = '';
    for (;;) {
      const c = this.text[j];
      if (c === undefined) {
        this.i = j;
        this.fail('unterminated-quote', `quoted string opened on line ${line} is not closed before the end of the file`);
        return;
      }
      if (c === '\n') {
        this.i = j;
        this.fail('unterminated-quote', 'quoted string is not closed on its line (a newline inside quotes must be written \\010)');
        this.depth = 0;
        return;
      }
      if (c === '"') break;
      if (c === '\\' && j + 1 < this.text.length) {
        if (this.text[j + 1] === '\n') this.line++;
        out += c + this.text[j + 1];
        j += 2;
        continue;
      }
      out += c;
      j++;
    }
    this.i = j + 1;
    this.tokens.push({ text: out, quoted: true, line });
  }
}
