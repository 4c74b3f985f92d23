// The deterministic VIP → node assignment every agent computes alike (and `roamdns plan` reuses): balanced, sticky, preferences.

/*
 * Rules, in order (all ties broken by stableHash of names, never by input order):
 *
 * 1. Pool = members that are live, mature, active and healthy. If nobody is healthy,
 *    nothing moves: every VIP stays with its live holder, and only VIPs without a live
 *    holder are placed, on the live+mature+active member with the fewest (per weight).
 *    If the pool is still empty, the result is `previous` restricted to live holders.
 * 2. Quota: member i gets floor(N·wᵢ/W) or that +1 (N VIPs, W total weight); the R
 *    "+1"s go first to members whose wanted VIPs exceed their floor (so fewer VIPs
 *    move), then to the largest fractional share, then by hash. Equal weights give
 *    counts that differ by at most one.
 * 3. Preferences: a VIP whose `prefer` node is in the pool goes there while that node
 *    has quota left (its already-held preferred VIPs first, then by hash). Balance wins
 *    over a preference: extra preferred VIPs fall through to rule 4.
 * 4. Stickiness: a VIP stays with its current holder (if in the pool) while the holder
 *    has quota left; a holder over quota keeps the VIPs with the highest hash(vip,node).
 * 5. The rest (orphans and overflow), in hash order, go to the pool member with quota
 *    left that has the highest hash(vip,node) (rendezvous hashing).
 *
 * So a leaving node moves only its own VIPs, a joining node takes only its quota, and
 * the number of moves is the minimum any balanced assignment needs.
 */

export interface AssignMember {
  name: string;
  weight?: number; // positive integer, default 1
  live: boolean;
  mature: boolean;
  healthy: boolean;
  active?: boolean; // reported state is 'active' (default true); joining/draining nodes get nothing new
}

/** FNV-1a over UTF-16 code units, then the murmur3 finalizer: stable across nodes and versions. */
export function stableHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const pairHash = (vip: string, node: string) => stableHash(`${vip}\u0000${node}`);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Descending by hash, names as the final tie-break so the order is total. */
const byHashDesc = (h: (s: string) => number) => (a: string, b: string) => h(b) - h(a) || byName(a, b);

function weightOf(m: AssignMember): number {
  const w = m.weight ?? 1;
  if (!Number.isInteger(w) || w < 1) throw new RangeError(`member ${m.name}: weight ${w} must be a positive integer`);
  return w;
}

interface Pool {
  names: string[];
  weight: Map<string, number>;
}

function makePool(members: readonly AssignMember[], pick: (m: AssignMember) => boolean): Pool {
  const chosen = members.filter(pick).sort((a, b) => byName(a.name, b.name));
  return { names: chosen.map((m) => m.name), weight: new Map(chosen.map((m) => [m.name, weightOf(m)])) };
}

/** Rule 2: floor of each exact share, the remaining R "+1"s to members with a fractional share (there are always > R). */
function quotas(pool: Pool, n: number, wanted: Map<string, number>): Map<string, number> {
  const total = pool.names.reduce((s, x) => s + pool.weight.get(x)!, 0);
  const exact = new Map(pool.names.map((x) => [x, (n * pool.weight.get(x)!) / total]));
  const q = new Map(pool.names.map((x) => [x, Math.floor(exact.get(x)!)]));
  const extras = n - [...q.values()].reduce((s, v) => s + v, 0);
  const frac = (x: string) => exact.get(x)! - q.get(x)!;
  const wantsMore = (x: string) => ((wanted.get(x) ?? 0) > q.get(x)! ? 0 : 1);
  const order = pool.names
    .filter((x) => frac(x) > 0)
    .sort((a, b) => wantsMore(a) - wantsMore(b) || frac(b) - frac(a) || stableHash(b) - stableHash(a) || byName(a, b));
  for (const x of order.slice(0, extras)) q.set(x, q.get(x)! + 1);
  return q;
}

/** Gives each node up to its quota from its own candidate VIPs (best first); the candidate lists are disjoint. */
function placeUpTo(cands: Map<string, string[]>, quota: Map<string, number>, count: Map<string, number>, out: Map<string, string>): void {
  for (const [node, vips] of [...cands].sort((a, b) => byName(a[0], b[0]))) {
    for (const vip of vips) {
      if (out.has(vip) || count.get(node)! >= quota.get(node)!) continue;
      out.set(vip, node);
      count.set(node, count.get(node)! + 1);
    }
  }
}

