// BIND's $GENERATE template expansion (BIND ARM "The $GENERATE Directive"): `$` is the
// iterator, `${offset[,width[,base]]}` formats it (base d, o, x, X, or n/N for reversed
// nibbles), `$$` is a literal '$', and `\X` escapes are passed through for the name parser.

export interface GenerateRange {
  start: number;
  stop: number;
  step: number;
}

/**
 * Widest `${offset,width}` field. BIND formats a field into 128 octets (master.c genname) and
 * refuses more; without a bound, `${0,999999999,n}` would build a gigabyte string per record.
 */
export const MAX_GENERATE_WIDTH = 127;

/** Parses `start-stop[/step]` (0 <= start <= stop, step >= 1); undefined when malformed. */
export function parseGenerateRange(text: string): GenerateRange | undefined {
  const m = /^([0-9]{1,10})-([0-9]{1,10})(?:\/([0-9]{1,10}))?$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]);
  const stop = Number(m[2]);
  const step = m[3] === undefined ? 1 : Number(m[3]);
  if (stop < start || step < 1 || stop > 0x7fffffff) return undefined;
  return { start, stop, step };
}

/** Number of iterations a range makes. */
export function generateCount(r: GenerateRange): number {
  return Math.floor((r.stop - r.start) / r.step) + 1;
}

/** Reversed hex nibbles joined by dots, zero-filled to `width` characters (BIND master.c nibbles()). */
function nibbles(value: number, width: number, upper: boolean): string {
  const digits = upper ? '0123456789ABCDEF' : '0123456789abcdef';
  let out = '';
  let v = value >>> 0;
  let w = width;
  do {
    out += digits[v & 0xf];
    v >>>= 4;
    if (w > 0) w--;
    if (w > 0 || v !== 0) {
      out += '.';
      if (w > 0) w--;
    }
  } while (v !== 0 || w > 0);
  return out;
}

function format(value: number, width: number, base: string): string {
  if (base === 'n' || base === 'N') return nibbles(value, width, base === 'N');
  const radix = base === 'o' ? 8 : base === 'x' || base === 'X' ? 16 : 10;
  const digits = Math.abs(value).toString(radix);
  const text = (base === 'X' ? digits.toUpperCase() : digits).padStart(value < 0 ? width - 1 : width, '0');
  return value < 0 ? '-' + text : text;
}

/** Expands one template for iterator value `it`; returns an error string for a bad `${...}`. */
export function expandTemplate(template: string, it: number): { ok: true; text: string } | { ok: false; error: string } {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\') {
      out += template.slice(i, i + 2);
      i++;
    } else if (c !== '$') {
      out += c;
    } else if (template[i + 1] === '$') {
      out += '$';
      i++;
    } else if (template[i + 1] === '{') {
      const m = /^\{(-?[0-9]+)(?:,([0-9]+)(?:,([doxXnN]))?)?\}/.exec(template.slice(i + 1));
      if (!m) return { ok: false, error: `bad modifier in '${template}' (use \${offset[,width[,base]]}, base one of d o x X n N)` };
      const width = Number(m[2] ?? 0);
      if (width > MAX_GENERATE_WIDTH) return { ok: false, error: `width ${m[2]} in '${template}' is over ${MAX_GENERATE_WIDTH}` };
      out += format(it + Number(m[1]), width, m[3] ?? 'd');
      i += m[0].length;
    } else {
      out += String(it);
    }
  }
  return { ok: true, text: out };
}
