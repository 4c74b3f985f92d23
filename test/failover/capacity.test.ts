// Capacity planning (failover/capacity.ts): table cases for the findings and shares, the failure maps
// against the agents' own decision step (planner.plan from each survivor's view), and against
// simulated clusters of real Agent engines crashing one node (or two) at a time.
import { describe, expect, it } from 'vitest';
import { freshMap, mapAfter, planCapacity, splitByFamily, type CapacityInput, type CapacityPlan, type FindingKind } from '../../failover/capacity.js';
import { plan, type PeerView } from '../../failover/planner.js';
import { Cluster } from './sim.js';

const vipList = (n: number, from = 201) => Array.from({ length: n }, (_, i) => `198.51.100.${from + i}`);
const nodeList = (n: number, weights: number[] = []) => Array.from({ length: n }, (_, i) => ({ name: `www${i + 1}`, weight: weights[i] ?? 1 }));

function input(nodes: number, vips: number, over: Partial<{ weights: number[]; prefer: Record<string, string>; pools: CapacityInput['pools'] }> = {}): CapacityInput {
  return {
    nodes: nodeList(nodes, over.weights),
    pools: over.pools ?? [{ name: 'www.example.com', vips: vipList(vips) }],
    prefer: new Map(Object.entries(over.prefer ?? {})),
  };
}

const kinds = (p: CapacityPlan): FindingKind[] => [...new Set(p.findings.map((f) => f.kind))].sort();
const counts = (loads: CapacityPlan['baseline']['loads']) => Object.fromEntries(loads.map((l) => [l.node, l.vips]));
const peak = (p: CapacityPlan) => Math.max(...p.failures.map((s) => Math.max(...s.loads.map((l) => l.share))));

