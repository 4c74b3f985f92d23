// Ownership: the merge table (pure, table-driven) and the real fetch against a fake agent /status
// server on 127.0.0.1 (good, broken, slow, closed). Network rule: every request goes to 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  canonicalIp, fetchAgentStatus, fetchOwnership, mergeOwnership, OwnershipTracker, validateAgentStatus,
  type AgentReport, type AgentStatus,
} from '../../health/ownership.js';
import { ProbeDispatchers } from '../../health/probe.js';
import { closedPort, startHttp, type LocalServer } from './servers.js';

const A = '198.51.100.201';
const B = '198.51.100.202';
const C = '198.51.100.203';

const ok = (status: AgentStatus, url = `http://127.0.0.1/${status.node}`): AgentReport => ({ url, ok: true, status, latencyMs: 1, at: 0 });
const down = (url: string): AgentReport => ({ url, ok: false, reason: 'ECONNREFUSED', latencyMs: 1, at: 0 });
const agent = (node: string, holds: string[], members: AgentStatus['members'] = []): AgentStatus => ({ node, state: 'active', holds, members });
const m = (name: string, alive: boolean, holds: string[]) => ({ name, alive, holds });

describe('mergeOwnership (the table in ownership.ts)', () => {
  test.each([
    {
      name: 'every agent answers: own holds count',
      reports: [ok(agent('www1', [A], [m('www2', true, [B])])), ok(agent('www2', [B], [m('www1', true, [A])]))],
      holders: { [A]: ['www1'], [B]: ['www2'] },
      live: ['www1', 'www2'],
    },
    {
      name: 'a node\'s own report wins over a peer\'s stale view of it',
      reports: [ok(agent('www1', [A, B], [m('www2', true, [B])])), ok(agent('www2', [], [m('www1', true, [A])]))],
      holders: { [A]: ['www1'], [B]: ['www1'] },
      live: ['www1', 'www2'],
    },
    {
      name: 'an unreachable node counts as live when a peer says so, with the holds the peer saw',
      reports: [ok(agent('www1', [A], [m('www2', true, [B])])), down('http://127.0.0.1/www2')],
      holders: { [A]: ['www1'], [B]: ['www2'] },
      live: ['www1', 'www2'],
    },
    {
      name: 'an unreachable node that peers call dead holds nothing',
      reports: [ok(agent('www1', [A, B], [m('www2', false, [B])])), down('http://127.0.0.1/www2')],
      holders: { [A]: ['www1'], [B]: ['www1'] },
      live: ['www1'],
    },
    {
      name: 'two nodes claiming one VIP are both holders (conflict)',
      reports: [ok(agent('www1', [A, C])), ok(agent('www2', [B, C]))],
      holders: { [A]: ['www1'], [B]: ['www2'], [C]: ['www1', 'www2'] },
      live: ['www1', 'www2'],
    },
    {
      name: 'peers disagree on an unreachable node: one alive vote keeps it live',
      reports: [ok(agent('www1', [A], [m('www3', false, [C])])), ok(agent('www2', [B], [m('www3', true, [C])])), down('http://127.0.0.1/www3')],
      holders: { [A]: ['www1'], [B]: ['www2'], [C]: ['www3'] },
      live: ['www1', 'www2', 'www3'],
    },
    { name: 'no agent reachable: nobody holds anything', reports: [down('http://127.0.0.1/x')], holders: {}, live: [] },
    {
      name: 'IPv6 spellings are merged',
      reports: [ok(agent('www1', ['2001:DB8::1'])), ok(agent('www2', ['[2001:db8:0::1]']))],
      holders: { '2001:db8::1': ['www1', 'www2'] },
      live: ['www1', 'www2'],
    },
  ])('$name', ({ reports, holders, live }) => {
    const view = mergeOwnership(reports);
    expect(Object.fromEntries(view.holders)).toEqual(holders);
    expect(view.live).toEqual(live);
    expect(view.agents).toHaveLength(reports.length);
  });

  test('canonicalIp', () => {
    expect(canonicalIp('2001:0DB8:0000::0001')).toBe('2001:db8::1');
    expect(canonicalIp('[::1]')).toBe('::1');
    expect(canonicalIp('198.51.100.1')).toBe('198.51.100.1');
  });

  test('validateAgentStatus names what breaks the contract', () => {
    expect(validateAgentStatus({ node: 'www1', state: 'active', holds: [A] })).toEqual({ node: 'www1', state: 'active', holds: [A], members: [] });
    expect(validateAgentStatus([])).toBe('"node" must be a non-empty string');
    expect(validateAgentStatus({ node: 'www1', holds: 'x' })).toBe('"holds" must be a list of addresses');
    expect(validateAgentStatus({ node: 'www1', holds: [], members: [{ name: 'a' }] })).toBe('"members[0]" must be { name: string, alive: boolean, holds: string[] }');
  });
});

