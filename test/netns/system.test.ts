// The whole system (issue 4): three nodes with `roamdns agent` and a web server, `roamdns serve` in a
// fourth namespace probing the VIPs and asking the agents who holds them, a client namespace that
// queries DNS and fetches from every answered VIP in a loop. What the client saw is asserted.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Cluster, REPO, sleep, VIPS, waitFor } from './cluster.js';
import { BED_LOCK_WAIT_MS, type BedProcess } from './bed.js';

const CHECK = { intervalMs: 200, timeoutMs: 100, rise: 2, fall: 2 };
let c: Cluster;
let serve: BedProcess;
let client: BedProcess;

interface Line { t: number; kind: 'dns' | 'get'; vips?: string[]; rcode?: string; ttl?: number; vip?: string; ok?: boolean }
function lines(): Line[] {
  return client.output().split('\n').filter(Boolean).map((l) => {
    const [t, kind, a, b, d] = l.split(' ');
    return kind === 'dns' ? { t: Number(t), kind: 'dns', vips: a === '-' ? [] : a!.split(','), rcode: b, ttl: Number(d) } : { t: Number(t), kind: 'get', vip: a, ok: b === 'ok' };
  });
}
const lastAnswer = () => lines().filter((l) => l.kind === 'dns').pop()?.vips ?? [];

/** Longest stretch (ms) since `from` during which the client got `vip` in answers but could not fetch from it. */
function unservedButPublished(vip: string, from: number): number {
  let worst = 0, start: number | undefined;
  for (const l of lines().filter((x) => x.t >= from)) {
    const published = l.kind === 'dns' ? l.vips!.includes(vip) : undefined;
    const closes = (l.kind === 'get' && l.vip === vip && l.ok) || published === false;
    if (l.kind === 'get' && l.vip === vip && !l.ok) start ??= l.t;
    else if (closes && start !== undefined) { worst = Math.max(worst, l.t - start); start = undefined; }
  }
  return start !== undefined ? Math.max(worst, Date.now() - start) : worst;
}

const show = () => `answer ${lastAnswer()} holders ${JSON.stringify([...c.holders()])}\n--- serve\n${serve.output().split('\n').filter((l) => l.includes('vip state')).slice(-12).join('\n')}`;

beforeAll(async () => {
  c = new Cluster({
    extraHosts: [{ name: 'dns', address: '198.51.100.53' }],
    topYaml: [
      'dns: { listen: ["0.0.0.0:53"] }',
      'status: { listen: 127.0.0.1:8053 }',
      'pools:',
      '  www.example.com:',
      `    check: { http: { port: 80, path: /healthz }, interval: ${CHECK.intervalMs}ms, timeout: ${CHECK.timeoutMs}ms, rise: ${CHECK.rise}, fall: ${CHECK.fall} }`,
      '    when_all_down: all',
      '    degraded_ttl: 5',
    ].join('\n'),
  });
  c.startAll();
  await waitFor(() => c.singleHolders() && Object.values(c.counts()).every((n) => n === 1), 20_000, 'the cluster to converge');
  serve = c.bed.spawn('dns', [process.execPath, path.join(REPO, 'dist/cli/main.js'), 'serve', '--config', c.config]);
  client = c.bed.spawn('client', [process.execPath, path.join(REPO, 'test/netns/dns-client.mjs'), '198.51.100.53', 'www.example.com', '20', '600000']);
  await waitFor(() => lastAnswer().length === 3, 10_000, 'every VIP in the answer', show);
}, 40_000 + BED_LOCK_WAIT_MS);
afterAll(async () => { await c?.destroy(); });

describe.sequential('the whole system in network namespaces', () => {
  test('all VIPs served and published; the client reaches each', async () => {
    const t0 = Date.now();
    await sleep(1000);
    // A 50 ms fetch timeout can trip on a loaded machine; a served VIP never fails for long.
    for (const vip of VIPS) expect(unservedButPublished(vip, t0), vip).toBeLessThan(250);
    expect(lines().filter((l) => l.kind === 'dns' && l.t > t0).every((l) => l.vips!.length === 3 && l.ttl === 60)).toBe(true);
  });

  test('killing a node never leaves the client with an unserved VIP for longer than the failover gap', async () => {
    const vip = VIPS.find((v) => c.holders().get(v)![0] === 'www2')!;
    const t0 = Date.now();
    c.agents.get('www2')!.child.kill('SIGKILL');
    c.web.get('www2')!.child.kill('SIGKILL');
    c.bed.link('www2', false);
    await waitFor(() => c.holders().get(vip)!.some((n) => n !== 'www2'), 3000, 'a survivor to take the VIP', show);
    await sleep(2000);
    const worst = unservedButPublished(vip, t0);
    console.log(`node crash: ${vip} published but unserved for at most ${worst} ms`);
    expect(worst, show()).toBeLessThanOrEqual(1000);
    expect(lastAnswer()).toContain(vip);
  });

  test('stopping the web server on a node moves its VIP and the DNS never publishes it unserved for long', async () => {
    c.bed.link('www2', true);
    c.startWeb('www2');
    c.startAgent('www2');
    await waitFor(() => c.counts().www2 === 1 && c.singleHolders(), 15_000, 'www2 back in the cluster', show);
    await sleep(1000);
    const vip = VIPS.find((v) => c.holders().get(v)![0] === 'www1')!;
    const t0 = Date.now();
    await c.web.get('www1')!.stop();
    await waitFor(() => c.holders().get(vip)![0] !== 'www1', 10_000, 'the agent to move the VIP off the unhealthy node', show);
    await waitFor(() => lastAnswer().includes(vip) && unservedButPublished(vip, Date.now() - 500) === 0, 5000, 'the VIP back in the answers, served', show);
    const worst = unservedButPublished(vip, t0);
    const detectMs = CHECK.fall * CHECK.intervalMs + CHECK.intervalMs + CHECK.timeoutMs;
    const firstFail = lines().find((l) => l.t >= t0 && l.kind === 'get' && l.vip === vip && !l.ok)?.t;
    const downAt = serve.output().split('\n').filter((l) => l.includes(`"vip":"${vip}"`) && l.includes('"to":"down"')).map((l) => JSON.parse(l).time as number).find((t) => t >= t0);
    console.log(`service failure: ${vip} published but unserved for at most ${worst} ms (detection bound ${detectMs} ms); stop at +0, first client failure +${(firstFail ?? 0) - t0}, down in DNS at +${(downAt ?? 0) - t0}`);
    expect(worst, show()).toBeLessThanOrEqual(detectMs + 200);
  }, 30_000);

  test('stopping every agent: VIPs are orphans and when_all_down=all publishes all of them with degraded_ttl', async () => {
    await Promise.all([...c.agents.values()].map((a) => a.stop()));
    await waitFor(() => {
      const d = lines().filter((l) => l.kind === 'dns').pop();
      return d !== undefined && d.vips!.length === 3 && d.ttl === 5;
    }, 8000, 'the fail-open answer', show);
    // Once the agents' last reports have aged out (3 polls), no live node holds any VIP: orphans.
    await waitFor(() => (serve.output().match(/"to":"orphan"/g) ?? []).length >= 3, 8000, 'every VIP to be an orphan', show);
    const d = lines().filter((l) => l.kind === 'dns').pop()!;
    expect(d.vips!.length).toBe(3);
    expect(d.ttl).toBe(5);
  }, 20_000);
});
