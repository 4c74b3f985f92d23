// Domain names as roamdns handles them: a name is kept as its canonical key, the
// presentation form lower-cased (ASCII only, RFC 4343), absolute, with a trailing dot.
// Labels are "binary strings" (one char per octet, latin1) so any octet survives.

export const MAX_LABEL_OCTETS = 63; // RFC 1035 §2.3.4
export const MAX_NAME_OCTETS = 255; // RFC 1035 §2.3.4, wire form including the root label

/** Lower-cases ASCII A-Z only; DNS case-insensitivity is ASCII-only (RFC 4343 §3). */
export function asciiLower(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) break;
  }
  if (i === s.length) return s; // the common case: nothing to lower, no new string
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}

const NEEDS_ESCAPE = /[^\x21-\x7e]|[.\\"();$@]/;

/** Presentation form of one label: escapes '.', '\\', '"', '(', ')', ';', '$', '@' and non-printables. */
export function escapeLabel(label: string): string {
  if (!NEEDS_ESCAPE.test(label)) return label;
  let out = '';
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) out += '\\' + String(c).padStart(3, '0');
    else if ('.\\"();$@'.includes(label[i]!)) out += '\\' + label[i];
    else out += label[i];
  }
  return out;
}

/** Labels (root excluded) to the canonical key, e.g. ['www','example','com'] -> 'www.example.com.'. */
export function labelsToKey(labels: readonly string[]): string {
  if (labels.length === 0) return '.';
  // One join, so the key is one flat string (hashing a concatenation first flattens it).
  const parts = new Array<string>(labels.length + 1);
  for (let i = 0; i < labels.length; i++) parts[i] = escapeLabel(asciiLower(labels[i]!));
  parts[labels.length] = '';
  return parts.join('.');
}

/** Labels to presentation form, case preserved. */
export function labelsToText(labels: readonly string[]): string {
  if (labels.length === 0) return '.';
  return labels.map(escapeLabel).join('.') + '.';
}

/** Wire length of a name given as labels: one length octet per label plus the octets, plus the root. */
export function wireLength(labels: readonly string[]): number {
  let n = 1;
  for (const l of labels) n += 1 + l.length;
  return n;
}

export class NameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NameError';
  }
}

/**
 * Splits a presentation-form name into labels, resolving \X and \DDD escapes (RFC 1035 §5.1).
 * Relative names (no trailing dot) get `origin` appended; '@' is the origin.
 * Throws NameError for empty labels, labels over 63 octets or names over 255 octets.
 */
export function parseName(text: string, origin: readonly string[] | null): string[] {
  if (text === '@') {
    if (!origin) throw new NameError("'@' used but no origin is known");
    return [...origin];
  }
  if (text === '.') return [];
  const labels: string[] = [];
  let cur = '';
  let absolute = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const d = text.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new NameError(`bad escape \\${d} in name '${text}'`);
        cur += String.fromCharCode(v);
        i += 3;
      } else if (i + 1 < text.length) {
        cur += text[i + 1];
        i += 1;
      } else {
        throw new NameError(`name '${text}' ends with a lone backslash`);
      }
    } else if (ch === '.') {
      if (cur.length === 0) throw new NameError(`empty label in name '${text}'`);
      labels.push(cur);
      cur = '';
      if (i === text.length - 1) absolute = true;
    } else {
      cur += ch;
    }
  }
  if (cur.length > 0) labels.push(cur);
  for (const l of labels) {
    if (l.length > MAX_LABEL_OCTETS) throw new NameError(`label '${escapeLabel(l).slice(0, 20)}…' is ${l.length} octets, over 63 in '${text}'`);
  }
  let full = labels;
  if (!absolute) {
    if (!origin) throw new NameError(`relative name '${text}' but no origin is known`);
    full = [...labels, ...origin];
  }
  if (wireLength(full) > MAX_NAME_OCTETS) throw new NameError(`name '${text}' is ${wireLength(full)} octets, over 255`);
  return full;
}

/** Canonical key to labels (inverse of labelsToKey; labels come back lower-cased). */
export function keyToLabels(key: string): string[] {
  return parseName(key, null);
}

/**
 * keyToLabels for keys this program made (labelsToKey), so known to be valid: one that needs no
 * escapes is its labels joined by dots, and splitting it is much cheaper than parsing (a zone
 * build does it for a million names). Anything else is parsed.
 */
export function ownKeyToLabels(key: string): string[] {
  if (key.includes('\\') || !key.endsWith('.')) return parseName(key, null);
  return key === '.' ? [] : key.slice(0, -1).split('.');
}

/** True when `key` equals `ancestor` or lies below it (both canonical keys). */
export function isSubdomain(key: string, ancestor: string): boolean {
  if (ancestor === '.') return true;
  return key === ancestor || key.endsWith('.' + ancestor);
}

/** Key of the parent name ('.' for a top-level name). Only valid for canonical keys. */
export function parentKey(key: string): string {
  if (key === '.') return '.';
  // walk to the first unescaped dot
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '\\') { i += /[0-9]/.test(key[i + 1] ?? '') ? 3 : 1; continue; }
    if (key[i] === '.') return i === key.length - 1 ? '.' : key.slice(i + 1);
  }
  return '.';
}

/** Number of labels in a canonical key. */
export function labelCount(key: string): number {
  if (key === '.') return 0;
  let n = 0;
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '\\') { i += /[0-9]/.test(key[i + 1] ?? '') ? 3 : 1; continue; }
    if (key[i] === '.') n++;
  }
  return n;
}
