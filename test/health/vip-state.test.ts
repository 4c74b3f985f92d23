// The VIP state store: every state of the table in vip-state.ts, edge-only logging and counting,
// conflict/orphan from fake ownership, snapshots that are immutable and cached.
import { beforeEach, describe, expect, test } from 'vitest';
import { HealthMetricsRegistry } from '../../health/metrics.js';
import { mergeOwnership, type AgentReport, type OwnershipView } from '../../health/ownership.js';
import type { PoolSpec } from '../../health/options.js';
import { VipStateStore, type VipStateChange } from '../../health/vip-state.js';
import { FakeTime, RecordingLogger } from './fakes.js';

const POOL = 'www.example.com';
const A = '198.51.100.201';
const B = '198.51.100.202';
const pools: PoolSpec[] = [{ name: POOL, vips: [A, B], check: { rise: 2, fall: 3 } }];
const pass = { ok: true, latencyMs: 3, status: 200 };
const fail = { ok: false, latencyMs: 500, reason: 'timeout after 500ms' };

/** Ownership as if every listed node's agent answered with these holds. */
function owners(holds: Record<string, string[]>, at = 0): OwnershipView {
  const reports: AgentReport[] = Object.entries(holds).map(([node, h]) => ({
    url: `http://127.0.0.1/${node}`, ok: true, latencyMs: 1, at, status: { node, state: 'active', holds: h, members: [] },
  }));
  return mergeOwnership(reports);
}

const noAgents = mergeOwnership([{ url: 'http://127.0.0.1:1/status', ok: false, reason: 'ECONNREFUSED', latencyMs: 0, at: 0 }]);

describe('VipStateStore without a cluster (the probe alone decides)', () => {
  let clock: FakeTime;
  let log: RecordingLogger;
  let metrics: HealthMetricsRegistry;
  let store: VipStateStore;
  beforeEach(() => {
    clock = new FakeTime();
    log = new RecordingLogger();
    metrics = new HealthMetricsRegistry();
    store = new VipStateStore({ clustered: false, clock, log, metrics });
    store.setPools(pools);
  });

  test('unknown before the first result, not served', () => {
    expect(store.get(POOL, A)).toMatchObject({ state: 'unknown', served: false, probe: 'unknown', holders: [] });
    expect(store.isServed(A)).toBe(false);
    expect(store.snapshot().pools[POOL]!.served).toEqual([]);
  });

  test('first pass -> up, first failure -> down, at once', () => {
    store.recordProbe(POOL, A, pass);
    store.recordProbe(POOL, B, fail);
    expect(store.get(POOL, A)!.state).toBe('up');
    expect(store.get(POOL, B)).toMatchObject({ state: 'down', served: false, reason: 'probe failed 1x: timeout after 500ms' });
    expect(store.snapshot().pools[POOL]!.served).toEqual([A]);
  });

  test('up -> down only after fall failures; down -> up only after rise passes; since moves on edges', async () => {
    store.recordProbe(POOL, A, pass);
    const upSince = store.get(POOL, A)!.since;
    for (let i = 0; i < 2; i++) {
      await clock.advance(1000);
      store.recordProbe(POOL, A, fail);
      expect(store.get(POOL, A)!.state).toBe('up');
    }
    expect(store.get(POOL, A)!.since).toBe(upSince);
    await clock.advance(1000);
    store.recordProbe(POOL, A, fail);
    expect(store.get(POOL, A)).toMatchObject({ state: 'down', since: upSince + 3000 });
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)).toMatchObject({ state: 'down', reason: 'rising: 1/2 passes' });
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)!.state).toBe('up');
  });

  test('changes are logged and counted once, on the edge', () => {
    const seen: VipStateChange[] = [];
    store.subscribe((c) => seen.push(c));
    for (let i = 0; i < 5; i++) store.recordProbe(POOL, A, pass);
    for (let i = 0; i < 6; i++) store.recordProbe(POOL, A, fail);
    expect(seen.map((c) => `${c.from}->${c.to}`)).toEqual(['unknown->up', 'up->down']);
    expect(log.changes().map((c) => [c.level, c.obj.from, c.obj.to])).toEqual([['info', 'unknown', 'up'], ['warn', 'up', 'down']]);
    expect(log.changes()[1]!.obj).toMatchObject({ pool: POOL, vip: A, reason: 'probe failed 3x: timeout after 500ms' });
    const text = metrics.render();
    expect(text).toContain(`roamdns_vip_state_changes_total{from="up",pool="${POOL}",to="down",vip="${A}"} 1`);
    expect(text).toContain(`roamdns_vip_state{pool="${POOL}",state="down",vip="${A}"} 1`);
    expect(text).toContain(`roamdns_vip_state{pool="${POOL}",state="up",vip="${A}"} 0`);
    expect(text).toContain(`roamdns_probe_latency_seconds_count{pool="${POOL}",result="fail"} 6`);
  });

  test('ownership is ignored without a cluster', () => {
    store.recordOwnership(owners({}));
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)!.state).toBe('up');
    expect(store.snapshot().ownership).toBeUndefined();
  });

  test('a listener that throws is logged and does not stop the others', () => {
    const seen: string[] = [];
    store.subscribe(() => {
      throw new Error('boom');
    });
    const off = store.subscribe((c) => seen.push(c.to));
    store.recordProbe(POOL, A, pass);
    off();
    store.recordProbe(POOL, B, pass);
    expect(seen).toEqual(['up']);
    expect(log.calls.filter((c) => c.msg === 'vip state listener threw')).toHaveLength(2);
  });
});

