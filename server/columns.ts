// Growing and trimming the typed arrays (and byte buffers) that hold zones without objects
// (name-table.ts, answer-index.ts): doubling while a zone is built, cut to size when it is done.

export type Column = Int32Array | Uint32Array | Uint16Array;

/** `a`, or a copy of it with room for at least `need` elements (at least double). */
export function grow<T extends Column>(a: T, need: number): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/** `a`, or a copy of its first `used` elements when more than a fifth of it is unused. */
export function trim<T extends Column>(a: T, used: number): T {
  return a.length > used * 1.25 ? (a.slice(0, used) as T) : a;
}

/** Resizes every column of a group (all of one length) with `f`. */
export function resizeAll<G extends { [k: string]: Column }>(group: G, f: (a: Column) => Column): void {
  for (const k of Object.keys(group) as (keyof G)[]) group[k] = f(group[k]) as G[keyof G];
}

/** `b`, or a bigger copy of its first `used` bytes, with room for at least `need` bytes (doubling, to at most `max`). */
export function growBuffer(b: Buffer, used: number, need: number, max = Infinity): Buffer {
  if (need <= b.length) return b;
  const g = Buffer.allocUnsafe(Math.max(Math.min(b.length * 2, max), need));
  b.copy(g, 0, 0, used);
  return g;
}

/** `b`, or a copy of its first `used` bytes when more than a fifth of it is unused. */
export function trimBuffer(b: Buffer, used: number): Buffer {
  return b.length > used * 1.25 ? Buffer.from(b.subarray(0, used)) : b;
}
