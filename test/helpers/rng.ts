// The fuzzers' seeded PRNG (mulberry32): every failure names its seed, and the same seed replays
// the same inputs.
export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  bytes(n: number): Buffer { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = this.int(256); return b; }
  /** Random octets as a latin1 string (one char per octet, as the zone parser reads files). */
  octets(n: number): string { let s = ''; for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256)); return s; }
}