describe('VipStateStore with a cluster', () => {
  let log: RecordingLogger;
  let store: VipStateStore;
  beforeEach(() => {
    log = new RecordingLogger();
    store = new VipStateStore({ clustered: true, clock: new FakeTime(), log });
    store.setPools(pools);
  });

  test('probe passes but ownership not fetched yet -> unknown', () => {
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)).toMatchObject({ state: 'unknown', reason: 'waiting for the agents' });
  });

  test('one live holder -> up, with the holder', () => {
    store.recordOwnership(owners({ www1: [A], www2: [B] }));
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)).toMatchObject({ state: 'up', served: true, holders: ['www1'], reason: 'probe passes, held by www1' });
  });

  test('two holders -> conflict, still served, loudly logged', () => {
    store.recordProbe(POOL, A, pass);
    store.recordOwnership(owners({ www1: [A], www2: [A, B] }));
    expect(store.get(POOL, A)).toMatchObject({ state: 'conflict', served: true, holders: ['www1', 'www2'] });
    expect(store.isServed(A)).toBe(true);
    expect(log.changes().at(-1)).toMatchObject({ level: 'warn', obj: { from: 'unknown', to: 'conflict', reason: 'held by www1 and www2' } });
    store.recordOwnership(owners({ www1: [A], www2: [B] }));
    expect(store.get(POOL, A)!.state).toBe('up');
  });

  test('no live holder -> orphan whatever the probe says, not served', () => {
    store.recordProbe(POOL, A, pass);
    store.recordOwnership(owners({ www1: [B] }));
    expect(store.get(POOL, A)).toMatchObject({ state: 'orphan', served: false, reason: 'no live node holds it' });
    store.recordProbe(POOL, A, pass);
    expect(store.get(POOL, A)!.state).toBe('orphan');
    // B is held but not probed yet: unknown. Once nobody holds it, it is an orphan, probe or not.
    expect(store.get(POOL, B)!.state).toBe('unknown');
    store.recordOwnership(owners({ www1: [] }));
    expect(store.get(POOL, B)!.state).toBe('orphan');
  });

  test('no agent reachable -> every VIP orphan', () => {
    store.recordProbe(POOL, A, pass);
    store.recordProbe(POOL, B, pass);
    store.recordOwnership(noAgents);
    expect(store.snapshot().pools[POOL]!.vips.map((v) => [v.state, v.reason])).toEqual([
      ['orphan', 'no agent reachable'],
      ['orphan', 'no agent reachable'],
    ]);
  });

  test('probe down wins over holders; orphan wins over down', () => {
    store.recordOwnership(owners({ www1: [A] }));
    store.recordProbe(POOL, A, fail);
    expect(store.get(POOL, A)!.state).toBe('down');
    store.recordOwnership(owners({}));
    expect(store.get(POOL, A)!.state).toBe('orphan');
  });

  test('IPv6 VIPs match whatever their spelling', () => {
    store.setPools([{ name: POOL, vips: ['2001:db8::201'] }]);
    store.recordOwnership(owners({ www1: ['2001:DB8:0:0::201'] }));
    store.recordProbe(POOL, '2001:db8::201', pass);
    expect(store.get(POOL, '2001:db8::201')).toMatchObject({ state: 'up', holders: ['www1'] });
  });

  test('ownership changes emit one change per VIP after all are updated', () => {
    store.recordProbe(POOL, A, pass);
    store.recordProbe(POOL, B, pass);
    const seen: string[] = [];
    store.subscribe((c) => {
      // Listeners see the finished state of every VIP, not a half-applied view.
      const snap = store.snapshot();
      seen.push(`${c.vip}:${c.to}:${snap.pools[POOL]!.served.length}`);
    });
    store.recordOwnership(owners({ www1: [A], www2: [B] }));
    expect(seen).toEqual([`${A}:up:2`, `${B}:up:2`]);
  });
});

