// The whole health/ loop on real sockets and real timers: HealthChecker + real probes + a fake agent,
// all on 127.0.0.1, with short intervals. A target that fails (500), answers too slowly, or
// stops leaves the served set within fall x interval (+ one interval); it is back after rise.
// Waits are bounded polls; nothing sleeps longer than it must.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HealthChecker } from '../../health/checker.js';
import { fetchOwnership } from '../../health/ownership.js';
import { resolveCheck } from '../../health/options.js';
import { ProbeDispatchers, realProbe } from '../../health/probe.js';
import { VipStateStore, type VipStateChange } from '../../health/vip-state.js';
import { startHttp, type LocalServer } from './servers.js';
import { RecordingLogger } from './fakes.js';

const POOL = 'www.example.test';
const VIP = '127.0.0.1';
const INTERVAL = 200;
const TIMEOUT = 150;
const FALL = 3;
const RISE = 2;

/** Polls `cond` every 10 ms for at most `limitMs`; returns the time it took. */
async function within(limitMs: number, cond: () => boolean): Promise<number> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > limitMs) throw new Error(`condition not met within ${limitMs}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - started;
}

describe('HealthChecker live on 127.0.0.1', () => {
  let target: LocalServer;
  let agent: LocalServer;
  let mode: 'ok' | 'fail' | 'slow' = 'ok';
  const slow: NodeJS.Timeout[] = [];
  const dispatchers = new ProbeDispatchers();
  const log = new RecordingLogger();
  const store = new VipStateStore({ clustered: true, log });
  const changes: VipStateChange[] = [];
  store.subscribe((c) => changes.push(c));
  let checker: HealthChecker;

  beforeAll(async () => {
    target = await startHttp((_req, res) => {
      if (mode === 'slow') return void slow.push(setTimeout(() => res.end('late'), 1000));
      res.statusCode = mode === 'ok' ? 200 : 500;
      res.end(mode);
    });
    agent = await startHttp((_req, res) => res.end(JSON.stringify({ node: 'www1', state: 'active', holds: [VIP], members: [] })));
    // Warm up undici and the sockets once, so a cold start on a loaded machine is not a timeout.
    await realProbe(dispatchers)(POOL, VIP, { ...resolveCheck({ http: { port: target.port } }), timeoutMs: 2000 });
    await fetchOwnership([`http://127.0.0.1:${agent.port}/status`], { dispatchers, timeoutMs: 2000 });
    checker = new HealthChecker({
      store, log, probe: realProbe(dispatchers), ownershipIntervalMs: INTERVAL,
      fetchOwnership: () => fetchOwnership([`http://127.0.0.1:${agent.port}/status`], { dispatchers, timeoutMs: TIMEOUT }),
    });
    checker.start([{ name: POOL, vips: [VIP], check: { http: { port: target.port, path: '/' }, interval: INTERVAL, timeout: TIMEOUT, rise: RISE, fall: FALL, jitter: 20 } }]);
  });

  afterAll(async () => {
    for (const t of slow) clearTimeout(t);
    await checker?.stop();
    await Promise.allSettled([target?.close(), agent?.close(), dispatchers.close()]);
  });

  const served = () => store.snapshot().pools[POOL]?.served.includes(VIP) ?? false;
  // fall x interval, + one interval, + jitter and slack for a loaded CI machine.
  const detectLimit = FALL * INTERVAL + INTERVAL + 600;

  test('starts at once: served within one round', async () => {
    await within(INTERVAL + 1000, served);
    expect(store.get(POOL, VIP)).toMatchObject({ state: 'up', holders: ['www1'] });
  });

  test('a failing target leaves the answer within fall x interval (+1), comes back after rise', async () => {
    mode = 'fail';
    const took = await within(detectLimit, () => !served());
    expect(took).toBeGreaterThanOrEqual((FALL - 1) * INTERVAL - 20);
    expect(store.get(POOL, VIP)!.state).toBe('down');
    mode = 'ok';
    await within(RISE * INTERVAL + INTERVAL + 600, served);
  });

  test('a slow target (answers after the timeout) counts as down', async () => {
    mode = 'slow';
    await within(detectLimit + 200, () => !served());
    expect(store.get(POOL, VIP)!.reason).toMatch(/timeout after 150ms/);
    mode = 'ok';
    await within(RISE * INTERVAL + INTERVAL + 600, served);
  });

  test('each change was logged once, on its edge', () => {
    const edges = changes.map((c) => `${c.from}->${c.to}`);
    expect(edges).toEqual(['unknown->up', 'up->down', 'down->up', 'up->down', 'down->up']);
    expect(log.changes()).toHaveLength(edges.length);
    expect(checker.inFlight()).toBeLessThanOrEqual(2); // one probe + one ownership poll at most
  });
});