function group(vips: string[], key: (v: string) => string | undefined): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const v of vips) {
    const k = key(v);
    if (k !== undefined) m.set(k, [...(m.get(k) ?? []), v]);
  }
  return m;
}

/** Rules 2–5 over a non-empty pool. */
function balanced(vips: string[], pool: Pool, previous: ReadonlyMap<string, string>, prefs: ReadonlyMap<string, string>): Map<string, string> {
  const inPool = (x: string | undefined): x is string => x !== undefined && pool.weight.has(x);
  const want = (v: string) => (inPool(prefs.get(v)) ? prefs.get(v) : inPool(previous.get(v)) ? previous.get(v) : undefined);
  const wanted = new Map<string, number>();
  for (const v of vips) { const w = want(v); if (w) wanted.set(w, (wanted.get(w) ?? 0) + 1); }
  const quota = quotas(pool, vips.length, wanted);
  const count = new Map(pool.names.map((x) => [x, 0]));
  const out = new Map<string, string>();
  // Rule 3: preferred VIPs, the ones the node already holds first.
  const preferred = group(vips, (v) => (inPool(prefs.get(v)) ? prefs.get(v) : undefined));
  for (const [node, list] of preferred) {
    list.sort((a, b) => Number(previous.get(b) === node) - Number(previous.get(a) === node) || byHashDesc((v) => pairHash(v, node))(a, b));
  }
  placeUpTo(preferred, quota, count, out);
  // Rule 4: stay with the current holder.
  const sticky = group(vips.filter((v) => !out.has(v)), (v) => (inPool(previous.get(v)) ? previous.get(v) : undefined));
  for (const [node, list] of sticky) list.sort(byHashDesc((v) => pairHash(v, node)));
  placeUpTo(sticky, quota, count, out);
  // Rule 5: rendezvous among members with quota left.
  for (const v of vips.filter((x) => !out.has(x)).sort(byHashDesc(stableHash))) {
    const open = pool.names.filter((x) => count.get(x)! < quota.get(x)!);
    const node = open.sort(byHashDesc((x) => pairHash(v, x)))[0]!;
    out.set(v, node);
    count.set(node, count.get(node)! + 1);
  }
  return out;
}

/** Rule 1 fallback: keep every live holder; place orphans on the least-loaded (per weight) candidate. */
function keepAll(vips: string[], members: readonly AssignMember[], pool: Pool, previous: ReadonlyMap<string, string>): Map<string, string> {
  const live = new Set(members.filter((m) => m.live).map((m) => m.name));
  const out = new Map<string, string>();
  const count = new Map(pool.names.map((x) => [x, 0]));
  for (const v of vips) {
    const h = previous.get(v);
    if (h !== undefined && live.has(h)) {
      out.set(v, h);
      if (count.has(h)) count.set(h, count.get(h)! + 1);
    }
  }
  for (const v of vips.filter((x) => !out.has(x)).sort(byHashDesc(stableHash))) {
    const load = (x: string) => count.get(x)! / pool.weight.get(x)!;
    const node = [...pool.names].sort((a, b) => load(a) - load(b) || pairHash(v, b) - pairHash(v, a) || byName(a, b))[0];
    if (node === undefined) break;
    out.set(v, node);
    count.set(node, count.get(node)! + 1);
  }
  return out;
}

/**
 * Who should hold each VIP. Pure and deterministic: the same inputs give the same map
 * on every node, whatever order the arrays and maps come in. VIPs with no possible
 * holder are absent from the result.
 */
export function assign(
  vips: readonly string[],
  members: readonly AssignMember[],
  previous: ReadonlyMap<string, string> = new Map(),
  prefs: ReadonlyMap<string, string> = new Map(),
): Map<string, string> {
  const list = [...new Set(vips)].sort(byName);
  const candidate = (m: AssignMember) => m.live && m.mature && m.active !== false;
  const healthy = makePool(members, (m) => candidate(m) && m.healthy);
  if (healthy.names.length > 0) return balanced(list, healthy, previous, prefs);
  return keepAll(list, members, makePool(members, candidate), previous);
}
