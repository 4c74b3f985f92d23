// The pure assignment, duplicate-claim rule and planner: table cases plus fast-check properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, stableHash, type AssignMember } from '../../failover/assignment.js';
import { compareClaims, winningClaim, type Claim } from '../../failover/claims.js';
import { leavingTargets, plan, type PeerView, type SelfView } from '../../failover/planner.js';

const up = (name: string, over: Partial<AssignMember> = {}): AssignMember => ({ name, live: true, mature: true, healthy: true, ...over });
const vipList = (n: number) => Array.from({ length: n }, (_, i) => `198.51.100.${201 + i}`);

function counts(m: Map<string, string>): Map<string, number> {
  const c = new Map<string, number>();
  for (const n of m.values()) c.set(n, (c.get(n) ?? 0) + 1);
  return c;
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = stableHash(`${seed}:${i}`) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('assign: table cases', () => {
  it('balances 3 VIPs over 3 nodes, one each', () => {
    const m = assign(vipList(3), [up('a'), up('b'), up('c')]);
    expect([...counts(m).values()]).toEqual([1, 1, 1]);
  });

  it('when a node fails only its VIPs move (what `roamdns plan` asks)', () => {
    const vips = vipList(6);
    const before = assign(vips, [up('a'), up('b'), up('c')]);
    const after = assign(vips, [up('a'), up('b', { live: false }), up('c')], before);
    for (const [v, h] of before) if (h !== 'b') expect(after.get(v)).toBe(h);
    expect([...counts(after).values()].sort()).toEqual([3, 3]);
  });

  it('a joining node takes only its share', () => {
    const vips = vipList(6);
    const before = assign(vips, [up('a'), up('b')]);
    const after = assign(vips, [up('a'), up('b'), up('c')], before);
    expect([...after].filter(([v, h]) => before.get(v) !== h)).toHaveLength(2);
    expect(counts(after).get('c')).toBe(2);
  });

  it('immature, joining, draining and dead members get nothing', () => {
    const m = assign(vipList(4), [up('a'), up('b', { mature: false }), up('c', { active: false }), up('d', { live: false })]);
    expect([...m.values()]).toEqual(['a', 'a', 'a', 'a']);
  });

  it('unhealthy members give their VIPs to healthy ones', () => {
    const vips = vipList(4);
    const before = assign(vips, [up('a'), up('b')]);
    const after = assign(vips, [up('a'), up('b', { healthy: false })], before);
    expect(new Set(after.values())).toEqual(new Set(['a']));
  });

  it('when nobody is healthy everyone keeps what it holds; orphans go to the least loaded', () => {
    const vips = vipList(5);
    const previous = new Map([[vips[0]!, 'a'], [vips[1]!, 'a'], [vips[2]!, 'a'], [vips[3]!, 'b']]);
    const m = assign(vips, [up('a', { healthy: false }), up('b', { healthy: false })], previous);
    expect(m.get(vips[0]!)).toBe('a');
    expect(m.get(vips[3]!)).toBe('b');
    expect(m.get(vips[4]!)).toBe('b');
  });

  it('with no candidate at all, live holders keep their VIPs and the rest stay unassigned', () => {
    const vips = vipList(2);
    const m = assign(vips, [up('a', { mature: false })], new Map([[vips[0]!, 'a'], [vips[1]!, 'gone']]));
    expect([...m]).toEqual([[vips[0], 'a']]);
  });

  it('honours prefer when the node is eligible, and balance over prefer', () => {
    const vips = vipList(3);
    const prefs = new Map([[vips[0]!, 'a'], [vips[1]!, 'a'], [vips[2]!, 'c']]);
    const m = assign(vips, [up('a'), up('b'), up('c')], new Map(), prefs);
    expect(m.get(vips[2]!)).toBe('c');
    expect([vips[0], vips[1]].map((v) => m.get(v!))).toContain('a');
    expect([...counts(m).values()].sort()).toEqual([1, 1, 1]);
  });

  it('a preferred VIP returns to its node when the node is back; the others only rebalance', () => {
    const vips = vipList(3);
    const prefs = new Map([[vips[0]!, 'a']]);
    const without = assign(vips, [up('a', { live: false }), up('b'), up('c')], new Map(), prefs);
    const back = assign(vips, [up('a'), up('b'), up('c')], without, prefs);
    expect(back.get(vips[0]!)).toBe('a');
    expect([...counts(back).values()]).toEqual([1, 1, 1]);
    // The preferred VIP moves; a second move only if its old holder is left with none.
    const moves = [...back].filter(([v, h]) => without.get(v) !== h).length;
    expect(moves).toBe(counts(without).get(without.get(vips[0]!)!) === 1 ? 2 : 1);
  });

  it('weights give proportional shares', () => {
    const m = assign(vipList(8), [up('a', { weight: 3 }), up('b', { weight: 1 })]);
    expect(counts(m).get('a')).toBe(6);
    expect(counts(m).get('b')).toBe(2);
    expect(() => assign(vipList(1), [up('a', { weight: 0 })])).toThrow(RangeError);
  });
});

describe('assign: properties', () => {
  const scenario = fc.record({
    nodes: fc.integer({ min: 1, max: 7 }),
    vips: fc.integer({ min: 0, max: 25 }),
    down: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
    prevSeed: fc.array(fc.nat(8), { minLength: 25, maxLength: 25 }),
    seed: fc.nat(),
  });

  it('deterministic whatever the input order; every VIP placed once; balanced; minimum moves', () => {
    fc.assert(fc.property(scenario, (s) => {
      const names = Array.from({ length: s.nodes }, (_, i) => `node${i}`);
      const vips = vipList(s.vips);
      const members = names.map((n, i) => up(n, { live: !s.down[i] || i === 0 }));
      const previous = new Map<string, string>();
      vips.forEach((v, i) => { const k = s.prevSeed[i]!; if (k < names.length) previous.set(v, names[k]!); else if (k === 8) previous.set(v, 'ghost'); });
      const m = assign(vips, members, previous);
      const again = assign(shuffle(vips, s.seed), shuffle(members, s.seed + 1), new Map(shuffle([...previous], s.seed + 2)));
      expect([...again].sort()).toEqual([...m].sort());
      expect(m.size).toBe(vips.length);
      const pool = members.filter((x) => x.live).map((x) => x.name);
      for (const h of m.values()) expect(pool).toContain(h);
      const c = pool.map((p) => counts(m).get(p) ?? 0);
      expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      // Minimum moves: keep min(held, quota) per node with the +1s where they keep most.
      const floor = Math.floor(vips.length / pool.length);
      const held = pool.map((p) => [...previous.values()].filter((h) => h === p).length);
      const keep = held.reduce((a, h) => a + Math.min(h, floor), 0) + Math.min(vips.length % pool.length, held.filter((h) => h > floor).length);
      expect([...m].filter(([v, h]) => previous.get(v) === h).length).toBe(keep);
    }), { numRuns: 500 });
  });

  it('weighted shares are within one of proportional', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 30 }), (weights, n) => {
      const members = weights.map((w, i) => up(`n${i}`, { weight: w }));
      const m = assign(vipList(n), members);
      const total = weights.reduce((a, b) => a + b, 0);
      members.forEach((x, i) => expect(Math.abs((counts(m).get(x.name) ?? 0) - (n * weights[i]!) / total)).toBeLessThan(1));
    }), { numRuns: 300 });
  });

  it('preferences are honoured whenever balance allows', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(4), { maxLength: 12 }), (k, n, prefIdx) => {
      const names = Array.from({ length: k }, (_, i) => `n${i}`);
      const vips = vipList(n);
      const prefs = new Map(prefIdx.slice(0, n).filter((p) => p < k).map((p, i) => [vips[i]!, names[p]!]));
      const m = assign(vips, names.map((x) => up(x)), new Map(), prefs);
      const ceil = Math.ceil(n / k);
      for (const node of names) {
        const wanted = [...prefs].filter(([, p]) => p === node).length;
        const got = [...prefs].filter(([v, p]) => p === node && m.get(v) === node).length;
        expect(got).toBeGreaterThanOrEqual(Math.min(wanted, Math.floor(n / k)));
        expect(got).toBeLessThanOrEqual(ceil);
      }
    }), { numRuns: 300 });
  });
});