describe('pools, snapshots', () => {
  test('setPools adds and removes VIPs and keeps the others as they are', () => {
    const clock = new FakeTime();
    const metrics = new HealthMetricsRegistry();
    const store = new VipStateStore({ clustered: false, clock, metrics });
    store.setPools(pools);
    store.recordProbe(POOL, A, pass);
    store.recordProbe(POOL, B, fail);
    const since = store.get(POOL, A)!.since;
    const C = '198.51.100.203';
    store.setPools([{ name: POOL, vips: [A, C] }]);
    expect(store.get(POOL, A)).toMatchObject({ state: 'up', since });
    expect(store.get(POOL, B)).toBeUndefined();
    expect(store.get(POOL, C)!.state).toBe('unknown');
    // The state gauge of a removed VIP goes away (its change counter stays, as counters do).
    expect(metrics.render()).not.toMatch(new RegExp(`roamdns_vip_state\\{[^}]*vip="${B}"`));
    expect(metrics.render()).toMatch(new RegExp(`roamdns_vip_state\\{[^}]*vip="${A}"`));
    store.recordProbe(POOL, B, pass); // a late result for a removed VIP is dropped
    expect(store.get(POOL, B)).toBeUndefined();
  });

  test('snapshot is deeply frozen, cached until a change, and detached from later changes', () => {
    const store = new VipStateStore({ clustered: false, clock: new FakeTime() });
    store.setPools(pools);
    store.recordProbe(POOL, A, pass);
    const s1 = store.snapshot();
    expect(store.snapshot()).toBe(s1);
    expect(Object.isFrozen(s1.pools[POOL]!.vips[0])).toBe(true);
    expect(Object.isFrozen(s1.pools[POOL]!.served)).toBe(true);
    expect(() => (s1.pools[POOL]!.served as string[]).push('x')).toThrow();
    store.recordProbe(POOL, A, fail);
    const s2 = store.snapshot();
    expect(s2).not.toBe(s1);
    expect(s2.version).toBeGreaterThan(s1.version);
    expect(s1.pools[POOL]!.vips[0]!.lastProbe!.ok).toBe(true);
    expect(s2.pools[POOL]!.vips[0]!.lastProbe).toMatchObject({ ok: false, reason: 'timeout after 500ms' });
    expect(s2.recentChanges.map((c) => c.to)).toEqual(['up']);
  });

  test('recent changes are bounded', () => {
    const store = new VipStateStore({ clustered: false, clock: new FakeTime(), recentChanges: 3 });
    store.setPools([{ name: POOL, vips: [A], check: { rise: 1, fall: 1 } }]);
    for (let i = 0; i < 10; i++) store.recordProbe(POOL, A, i % 2 ? fail : pass);
    expect(store.snapshot().recentChanges.map((c) => c.to)).toEqual(['down', 'up', 'down']);
  });

  test('isServed with a pool, and a VIP listed by two pools', () => {
    const store = new VipStateStore({ clustered: false, clock: new FakeTime() });
    store.setPools([{ name: 'a.example', vips: [A] }, { name: 'b.example', vips: [A] }]);
    store.recordProbe('a.example', A, pass);
    expect(store.isServed(A, 'a.example')).toBe(true);
    expect(store.isServed(A, 'b.example')).toBe(false);
    expect(store.isServed(A)).toBe(false);
    store.recordProbe('b.example', A, pass);
    expect(store.isServed(A)).toBe(true);
    expect(store.isServed('192.0.2.1')).toBe(false);
  });
});
