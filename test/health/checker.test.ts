// The scheduler with fake time and fake probes: starts at once, one probe in flight per VIP,
// jitter bounds, updatePools keeps the others' state, ownership polling, stop.
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { HealthChecker, type ProbeFn } from '../../health/checker.js';
import type { AgentReport } from '../../health/ownership.js';
import type { PoolSpec, ResolvedCheck } from '../../health/options.js';
import type { ProbeResult } from '../../health/probe.js';
import { VipStateStore } from '../../health/vip-state.js';
import { deferred, FakeTime, RecordingLogger, type Deferred } from './fakes.js';

const POOL = 'www.example.com';
const A = '198.51.100.201';
const B = '198.51.100.202';
const C = '198.51.100.203';
const check = { interval: 1000, timeout: 500, jitter: 100, rise: 2, fall: 3 };
const pass: ProbeResult = { ok: true, latencyMs: 1 };
const fail: ProbeResult = { ok: false, latencyMs: 1, reason: 'status 500 not in 200-399' };

/** A fake probe: records every call; answers from `answer` (default pass) or hangs on a deferred. */
class FakeProbe {
  readonly calls: Array<{ vip: string; at: number; check: ResolvedCheck }> = [];
  readonly hanging = new Map<string, Deferred<ProbeResult>>();
  answer: (vip: string) => ProbeResult | 'hang' = () => pass;
  constructor(private readonly clock: FakeTime) {}

  readonly fn: ProbeFn = (_pool, vip, resolved) => {
    this.calls.push({ vip, at: this.clock.now(), check: resolved });
    const a = this.answer(vip);
    if (a !== 'hang') return Promise.resolve(a);
    const d = deferred<ProbeResult>();
    this.hanging.set(vip, d);
    return d.promise;
  };

  count(vip: string): number {
    return this.calls.filter((c) => c.vip === vip).length;
  }
}

function setup(opts: { clustered?: boolean; random?: () => number; fetchOwnership?: () => Promise<AgentReport[]> } = {}) {
  const clock = new FakeTime();
  const log = new RecordingLogger();
  const store = new VipStateStore({ clustered: opts.clustered ?? false, clock, log });
  const probe = new FakeProbe(clock);
  const checker = new HealthChecker({
    store, probe: probe.fn, clock, timers: clock, log, random: opts.random ?? (() => 0),
    ...(opts.fetchOwnership ? { fetchOwnership: opts.fetchOwnership } : {}),
  });
  return { clock, log, store, probe, checker };
}

const pools = (vips: string[], c: PoolSpec['check'] = check): PoolSpec[] => [{ name: POOL, vips, check: c }];