describe('duplicate claims', () => {
  const claim = (node: string, over: Partial<Claim> = {}): Claim => ({ node, gen: 5, state: 'active', health: 'healthy', ...over });
  it.each([
    ['active beats joining', claim('a', { state: 'joining', gen: 0 }), claim('b'), 'b'],
    ['healthy beats unhealthy', claim('a', { health: 'unhealthy' }), claim('b', { gen: 9 }), 'b'],
    ['the older claim (lower gen) wins', claim('a', { gen: 7 }), claim('b', { gen: 6 }), 'b'],
  ])('%s', (_name, x, y, winner) => {
    expect(winningClaim('198.51.100.201', [x, y])!.node).toBe(winner);
    expect(winningClaim('198.51.100.201', [y, x])!.node).toBe(winner);
  });

  it('ties resolve the same on both sides', () => {
    for (let i = 0; i < 50; i++) {
      const vip = `198.51.100.${i}`;
      expect(Math.sign(compareClaims(vip, claim('a'), claim('b')))).toBe(-Math.sign(compareClaims(vip, claim('b'), claim('a'))));
    }
  });
});

describe('planner', () => {
  const self = (over: Partial<SelfView> = {}): SelfView => ({ name: 'a', state: 'active', health: 'healthy', weight: 1, held: new Map(), ...over });
  const peer = (name: string, over: Partial<PeerView> = {}): PeerView => ({
    name, weight: 1, alive: true, mature: true, state: 'active', health: 'healthy', held: [], handoffs: [], ...over,
  });
  const V = '198.51.100.201';

  it('waits while a live peer holds a VIP assigned to us (the holder releases first)', () => {
    const p = plan({ self: self(), peers: [peer('b', { held: [{ vip: V, gen: 1 }], state: 'draining' })], vips: [V], prefs: new Map(), busy: new Set() });
    expect(p.target.get(V)).toBe('a');
    expect(p.actions).toEqual([]);
  });

  it('acquires a VIP handed to us, and leaves one handed to another live node alone', () => {
    const mine = plan({ self: self(), peers: [peer('b', { handoffs: [{ vip: V, to: 'a', gen: 1 }] })], vips: [V], prefs: new Map(), busy: new Set() });
    expect(mine.actions).toEqual([{ kind: 'acquire', vip: V, via: 'handoff' }]);
    const theirs = plan({ self: self({ name: 'a' }), peers: [peer('b', { handoffs: [{ vip: V, to: 'c', gen: 1 }] }), peer('c')], vips: [V], prefs: new Map([[V, 'a']]), busy: new Set() });
    expect(theirs.actions).toEqual([]);
  });

  it('ignores a stale handoff: the VIP was claimed at a higher gen since', () => {
    const stale = plan({ self: self(), peers: [peer('b', { handoffs: [{ vip: V, to: 'a', gen: 1 }] }), peer('c')], vips: [V], prefs: new Map([[V, 'c']]), busy: new Set(), gens: new Map([[V, 2]]) });
    expect(stale.actions).toEqual([]);
    const fresh = plan({ self: self(), peers: [peer('b', { handoffs: [{ vip: V, to: 'a', gen: 2 }] }), peer('c')], vips: [V], prefs: new Map([[V, 'c']]), busy: new Set(), gens: new Map([[V, 2]]) });
    expect(fresh.actions).toEqual([{ kind: 'acquire', vip: V, via: 'handoff' }]);
  });

  it('releases with a handoff when the target is another node', () => {
    const p = plan({ self: self({ state: 'draining', held: new Map([[V, 1]]) }), peers: [peer('b')], vips: [V], prefs: new Map(), busy: new Set() });
    expect(p.actions).toEqual([{ kind: 'release', vip: V, reason: 'drain', to: 'b' }]);
  });

  it('releases a lost duplicate and unconfigured VIPs, without a handoff', () => {
    const p = plan({
      self: self({ held: new Map([[V, 9], ['203.0.113.1', 1]]) }), peers: [peer('b', { held: [{ vip: V, gen: 2 }] })],
      vips: [V], prefs: new Map(), busy: new Set(),
    });
    expect(p.actions).toEqual([
      { kind: 'release', vip: V, reason: 'duplicate' },
      { kind: 'release', vip: '203.0.113.1', reason: 'unconfigured' },
    ]);
  });

  it('a stopping node names a recipient for every VIP it holds, even when nobody is eligible', () => {
    const W = '198.51.100.202';
    const input = (peers: PeerView[]) => ({ self: self({ state: 'leaving', held: new Map([[V, 3], [W, 1]]) }), peers, vips: [V, W], prefs: new Map(), busy: new Set<string>() });
    const eligible = leavingTargets(input([peer('b'), peer('c')]));
    expect(new Set([eligible.get(V), eligible.get(W)])).toEqual(new Set(['b', 'c']));
    const nobodyMature = leavingTargets(input([peer('b', { mature: false }), peer('c', { mature: false })]));
    expect([nobodyMature.get(V), nobodyMature.get(W)].sort()).toEqual(['b', 'c']); // least loaded first
    expect(leavingTargets(input([peer('b', { state: 'draining' })])).size).toBe(0);
  });

  it('does not take unheld VIPs while settling, nor VIPs that are busy', () => {
    expect(plan({ self: self({ settling: true }), peers: [], vips: [V], prefs: new Map(), busy: new Set() }).actions).toEqual([]);
    expect(plan({ self: self(), peers: [], vips: [V], prefs: new Map(), busy: new Set([V]) }).actions).toEqual([]);
    expect(plan({ self: self(), peers: [], vips: [V], prefs: new Map(), busy: new Set() }).actions).toEqual([{ kind: 'acquire', vip: V, via: 'unheld' }]);
  });
});