describe('OwnershipTracker', () => {
  test('a failed poll reuses the last good report until it is older than maxAge', () => {
    const t = new OwnershipTracker(3000);
    const url = 'http://127.0.0.1/www1';
    expect(t.update([ok(agent('www1', [A]), url)], 0).holders.get(A)).toEqual(['www1']);
    expect(t.update([down(url)], 3000).holders.get(A)).toEqual(['www1']);
    expect(t.update([down(url)], 3001).holders.get(A)).toBeUndefined();
  });
});

describe('fetchAgentStatus against a fake agent on 127.0.0.1', () => {
  let server: LocalServer;
  const dispatchers = new ProbeDispatchers();
  const slowTimers: NodeJS.Timeout[] = [];
  const bodies: Record<string, { code: number; body: string; delayMs?: number }> = {
    '/www1/status': { code: 200, body: JSON.stringify(agent('www1', [A], [m('www1', true, [A]), m('www2', true, [B])])) },
    '/www2/status': { code: 200, body: JSON.stringify(agent('www2', [B, C], [m('www1', true, [A]), m('www2', true, [B, C])])) },
    '/broken/status': { code: 500, body: 'oops' },
    '/text/status': { code: 200, body: 'hello' },
    '/wrong/status': { code: 200, body: JSON.stringify({ node: 'x', holds: 7 }) },
    '/slow/status': { code: 200, body: '{}', delayMs: 2000 },
  };
  const url = (p: string) => `http://127.0.0.1:${server.port}${p}`;

  beforeAll(async () => {
    server = await startHttp((req, res) => {
      const b = bodies[req.url ?? ''] ?? { code: 404, body: 'not found' };
      const send = () => {
        res.writeHead(b.code, { 'content-type': 'application/json' });
        res.end(b.body);
      };
      if (b.delayMs) slowTimers.push(setTimeout(send, b.delayMs));
      else send();
    });
  });
  afterAll(async () => {
    for (const t of slowTimers) clearTimeout(t);
    await Promise.allSettled([server?.close(), dispatchers.close()]);
  });

  test('a good agent reports its status', async () => {
    const r = await fetchAgentStatus(url('/www1/status'), { dispatchers });
    expect(r).toMatchObject({ ok: true, status: { node: 'www1', holds: [A] } });
  });

  test.each([
    ['/broken/status', /^HTTP 500$/],
    ['/text/status', /^status body is not JSON$/],
    ['/wrong/status', /^bad status: "holds" must be a list/],
    ['/missing/status', /^HTTP 404$/],
  ])('%s is data, not an exception', async (p, reason) => {
    const r = await fetchAgentStatus(url(p), { dispatchers });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  test('a slow agent times out', async () => {
    const started = performance.now();
    const r = await fetchAgentStatus(url('/slow/status'), { dispatchers, timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, reason: 'timeout after 200ms' });
    expect(performance.now() - started).toBeLessThan(1500);
  });

  test('a closed port is unreachable', async () => {
    const r = await fetchAgentStatus(`http://127.0.0.1:${await closedPort()}/status`, { dispatchers });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/ECONNREFUSED/);
  });

  test('fetchOwnership asks every agent; the merge sees holders and the conflict', async () => {
    const reports = await fetchOwnership([url('/www1/status'), url('/www2/status'), url('/broken/status')], { dispatchers });
    const view = mergeOwnership(reports);
    expect(Object.fromEntries(view.holders)).toEqual({ [A]: ['www1'], [B]: ['www2'], [C]: ['www2'] });
    expect(view.agents.map((a) => a.ok)).toEqual([true, true, false]);
  });
});