describe('HealthChecker', () => {
  test('probes every VIP at once on start, then every interval', async () => {
    const { clock, store, probe, checker } = setup();
    checker.start(pools([A, B]));
    expect(probe.calls.map((c) => [c.vip, c.at - clock.now()])).toEqual([[A, 0], [B, 0]]);
    await clock.advance(0);
    expect(store.get(POOL, A)!.state).toBe('up');
    await clock.advance(3000);
    expect(probe.count(A)).toBe(4); // t = 0, 1000, 2000, 3000
    expect(probe.calls[0]!.check).toMatchObject({ kind: 'http', intervalMs: 1000, timeoutMs: 500, jitterMs: 100, rise: 2, fall: 3 });
    await checker.stop();
  });

  test('never more than one probe in flight per VIP; a stuck probe is reported failed, not piled on', async () => {
    const { clock, store, probe, checker, log } = setup();
    probe.answer = () => pass;
    checker.start(pools([A]));
    await clock.advance(0);
    expect(store.get(POOL, A)!.state).toBe('up');
    probe.answer = () => 'hang';
    await clock.advance(1000); // second probe starts and hangs
    expect(probe.count(A)).toBe(2);
    await clock.advance(10_000);
    expect(probe.count(A)).toBe(2);
    expect(checker.inFlight()).toBe(1);
    // Watchdog: a failure at start + timeout + 1s (t=2500), then every interval (to t=10500): 9.
    expect(store.get(POOL, A)).toMatchObject({ state: 'down', reason: 'probe failed 9x: probe did not settle' });
    expect(log.calls.some((c) => c.msg === 'probe did not settle')).toBe(true);
    probe.answer = () => pass;
    probe.hanging.get(A)!.resolve(pass); // late result: ignored, the loop goes on
    await clock.advance(0);
    expect(checker.inFlight()).toBe(0);
    await clock.advance(0);
    expect(probe.count(A)).toBe(3); // overdue, so the next probe starts at once
    await checker.stop();
  });

  test('a probe slower than the interval is followed at once, never overlapped', async () => {
    const { clock, probe, checker } = setup();
    probe.answer = () => 'hang';
    checker.start(pools([A], { ...check, timeout: 5000 }));
    await clock.advance(1500);
    expect(probe.count(A)).toBe(1);
    probe.answer = () => pass;
    probe.hanging.get(A)!.resolve(pass);
    await clock.advance(0);
    expect(probe.count(A)).toBe(2);
    expect(probe.calls[1]!.at).toBe(probe.calls[0]!.at + 1500);
    await checker.stop();
  });

  test('jitter: the next probe is due within [interval, interval + jitter]', async () => {
    for (const r of [0, 0.5, 0.999]) {
      const { clock, checker } = setup({ random: () => r });
      checker.start(pools([A]));
      await clock.advance(0);
      const due = clock.dueIn();
      expect(due).toHaveLength(1);
      expect(due[0]).toBeCloseTo(1000 + r * 100, 3);
      await checker.stop();
    }
  });

  test('property: gaps between probe starts stay within [interval, interval + jitter]', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 0.9999, noNaN: true }), { minLength: 5, maxLength: 20 }), async (randoms) => {
        let i = 0;
        const { clock, probe, checker } = setup({ random: () => randoms[i++ % randoms.length]! });
        checker.start(pools([A]));
        await clock.advance(randoms.length * 1100);
        const starts = probe.calls.map((c) => c.at);
        for (let k = 1; k < starts.length; k++) {
          const gap = starts[k]! - starts[k - 1]!;
          expect(gap).toBeGreaterThanOrEqual(1000);
          expect(gap).toBeLessThanOrEqual(1100);
        }
        await checker.stop();
      }),
      { numRuns: 20 },
    );
  });

  test('updatePools adds and removes VIPs without resetting the others', async () => {
    const { clock, store, probe, checker } = setup();
    probe.answer = (vip) => (vip === B ? fail : pass);
    checker.start(pools([A, B]));
    await clock.advance(2500);
    const aSince = store.get(POOL, A)!.since;
    const before = probe.count(A);
    checker.updatePools(pools([A, C]));
    expect(probe.count(C)).toBe(1); // new VIP probed at once
    expect(probe.count(A)).toBe(before); // A keeps its own rhythm
    await clock.advance(0);
    expect(store.get(POOL, A)).toMatchObject({ state: 'up', since: aSince });
    expect(store.get(POOL, C)!.state).toBe('up');
    expect(store.get(POOL, B)).toBeUndefined();
    const bCalls = probe.count(B);
    await clock.advance(5000);
    expect(probe.count(B)).toBe(bCalls);
    expect(probe.count(A)).toBeGreaterThan(before);
    await checker.stop();
  });

  test('updatePools before start only registers; start then probes every VIP at once', async () => {
    const { clock, probe, checker } = setup();
    checker.updatePools(pools([A]));
    await clock.advance(5000);
    expect(probe.calls).toHaveLength(0);
    checker.start(pools([A, B]));
    expect(probe.calls.map((c) => c.vip)).toEqual([A, B]);
    await checker.stop();
  });

  test('a clustered store without an ownership source is a wiring error', () => {
    const store = new VipStateStore({ clustered: true });
    expect(() => new HealthChecker({ store })).toThrow(/fetchOwnership/);
  });

  test('a changed check applies from the next probe', async () => {
    const { clock, probe, checker } = setup();
    checker.start(pools([A]));
    await clock.advance(0);
    checker.updatePools(pools([A], { ...check, interval: 200, jitter: 0 }));
    await clock.advance(1000); // the pending timer (old interval) fires, then the new interval
    await clock.advance(600);
    const starts = probe.calls.map((c) => c.at - probe.calls[0]!.at);
    expect(starts).toEqual([0, 1000, 1200, 1400, 1600]);
  });

  test('a probe that throws counts as a failure', async () => {
    const { clock, store, checker } = setup();
    const thrower = new HealthChecker({ store, clock, timers: clock, random: () => 0, probe: () => Promise.reject(new Error('bug')) });
    void checker;
    thrower.start(pools([A]));
    await clock.advance(0);
    expect(store.get(POOL, A)).toMatchObject({ state: 'down', reason: 'probe failed 1x: probe threw: bug' });
    await thrower.stop();
  });

  test('stop: clears every timer, waits for the probe in flight, probes no more', async () => {
    const { clock, probe, checker } = setup();
    checker.start(pools([A, B]));
    await clock.advance(1000);
    probe.answer = () => 'hang';
    await clock.advance(1000);
    let stopped = false;
    const stopping = checker.stop().then(() => (stopped = true));
    await clock.advance(0);
    expect(stopped).toBe(false);
    probe.hanging.get(A)!.resolve(pass);
    probe.hanging.get(B)!.resolve(pass);
    await stopping;
    const n = probe.calls.length;
    await clock.advance(10_000);
    expect(probe.calls.length).toBe(n);
    expect(clock.dueIn()).toEqual([]);
    checker.updatePools(pools([C])); // after stop: ignored
    expect(probe.count(C)).toBe(0);
  });

  test('stop does not wait forever for a probe that never settles', async () => {
    const { clock, probe, checker } = setup();
    probe.answer = () => 'hang';
    checker.start(pools([A]));
    const stopping = checker.stop();
    await clock.advance(1500); // timeout 500 + grace 1000
    await stopping;
  });
});

