// `roamdns check`'s core: checkOnce with fake probes and ownership (every state, lines, exit code),
// then once for real against an HTTP target and a fake agent on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkExitCode, checkOnce, formatCheckLines, type CheckResult } from '../../health/checker.js';
import { fetchOwnership, type AgentReport } from '../../health/ownership.js';
import type { PoolSpec } from '../../health/options.js';
import { ProbeDispatchers, realProbe, type ProbeResult } from '../../health/probe.js';
import { closedPort, startHttp, type LocalServer } from './servers.js';

const POOL = 'www.example.com';
const V = ['198.51.100.201', '198.51.100.202', '198.51.100.203', '198.51.100.204'];
const report = (node: string, holds: string[]): AgentReport => ({
  url: `http://127.0.0.1/${node}`, ok: true, latencyMs: 1, at: 0, status: { node, state: 'active', holds, members: [] },
});

describe('checkOnce with fakes', () => {
  const pools: PoolSpec[] = [{ name: POOL, vips: V }];
  const results: Record<string, ProbeResult> = {
    [V[0]!]: { ok: true, latencyMs: 12, status: 200 },
    [V[1]!]: { ok: false, latencyMs: 500, reason: 'timeout after 500ms' },
    [V[2]!]: { ok: true, latencyMs: 3, status: 200 },
    [V[3]!]: { ok: true, latencyMs: 4, status: 200 },
  };
  const probe = async (_pool: string, vip: string) => results[vip]!;

  test('with ownership: up, down, conflict, orphan; one line each; exit 1', async () => {
    const fetch = async () => [report('www1', [V[0]!, V[2]!]), report('www2', [V[1]!, V[2]!])];
    const out = await checkOnce(pools, { probe, fetchOwnership: fetch });
    expect(out.map((r) => r.state)).toEqual(['up', 'down', 'conflict', 'orphan']);
    expect(formatCheckLines(out)).toEqual([
      `${POOL} ${V[0]} up holder=www1 12ms`,
      `${POOL} ${V[1]} down holder=www2 500ms reason="probe failed 1x: timeout after 500ms"`,
      `${POOL} ${V[2]} conflict holder=www1,www2 3ms reason="held by www1 and www2"`,
      `${POOL} ${V[3]} orphan holder=- 4ms reason="no live node holds it"`,
    ]);
    expect(checkExitCode(out)).toBe(1);
  });

  test('without a cluster the probe alone decides; all served -> exit 0', async () => {
    const out = await checkOnce([{ name: POOL, vips: [V[0]!, V[2]!] }], { probe });
    expect(formatCheckLines(out)).toEqual([`${POOL} ${V[0]} up 12ms`, `${POOL} ${V[2]} up 3ms`]);
    expect(checkExitCode(out)).toBe(0);
  });

  test('conflict is served (exit 0), orphan/down/unknown are not', () => {
    const r = (state: CheckResult['state'], served: boolean): CheckResult => ({ pool: POOL, vip: V[0]!, state, served, holders: null, reason: '' });
    expect(checkExitCode([r('up', true), r('conflict', true)])).toBe(0);
    for (const s of ['down', 'orphan', 'unknown'] as const) expect(checkExitCode([r('up', true), r(s, false)])).toBe(1);
  });

  test('probes run with bounded concurrency, every VIP once', async () => {
    let running = 0;
    let peak = 0;
    const vips = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
    const slowProbe = async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setImmediate(r));
      running--;
      return { ok: true, latencyMs: 1 };
    };
    const out = await checkOnce([{ name: POOL, vips }], { probe: slowProbe, concurrency: 4 });
    expect(out).toHaveLength(20);
    expect(peak).toBe(4);
  });
});

describe('checkOnce for real, on 127.0.0.1', () => {
  let target: LocalServer;
  let agent: LocalServer;
  let healthy = true;
  const dispatchers = new ProbeDispatchers();

  beforeAll(async () => {
    target = await startHttp((_req, res) => {
      res.statusCode = healthy ? 200 : 503;
      res.end(healthy ? 'ok' : 'maintenance');
    });
    agent = await startHttp((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ node: 'www1', state: 'active', holds: ['127.0.0.1'], members: [{ name: 'www1', alive: true, holds: ['127.0.0.1'] }] }));
    });
  });
  afterAll(async () => {
    await Promise.allSettled([target?.close(), agent?.close(), dispatchers.close()]);
  });

  const pools = (): PoolSpec[] => [{ name: 'www.example.test', vips: ['127.0.0.1'], check: { http: { port: target.port, path: '/healthz' }, timeout: 1000 } }];

  test('served VIP: up, holder from the agent, exit 0; then 503: down, exit 1', async () => {
    const opts = { probe: realProbe(dispatchers), fetchOwnership: () => fetchOwnership([`http://127.0.0.1:${agent.port}/status`], { dispatchers }) };
    const up = await checkOnce(pools(), opts);
    expect(up[0]).toMatchObject({ state: 'up', served: true, holders: ['www1'], status: 200 });
    expect(formatCheckLines(up)[0]).toMatch(/^www\.example\.test 127\.0\.0\.1 up holder=www1 \d+ms$/);
    expect(checkExitCode(up)).toBe(0);
    healthy = false;
    const down = await checkOnce(pools(), opts);
    expect(down[0]).toMatchObject({ state: 'down', served: false, status: 503, reason: 'probe failed 1x: status 503 not in 200-399' });
    expect(checkExitCode(down)).toBe(1);
    healthy = true;
  });

  test('agents unreachable: orphan, exit 1', async () => {
    const port = await closedPort();
    const out = await checkOnce(pools(), { probe: realProbe(dispatchers), fetchOwnership: () => fetchOwnership([`http://127.0.0.1:${port}/status`], { dispatchers }) });
    expect(out[0]).toMatchObject({ state: 'orphan', reason: 'no agent reachable', holders: [] });
    expect(checkExitCode(out)).toBe(1);
  });
});