describe('planCapacity: table cases', () => {
  const CASES: {
    name: string; in: CapacityInput; pairs?: boolean; maxShare?: number;
    flagged: FindingKind[]; baseline: Record<string, number>; scenarios: number; peak: number; suggested?: number; notes?: string[];
  }[] = [
    { name: '2 nodes / 2 VIPs: a survivor takes 100% = 2 × its 50%, nothing better exists', in: input(2, 2), flagged: [], baseline: { www1: 1, www2: 1 }, scenarios: 2, peak: 1, suggested: 2 },
    { name: '2 nodes / 3 VIPs: cannot be balanced', in: input(2, 3), flagged: ['unbalanced'], baseline: { www1: 2, www2: 1 }, scenarios: 2, peak: 1, suggested: 4 },
    { name: '3 nodes / 3 VIPs: balanced, a failure leaves 2 + 1 (noted, 6 suggested)', in: input(3, 3), flagged: [], baseline: { www1: 1, www2: 1, www3: 1 }, scenarios: 3, peak: 2 / 3, suggested: 6, notes: ['uneven-after-failure'] },
    { name: '3 nodes / 3 VIPs with --max-share 0.5: the survivor with 2 is flagged', in: input(3, 3), maxShare: 0.5, flagged: ['overloaded'], baseline: { www1: 1, www2: 1, www3: 1 }, scenarios: 3, peak: 2 / 3 },
    { name: '3 nodes / 6 VIPs: every failure spreads 3 + 3', in: input(3, 6), flagged: [], baseline: { www1: 2, www2: 2, www3: 2 }, scenarios: 3, peak: 0.5, suggested: 6 },
    { name: '4 nodes / 12 VIPs with pairs: 4 singles (4/4/4) and 6 pairs (6/6)', in: input(4, 12), pairs: true, flagged: [], baseline: { www1: 3, www2: 3, www3: 3, www4: 3 }, scenarios: 10, peak: 0.5, suggested: 12 },
    { name: '3 nodes with pairs: one survivor carries everything, 3 × its share', in: input(3, 6), pairs: true, flagged: ['overloaded'], baseline: { www1: 2, www2: 2, www3: 2 }, scenarios: 6, peak: 1 },
    {
      name: 'prefer naming one node for 3 of 6 VIPs concentrates them', in: input(3, 6, { prefer: { '198.51.100.201': 'www1', '198.51.100.202': 'www1', '198.51.100.203': 'www1' } }),
      flagged: ['prefer-concentrates'], baseline: { www1: 2, www2: 2, www3: 2 }, scenarios: 3, peak: 0.5,
    },
    { name: 'prefer spread one VIP per node: fine', in: input(3, 3, { prefer: { '198.51.100.201': 'www3', '198.51.100.202': 'www1', '198.51.100.203': 'www2' } }), flagged: [], baseline: { www1: 1, www2: 1, www3: 1 }, scenarios: 3, peak: 2 / 3 },
    { name: 'a pool with fewer VIPs than nodes: idle nodes', in: input(3, 2), flagged: ['idle-nodes'], baseline: { www1: 1, www2: 0, www3: 1 }, scenarios: 3, peak: 0.5, suggested: 6 },
    {
      name: 'two pools, one of them with a single VIP: only that one is flagged idle',
      in: input(3, 0, { pools: [{ name: 'www.example.com', vips: vipList(6) }, { name: 'api.example.com', vips: ['198.51.100.230'] }] }),
      flagged: ['idle-nodes'], baseline: { www1: 2, www2: 2, www3: 3 }, scenarios: 3, peak: 4 / 7,
    },
    { name: 'weights 2:1:1 and 4 VIPs: balanced 2/1/1', in: input(3, 4, { weights: [2, 1, 1] }), flagged: [], baseline: { www1: 2, www2: 1, www3: 1 }, scenarios: 3, peak: 3 / 4, suggested: 12 },
    { name: 'weights 2:1:1 and 3 VIPs: cannot follow the weights; www3 alone with www1 would carry 2.7 × its share', in: input(3, 3, { weights: [2, 1, 1] }), flagged: ['overloaded', 'unbalanced'], baseline: { www1: 1, www2: 1, www3: 1 }, scenarios: 3, peak: 2 / 3 },
  ];

  for (const c of CASES) {
    it(c.name, () => {
      const p = planCapacity(c.in, { pairs: c.pairs, maxShare: c.maxShare });
      expect(kinds(p), JSON.stringify(p.findings, null, 1)).toEqual(c.flagged);
      expect(p.flagged).toBe(c.flagged.length > 0);
      expect(counts(p.baseline.loads)).toEqual(c.baseline);
      expect(p.failures).toHaveLength(c.scenarios);
      expect(peak(p)).toBeCloseTo(c.peak, 9);
      if (c.suggested !== undefined) expect(p.suggestions[0]!.suggested).toBe(c.suggested);
      for (const n of c.notes ?? []) expect(p.notes.map((x) => x.kind)).toContain(n);
      // Every scenario: one holder per VIP among the survivors, shares summing to 1.
      for (const s of [p.baseline, ...p.failures]) {
        expect(Object.keys(s.holders).sort()).toEqual([...new Set(c.in.pools.flatMap((x) => x.vips))].sort());
        for (const h of Object.values(s.holders)) expect(s.down).not.toContain(h);
        expect(s.loads.reduce((a, l) => a + l.share, 0)).toBeCloseTo(1, 9);
      }
    });
  }

  it('a failure moves only the failed node\'s VIPs, and says where each went', () => {
    const p = planCapacity(input(3, 6));
    for (const s of p.failures) {
      const lost = Object.entries(p.baseline.holders).filter(([, h]) => h === s.failed[0]).map(([v]) => v);
      expect(s.moved.map((m) => m.vip).sort()).toEqual(lost.sort());
      for (const m of s.moved) expect([m.from, m.to]).toEqual([s.failed[0], s.holders[m.vip]]);
    }
  });

  it('an unbalanced pool names the shares; idle nodes are named', () => {
    expect(planCapacity(input(2, 3)).findings[0]!.message).toMatch(/3 VIPs cannot be balanced over 2 nodes: www1 66\.7%, www2 33\.3%/);
    expect(planCapacity(input(3, 2)).findings[0]!.message).toMatch(/2 VIPs for 3 nodes: www2 carries none of its traffic/);
  });

  it('suggests lcm(N, N-1): 4 nodes → 12, 5 nodes → 20; with pairs on 4 nodes still 12', () => {
    expect(planCapacity(input(4, 4)).suggestions[0]).toMatchObject({ balancedMultiple: 4, failureMultiple: 12, suggested: 12 });
    expect(planCapacity(input(5, 12)).suggestions[0]).toMatchObject({ failureMultiple: 20, suggested: 20 });
    expect(planCapacity(input(4, 12), { pairs: true }).suggestions[0]!.message).toMatch(/12 VIPs balance with every node up and after any one failure or pair/);
    expect(planCapacity(input(3, 3)).suggestions[0]!.message).toMatch(/6 VIPs instead of 3: a multiple of 6 = lcm\(3, 2\)/);
  });

  it('a name with A and AAAA records is two pools: IPv6 clients on 1 VIP idle two nodes', () => {
    const pools = splitByFamily([{ name: 'www.example.com', vips: [...vipList(3), '2001:db8::201'] }]);
    expect(pools.map((p) => p.name)).toEqual(['www.example.com (A)', 'www.example.com (AAAA)']);
    const p = planCapacity({ nodes: nodeList(3), pools, prefer: new Map() });
    expect(p.findings.map((f) => [f.kind, f.pool])).toEqual([['idle-nodes', 'www.example.com (AAAA)']]);
  });

  it('two pools: a prefer that puts all of one pool on one node concentrates its traffic', () => {
    const pools = [{ name: 'www', vips: vipList(2) }, { name: 'api', vips: vipList(2, 221) }];
    const p = planCapacity({ nodes: nodeList(2), pools, prefer: new Map([['198.51.100.201', 'www1'], ['198.51.100.202', 'www1']]) });
    expect(p.findings.map((f) => f.kind)).toContain('prefer-concentrates');
    expect(p.findings.find((f) => f.kind === 'prefer-concentrates')!.message).toMatch(/concentrates www's traffic on www1 \(100% with every node up\)/);
  });

  it('one node: no failure scenario, a note, no suggestion', () => {
    const p = planCapacity(input(1, 2));
    expect(p.failures).toEqual([]);
    expect(p.notes.map((n) => n.kind)).toEqual(['no-failover']);
    expect(p.flagged).toBe(false);
  });

  it('the live view: baseline = the current holders, nodes already down stay out, limits from the configured weights', () => {
    const base = input(3, 6);
    const current = mapAfter(base, freshMap(base), new Set(['www3'])); // www3 is down now: 3 + 3
    const p = planCapacity(base, { current, down: ['www3'] });
    expect(p.baseline.holders).toEqual(Object.fromEntries([...current].sort()));
    expect(p.failures.map((s) => s.failed)).toEqual([['www1'], ['www2']]);
    // Taking a second node out leaves one node with 100% = 3 × its normal third: flagged.
    expect(p.findings.filter((f) => f.kind === 'overloaded').map((f) => f.failed)).toEqual([['www1'], ['www2']]);
  });
});

/** What a survivor's agent decides, from its own view, once `failed` are dead and the others hold their share of `base`. */
function agentTarget(inp: CapacityInput, base: ReadonlyMap<string, string>, failed: ReadonlySet<string>, self: string): Map<string, string> {
  const heldBy = (n: string) => [...base].filter(([, h]) => h === n).map(([vip]) => ({ vip, gen: 1 }));
  const weight = (n: string) => inp.nodes.find((x) => x.name === n)!.weight;
  const peers: PeerView[] = inp.nodes.filter((n) => n.name !== self).map((n) => ({
    name: n.name, weight: n.weight, alive: !failed.has(n.name), mature: !failed.has(n.name), state: 'active', health: 'healthy',
    held: failed.has(n.name) ? [] : heldBy(n.name), handoffs: [],
  }));
  const held = new Map(heldBy(self).map((h) => [h.vip, h.gen]));
  const vips = [...new Set(inp.pools.flatMap((p) => p.vips))];
  return plan({ self: { name: self, state: 'active', health: 'healthy', weight: weight(self), held }, peers, vips, prefs: inp.prefer, busy: new Set() }).target;
}

describe('the plan computes what the agents compute', () => {
  const CONFIGS: { name: string; in: CapacityInput }[] = [
    { name: '3 nodes / 3 VIPs', in: input(3, 3) },
    { name: '3 nodes / 7 VIPs, prefer', in: input(3, 7, { prefer: { '198.51.100.201': 'www2', '198.51.100.205': 'www2', '198.51.100.207': 'www3' } }) },
    { name: '4 nodes / 9 VIPs, weights 3:1:1:2, prefer', in: input(4, 9, { weights: [3, 1, 1, 2], prefer: { '198.51.100.203': 'www4', '198.51.100.204': 'www1' } }) },
  ];
  for (const c of CONFIGS) {
    it(`${c.name}: every survivor's planner.plan target equals the plan's map, for every single failure and pair`, () => {
      const p = planCapacity(c.in, { pairs: true });
      const base = new Map(Object.entries(p.baseline.holders));
      for (const s of p.failures) {
        const failed = new Set(s.failed);
        for (const self of c.in.nodes.map((n) => n.name).filter((n) => !failed.has(n))) {
          expect(Object.fromEntries([...agentTarget(c.in, base, failed, self)].sort()), `${self} after ${s.failed}`).toEqual(s.holders);
        }
      }
    });
  }
});

describe('the plan against simulated agents (real engines, fake network and clock)', () => {
  const TIMING = { heartbeatMs: 50, deadAfterMs: 400, matureMs: 1000 };
  const SETTLE_MS = TIMING.matureMs + 4 * TIMING.deadAfterMs + 1500;
  const SIMS: { name: string; nodes: number; vips: number; weights?: number[]; prefer?: Record<string, string>; pairs?: boolean }[] = [
    { name: '3 nodes / 3 VIPs', nodes: 3, vips: 3 },
    { name: '3 nodes / 6 VIPs, prefer', nodes: 3, vips: 6, prefer: { '198.51.100.206': 'www3', '198.51.100.201': 'www2' } },
    { name: '4 nodes / 7 VIPs, weights 2:1:1:1, prefer', nodes: 4, vips: 7, weights: [2, 1, 1, 1], prefer: { '198.51.100.202': 'www4' } },
    { name: '4 nodes / 12 VIPs, pairs', nodes: 4, vips: 12, pairs: true },
  ];
  const holdersOf = (c: Cluster) => new Map([...c.holders()].map(([v, hs]) => {
    expect(hs, `one holder of ${v}`).toHaveLength(1);
    return [v, hs[0]!] as [string, string];
  }));

  for (const s of SIMS) {
    it(`${s.name}: take each node out (SIGKILL) in turn, compare, bring it back`, async () => {
      const inp = input(s.nodes, s.vips, { weights: s.weights, prefer: s.prefer });
      const names = inp.nodes.map((n) => n.name);
      const weights = Object.fromEntries(inp.nodes.map((n) => [n.name, n.weight]));
      const c = new Cluster({ nodes: names, vips: vipList(s.vips), timing: TIMING, prefer: s.prefer, weights });
      for (const n of names) await c.start(n);
      await c.time.advance(SETTLE_MS);
      const sets = planCapacity(inp, { pairs: s.pairs }).failures.map((f) => f.failed);
      for (const failed of sets) {
        const before = holdersOf(c);
        const planned = planCapacity(inp, { pairs: s.pairs, current: before }).failures.find((f) => f.failed.join() === failed.join())!;
        for (const n of failed) c.crash(n);
        await c.time.advance(SETTLE_MS);
        expect(Object.fromEntries([...holdersOf(c)].sort()), `after ${failed} from ${JSON.stringify([...before])}`).toEqual(planned.holders);
        for (const n of failed) await c.start(n);
        await c.time.advance(SETTLE_MS);
      }
    }, 60_000);
  }
});