describe('HealthChecker ownership polling', () => {
  const report = (holds: string[], ok = true): AgentReport =>
    ok
      ? { url: 'http://127.0.0.1:1/status', ok: true, latencyMs: 1, at: 0, status: { node: 'www1', state: 'active', holds, members: [] } }
      : { url: 'http://127.0.0.1:1/status', ok: false, reason: 'ECONNREFUSED', latencyMs: 1, at: 0 };

  test('polls at start and every interval, one fetch in flight, and feeds the store', async () => {
    let calls = 0;
    let next: Deferred<AgentReport[]> | undefined;
    const fetchOwnership = () => {
      calls++;
      next = deferred<AgentReport[]>();
      return next.promise;
    };
    const { clock, store, checker } = setup({ clustered: true, fetchOwnership });
    checker.start(pools([A, B]));
    expect(calls).toBe(1);
    await clock.advance(0);
    expect(store.get(POOL, A)!.state).toBe('unknown'); // probe passed, waiting for the agents
    await clock.advance(5000);
    expect(calls).toBe(1); // still in flight: no pile-up
    next!.resolve([report([A])]);
    await clock.advance(0);
    expect(store.get(POOL, A)).toMatchObject({ state: 'up', holders: ['www1'] });
    expect(store.get(POOL, B)!.state).toBe('orphan');
    expect(calls).toBe(2); // overdue: next poll at once
    next!.resolve([report([A, B])]);
    await clock.advance(1000);
    expect(calls).toBe(3);
    expect(store.get(POOL, B)!.state).toBe('up');
    next!.resolve([report([], false)]); // one lost poll: the last good report stands in
    await clock.advance(0);
    expect(store.get(POOL, B)!.state).toBe('up');
    await checker.stop();
  });

  test('an agent unreachable for longer than the max age orphans its VIPs', async () => {
    let ok = true;
    const { clock, store, checker } = setup({ clustered: true, fetchOwnership: async () => [report([A], ok)] });
    checker.start(pools([A]));
    await clock.advance(1000);
    expect(store.get(POOL, A)!.state).toBe('up');
    ok = false;
    await clock.advance(3000);
    expect(store.get(POOL, A)!.state).toBe('up');
    await clock.advance(1000);
    expect(store.get(POOL, A)).toMatchObject({ state: 'orphan', reason: 'no agent reachable' });
    await checker.stop();
  });
});
