// A small declarative schema checker for the YAML config: every problem is collected with its
// key path and line, unknown keys are errors, and defaults are filled in.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Scalar, type Node, type Document, type Pair } from 'yaml';

export type Spec =
  | { kind: 'string'; pattern?: RegExp; hint?: string; /** Returns a message when the value is wrong. */ validate?: (v: string) => string | undefined }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'duration'; minMs: number; maxMs: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'list'; of: Spec; minItems?: number }
  | { kind: 'stringOrList'; of: Spec }
  | { kind: 'object'; fields: Record<string, Field> }
  | { kind: 'map'; of: Spec; keyHint?: string };

export interface Field {
  spec: Spec;
  default?: unknown;
  required?: boolean;
  /** An absent section stays absent (no defaults filled in), e.g. `cluster`. */
  optional?: boolean;
}

export interface ConfigProblem {
  path: string;
  line: number;
  message: string;
}

/** Parses "1h30m", "500ms", "2s" to milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? Math.round(total) : undefined;
}

export class SchemaChecker {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly lines: LineCounter) {}

  private lineOf(node: Node | Pair | null | undefined): number {
    // A pair has no range of its own (e.g. an item of `[a: 1]` or of a !!omap): use its key's.
    const off = (isPair(node) ? keyNode(node) : node)?.range?.[0];
    return off === undefined ? 0 : this.lines.linePos(off).line;
  }

  private fail(path: string, node: Node | Pair | null | undefined, message: string): undefined {
    this.problems.push({ path, line: this.lineOf(node), message: printable(message) });
    return undefined;
  }

  /**
   * YAML 1.2 §3.2.1.1: the keys of a mapping are unique. Checked here in linear time (the yaml
   * package's `uniqueKeys` compares every key with every other one: minutes for 100k keys).
   */
  private duplicate(lines: Map<string, number>, key: string, path: string, pair: Pair): boolean {
    const first = lines.get(key);
    if (first === undefined) {
      lines.set(key, this.lineOf(pair));
      return false;
    }
    this.fail(path, pair, `YAML syntax: map keys must be unique ('${path}' is already on line ${first})`);
    return true;
  }

  check(node: Node | null | undefined, spec: Spec, path: string): unknown {
    // Expanding aliases would let a few lines stand for millions of values ("billion laughs").
    if (isAlias(node)) return this.fail(path, node, `${path || 'the config'}: YAML aliases (*${node.source}) are not supported; write the value out`);
    switch (spec.kind) {
      case 'object': return this.object(node, spec.fields, path);
      case 'map': return this.map(node, spec, path);
      case 'list': return this.list(node, spec.of, path, spec.minItems ?? 0);
      case 'stringOrList':
        return isSeq(node) ? this.list(node, spec.of, path, 1) : this.check(node, spec.of, path);
      default: return this.scalar(node, spec, path);
    }
  }

  private scalar(node: Node | null | undefined, spec: Spec, path: string): unknown {
    if (!isScalar(node)) return this.fail(path, node, `${path} must be a ${spec.kind === 'enum' ? 'value' : spec.kind}, not a ${isMap(node) ? 'mapping' : isSeq(node) ? 'list' : 'null'}`);
    const v = node.value;
    switch (spec.kind) {
      case 'string':
        if (typeof v !== 'string' && typeof v !== 'number') return this.fail(path, node, `${path} must be a string`);
        if (spec.pattern && !spec.pattern.test(String(v))) return this.fail(path, node, `${path}: '${v}' is not ${spec.hint ?? 'valid'}`);
        {
          const why = spec.validate?.(String(v));
          if (why) return this.fail(path, node, `${path}: ${why}`);
        }
        return String(v);
      case 'int':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) return this.fail(path, node, `${path}: '${v}' must be an integer in ${spec.min}..${spec.max}`);
        return v;
      case 'bool':
        if (typeof v !== 'boolean') return this.fail(path, node, `${path}: '${v}' must be true or false`);
        return v;
      case 'duration': {
        const ms = typeof v === 'string' ? parseDuration(v) : undefined;
        if (ms === undefined) return this.fail(path, node, `${path}: '${v}' is not a duration (write e.g. 200ms, 1s, 1m30s)`);
        if (ms < spec.minMs || ms > spec.maxMs) return this.fail(path, node, `${path}: ${v} is out of range ${spec.minMs}ms..${spec.maxMs}ms`);
        return ms;
      }
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) return this.fail(path, node, `${path}: '${v}' must be one of ${spec.values.join(', ')}`);
        return v;
    }
    return undefined;
  }

  private list(node: Node | null | undefined, of: Spec, path: string, minItems: number): unknown {
    if (!isSeq(node)) return this.fail(path, node, `${path} must be a list`);
    if (node.items.length < minItems) return this.fail(path, node, `${path} needs at least ${minItems} item(s)`);
    return node.items.map((item, i) => this.check(item as Node, of, `${path}[${i}]`));
  }

  private map(node: Node | null | undefined, spec: Extract<Spec, { kind: 'map' }>, path: string): unknown {
    if (!isMap(node)) return this.fail(path, node, `${path} must be a mapping${spec.keyHint ? ` of ${spec.keyHint}` : ''}`);
    const out: Record<string, unknown> = {};
    const lines = new Map<string, number>();
    for (const pair of node.items) {
      if (!isScalar(pair.key)) {
        this.fail(path, keyNode(pair), `${path}: a key must be a plain name, not ${isAlias(pair.key) ? 'an alias' : isMap(pair.key) ? 'a mapping' : isSeq(pair.key) ? 'a list' : 'empty'}`);
        continue;
      }
      const key = String(pair.key.value);
      if (this.duplicate(lines, key, `${path}.${key}`, pair)) continue;
      // defineProperty: a key such as '__proto__' is data here, not the object's prototype.
      Object.defineProperty(out, key, { value: this.check(valueNode(pair), spec.of, `${path}.${key}`), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  private object(node: Node | null | undefined, fields: Record<string, Field>, path: string): unknown {
    const out: Record<string, unknown> = {};
    if (node !== null && node !== undefined && !isMap(node)) return this.fail(path || 'config', node, `${path || 'the config'} must be a mapping`);
    const seen = new Set<string>();
    const lines = new Map<string, number>();
    for (const pair of isMap(node) ? node.items : []) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const sub = path ? `${path}.${key}` : key;
      if (this.duplicate(lines, key, sub, pair)) continue;
      // Own keys only: 'constructor' or '__proto__' are unknown keys, not Object.prototype's.
      const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (!field) {
        this.fail(sub, keyNode(pair), `unknown key '${sub}' (allowed here: ${Object.keys(fields).join(', ')})`);
        continue;
      }
      seen.add(key);
      out[key] = this.check(valueNode(pair), field.spec, sub);
    }
    for (const [key, field] of Object.entries(fields)) {
      if (seen.has(key)) continue;
      const sub = path ? `${path}.${key}` : key;
      if (field.required) this.fail(sub, node, `missing required key '${sub}'`);
      else if (field.default !== undefined) out[key] = structuredClone(field.default);
      else if (field.spec.kind === 'object' && !field.optional) out[key] = this.object(undefined, field.spec.fields, sub);
    }
    return out;
  }
}

/** The key of a pair, or when it has none (`: x`) its value, so that a problem still has a line. */
function keyNode(pair: Pair): Node | null {
  return (pair.key ?? pair.value) as Node | null;
}

/** The value of a pair; a pair without one (`? key` in a set) is a null at the key's line. */
function valueNode(pair: Pair): Node {
  if (pair.value) return pair.value as Node;
  const empty = new Scalar(null);
  empty.range = (pair.key as Node | null)?.range;
  return empty;
}

/** Control characters from the file are shown escaped, so a message stays one line and safe to print. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function rootOf(doc: Document): Node | null {
  return (doc.contents as Node | null) ?? null;
}
