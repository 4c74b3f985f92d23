// `roamdns plan` end to end: the real CLI on fixture configs written to a temporary folder (zones
// with 198.51.100.x VIPs, which nothing here ever contacts), its table, --json, --pairs,
// --max-share, exit codes, config and zone errors; --live against fake agents on 127.0.0.1; and the
// status page's what-if view rendered from a live status document.
// Network rule: the only sockets here are the fake agents on 127.0.0.1.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assign } from '../../failover/assignment.js';
import type { CapacityPlan } from '../../failover/capacity.js';
import { loadConfig } from '../../cli/config.js';
import { clusterPlanView } from '../../cli/plan.js';
import { renderStatusPage, whatIfPlan, type StatusDocument, type VipView } from '../../cli/status-page.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { ZoneStore } from '../../server/zone-store.js';
import { makeTempDir, REPO_ROOT } from '../helpers/roamdns.js';

const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');
let dir: string;

interface Run { code: number | null; stdout: string; stderr: string }
function run(args: string[], cwd = dir): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

interface Fixture {
  nodes: number; vips?: number; names?: Record<string, string[]>; weights?: number[]; prefer?: Record<string, string>;
  statusUrls?: string[]; cluster?: string[]; zone?: string[]; noCluster?: boolean;
}
const vipList = (n: number, from = 201) => Array.from({ length: n }, (_, i) => `198.51.100.${from + i}`);

/** Writes test/<name>/roamdns.yaml and its zone into the temp folder; returns the config path. */
async function fixture(name: string, f: Fixture): Promise<string> {
  const d = path.join(dir, name);
  await mkdir(d, { recursive: true });
  const names = f.names ?? { www: vipList(f.vips ?? 0) };
  const records = Object.entries(names).flatMap(([n, vs]) => vs.map((v) => `${n} ${v.includes(':') ? 'AAAA' : 'A'} ${v}`));
  await writeFile(path.join(d, 'example.com.zone'), ['$ORIGIN example.com.', '$TTL 60', '@ SOA ns1 hostmaster 1 3600 600 86400 60', '@ NS ns1', 'ns1 A 198.51.100.53', ...records, ...(f.zone ?? []), ''].join('\n'));
  const nodes = Array.from({ length: f.nodes }, (_, i) =>
    `    www${i + 1}: { address: 198.51.100.${2 + i}${f.weights?.[i] ? `, weight: ${f.weights[i]}` : ''}${f.statusUrls?.[i] ? `, status_url: "${f.statusUrls[i]}"` : ''} }`);
  const cluster = f.noCluster ? [] : [
    'cluster:', '  nodes:', ...nodes, '  secret_file: cluster.key',
    `  vips_from: [${Object.keys(names).map((n) => `${n}.example.com`).join(', ')}]`,
    ...(f.prefer ? ['  prefer:', ...Object.entries(f.prefer).map(([v, n]) => `    ${v}: ${n}`)] : []), ...(f.cluster ?? []),
  ];
  await writeFile(path.join(d, 'roamdns.yaml'), ['zones: [example.com.zone]', ...cluster, ''].join('\n'));
  return path.join(d, 'roamdns.yaml');
}

async function planJson(config: string, ...args: string[]): Promise<CapacityPlan & { source: string; code: number | null }> {
  const r = await run(['plan', '--config', config, '--json', ...args]);
  expect(r.stderr).toBe('');
  return { ...(JSON.parse(r.stdout) as CapacityPlan & { source: string }), code: r.code };
}

beforeAll(async () => {
  await stat(CLI).catch(() => { throw new Error(`${CLI} not found: build first (npx tsc -p tsconfig.json)`); });
  dir = await makeTempDir('roamdns-plan');
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('roamdns plan: the table and exit status', () => {
  test('3 nodes / 3 VIPs: every failure shown, 2 + 1 after a failure is noted, 6 VIPs suggested, exit 0', async () => {
    const r = await run(['plan', '--config', await fixture('n3v3', { nodes: 3, vips: 3 })]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^roamdns plan: 3 nodes \(www1, www2, www3\), 3 VIPs in www\.example\.com$/m);
    expect(r.stdout).toMatch(/^Every node up$/m);
    for (const n of ['www1', 'www2', 'www3']) expect(r.stdout).toMatch(new RegExp(`^${n} down: 1 VIP moves\\n {2}198\\.51\\.100\\.20\\d {2}${n} → www\\d$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}www\d {2}2 {5}66\.7% {2}2\.0 {7}66\.7%$/m);
    expect(r.stdout).toContain('after any one failure, its 3 VIPs cannot spread evenly over the survivors (the busiest carries 66.7%)');
    expect(r.stdout).toContain('6 VIPs instead of 3: a multiple of 6 = lcm(3, 2) balances with every node up and after any one failure');
    expect(r.stdout).toMatch(/^Nothing flagged\.$/m);
  });

  test('2 nodes / 3 VIPs: flagged unbalanced, exit 1', async () => {
    const r = await run(['plan', '--config', await fixture('n2v3', { nodes: 2, vips: 3 })]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^Flagged \(1\):\n {2}! unbalanced: www\.example\.com: 3 VIPs cannot be balanced over 2 nodes: www1 66\.7%, www2 33\.3%$/m);
    expect(r.stdout).toMatch(/^www1 down: 2 VIPs move$/m);
  });

  test('--json: the agents\' assignment, from the all-up map with the failed node\'s VIPs dropped', async () => {
    const config = await fixture('json', { nodes: 4, vips: 9, weights: [2, 1, 1, 1], prefer: { '198.51.100.203': 'www2' } });
    const p = await planJson(config);
    expect(p.source).toBe('config');
    const vips = vipList(9);
    const members = (down: string[]) => p.nodes.map((n) => ({ name: n.name, weight: n.weight, live: !down.includes(n.name), mature: true, healthy: true }));
    const prefs = new Map([['198.51.100.203', 'www2']]);
    const base = assign(vips, members([]), new Map(), prefs);
    expect(p.baseline.holders).toEqual(Object.fromEntries([...base].sort()));
    expect(p.failures.map((s) => s.failed)).toEqual([['www1'], ['www2'], ['www3'], ['www4']]);
    for (const s of p.failures) {
      const previous = new Map([...base].filter(([, h]) => !s.failed.includes(h)));
      expect(s.holders, `${s.failed}`).toEqual(Object.fromEntries([...assign(vips, members(s.failed), previous, prefs)].sort()));
    }
    expect(p.nodes.map((n) => n.weight)).toEqual([2, 1, 1, 1]);
    expect(p.code).toBe(p.flagged ? 1 : 0);
  });

  test('4 nodes / 12 VIPs --pairs: 4 single failures and 6 pairs, 50% each at worst, exit 0', async () => {
    const p = await planJson(await fixture('n4v12', { nodes: 4, vips: 12 }), '--pairs');
    expect(p.code).toBe(0);
    expect(p.failures).toHaveLength(10);
    for (const s of p.failures.filter((x) => x.failed.length === 2)) expect(s.loads.map((l) => l.vips)).toEqual([6, 6]);
    expect(p.suggestions[0]!.message).toContain('12 VIPs balance with every node up and after any one failure or pair of failures');
  });

  test('--max-share: 0.5 flags 3 / 3 (exit 1), 60% does too, 1.5 and "half" are option errors (exit 2)', async () => {
    const config = await fixture('n3v3-share', { nodes: 3, vips: 3 });
    const half = await run(['plan', '--config', config, '--max-share', '0.5']);
    expect(half.code).toBe(1);
    expect(half.stdout).toMatch(/! overloaded: if www1 fails, www\d carries 66\.7% of www\.example\.com \(2\.0 × its normal 33\.3%; limit 50%\)/);
    expect((await run(['plan', '--config', config, '--max-share', '60%'])).code).toBe(1);
    expect((await run(['plan', '--config', config, '--max-share', '70%'])).code).toBe(0);
    for (const bad of ['1.5', 'half', '0']) {
      const r = await run(['plan', '--config', config, '--max-share', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(`--max-share '${bad}'`);
    }
  });

  test('a prefer that concentrates VIPs on one node: flagged, exit 1', async () => {
    const prefer = { '198.51.100.201': 'www1', '198.51.100.202': 'www1', '198.51.100.203': 'www1' };
    const r = await run(['plan', '--config', await fixture('prefer', { nodes: 3, vips: 6, prefer })]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/! prefer-concentrates: prefer names www1 for 3 of the 6 VIPs of www\.example\.com; balanced, it holds at most 2/);
  });

  test('a name with fewer VIPs than nodes: idle nodes flagged, exit 1; its shares shown per name', async () => {
    const r = await run(['plan', '--config', await fixture('idle', { nodes: 3, names: { www: vipList(6), api: ['198.51.100.230'] } })]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/! idle-nodes: api\.example\.com: 1 VIP for 3 nodes: www\d and www\d carry none of its traffic/);
    expect(r.stdout).toMatch(/^ {2}node {2}VIPs {2}share {2}www\.example\.com {2}api\.example\.com {2}normal {2}limit$/m);
  });

  test('A and AAAA of one name are planned apart: 3 A and 1 AAAA on 3 nodes idle two for IPv6', async () => {
    const p = await planJson(await fixture('aaaa', { nodes: 3, names: { www: [...vipList(3), '2001:db8::201'] } }));
    expect(p.pools.map((x) => x.name)).toEqual(['www.example.com (A)', 'www.example.com (AAAA)']);
    expect(p.findings.map((f) => [f.kind, f.pool])).toEqual([['idle-nodes', 'www.example.com (AAAA)']]);
  });

  test('the README\'s example ("How many VIPs?") is what the command prints, exit status included', async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const m = /^\$ roamdns plan --config roamdns\.yaml\n([\s\S]*?)^\$ echo \$\?\n(\d+)\n```/m.exec(readme);
    expect(m, 'README has the roamdns plan example').not.toBeNull();
    const config = await fixture('readme', { nodes: 3, vips: 3 });
    const r = await run(['plan', '--config', 'roamdns.yaml'], path.dirname(config));
    expect(r.stdout).toBe(m![1]);
    expect(String(r.code)).toBe(m![2]);
  });

  test('the help names every option', async () => {
    const r = await run(['plan', '--help']);
    expect(r.code).toBe(0);
    for (const m of ['Usage: roamdns plan', '--config FILE', '--pairs', '--max-share X', '--json', '--live', 'Exit status']) expect(r.stdout).toContain(m);
  });
});

describe('roamdns plan: problems exit 2 and say where', () => {
  test('no cluster section', async () => {
    const r = await run(['plan', '--config', await fixture('nocluster', { nodes: 0, vips: 2, noCluster: true })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/roamdns\.yaml: the config has no 'cluster' section/);
  });

  test('a zone error: file:line: message', async () => {
    const config = await fixture('zoneerr', { nodes: 2, vips: 2, zone: ['bad A 198.51.100.999'] });
    const r = await run(['plan', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/example\.com\.zone:\d+: /);
  });

  test('prefer naming an unknown node: the agent\'s own check', async () => {
    const r = await run(['plan', '--config', await fixture('badprefer', { nodes: 2, vips: 2, prefer: { '198.51.100.201': 'www9' } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/roamdns\.yaml: cluster: prefer\.198\.51\.100\.201: node "www9" is not one of nodes/);
  });

  test('vips_from without records; an option of another command', async () => {
    const none = await run(['plan', '--config', await fixture('novips', { nodes: 2, names: { www: [] } })]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no A/AAAA records for cluster.vips_from (www.example.com)');
    const other = await run(['plan', '--node', 'www1']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("Unknown option '--node'");
  });
});

describe('roamdns plan --live: from the holders the agents report (fake agents on 127.0.0.1)', () => {
  let server: http.Server;
  let port = 0;
  const TOKEN = 'plan-test-agent-token-0123';
  const holds: Record<string, string[]> = { www1: ['198.51.100.201', '198.51.100.204'], www2: ['198.51.100.202', '198.51.100.203', '198.51.100.205', '198.51.100.206'] };
  beforeAll(async () => {
    // www3 is down: its agent does not answer, and its peers report it dead.
    server = http.createServer((req, res) => {
      const node = req.url!.slice(1).split('/')[0]!;
      // Under /t/ the fake agents want cluster.status_token_file's bearer token, as real ones do.
      if (req.url!.startsWith('/t/')) {
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
        req.url = req.url!.slice(2);
        return void answer(req.url.slice(1).split('/')[0]!, res);
      }
      answer(node, res);
    });
    const answer = (node: string, res: http.ServerResponse) => {
      if (!holds[node]) return void res.writeHead(503).end();
      const members = Object.entries(holds).map(([name, h]) => ({ name, alive: true, holds: h })).concat([{ name: 'www3', alive: false, holds: [] }]);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node, state: 'active', holds: holds[node], members }));
    };
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('the baseline is now, www3 stays out; taking out www1 or www2 leaves one node with all: flagged', async () => {
    const statusUrls = ['www1', 'www2', 'www3'].map((n) => `http://127.0.0.1:${port}/${n}/status`);
    const config = await fixture('live', { nodes: 3, vips: 6, statusUrls });
    const p = await planJson(config, '--live');
    expect(p.source).toBe('live');
    expect(p.baseline.down).toEqual(['www3']);
    expect(p.baseline.holders).toEqual(Object.fromEntries(Object.entries(holds).flatMap(([n, vs]) => vs.map((v) => [v, n])).sort()));
    expect(p.failures.map((s) => s.failed)).toEqual([['www1'], ['www2']]);
    expect(p.code).toBe(1);
    const table = await run(['plan', '--config', config, '--live']);
    expect(table.stdout).toMatch(/^Now, as the agents report \(www3 not live\)$/m);
  });

  test('agents behind cluster.status_token_file: the token is sent; without it they refuse (exit 2)', async () => {
    const statusUrls = ['www1', 'www2', 'www3'].map((n) => `http://127.0.0.1:${port}/t/${n}/status`);
    const config = await fixture('live-token', { nodes: 3, vips: 6, statusUrls, cluster: ['  status_token_file: agent.token'] });
    const r = await run(['plan', '--config', config, '--live']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/agent\.token/);
    await writeFile(path.join(path.dirname(config), 'agent.token'), `${TOKEN}\n`, { mode: 0o600 });
    const p = await planJson(config, '--live');
    expect(p.baseline.down).toEqual(['www3']);
    await writeFile(path.join(path.dirname(config), 'agent.token'), 'a-wrong-token-0123456789\n', { mode: 0o600 });
    const wrong = await run(['plan', '--config', config, '--live']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/no agent answered: .*HTTP 401/);
  });

  test('no agent answers: exit 2', async () => {
    const config = await fixture('live-none', { nodes: 2, vips: 2, statusUrls: [0, 1].map((i) => `http://127.0.0.1:${port}/nobody${i}/status`) });
    const r = await run(['plan', '--config', config, '--live']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/roamdns plan --live: no agent answered: http:\/\/127\.0\.0\.1:\d+\/nobody0\/status HTTP 503/);
  });
});

describe('the status page: what if a node is taken out', () => {
  const vip = (v: string, holders: string[]): VipView => ({ vip: v, state: 'up', served: true, since: new Date(0).toISOString(), reason: '', holders, probe: 'http', lastProbe: null });
  const doc = (holders: Record<string, string>, live: string[], cluster?: StatusDocument['cluster']): StatusDocument => ({
    version: 1, startedAt: new Date(0).toISOString(), zones: [], recentChanges: [], cluster,
    pools: { 'www.example.com': { served: Object.keys(holders), vips: Object.entries(holders).map(([v, h]) => vip(v, [h])) } },
    ownership: { at: 0, live, agents: live.map((n) => ({ url: `http://127.0.0.1/${n}`, ok: true, node: n })) },
  });
  const moves = (page: string, node: string) => [...(new RegExp(`<tr data-node="${node}">([\\s\\S]*?)</tr>`).exec(page)?.[1] ?? '').matchAll(/data-vip="([^"]+)" data-from="([^"]*)" data-to="([^"]*)"/g)].map((m) => [m[1], m[2], m[3]]);

  test('from the live holders: each node\'s row lists its VIPs moving to the node the agents would pick', () => {
    const holders = { '198.51.100.201': 'www1', '198.51.100.202': 'www2', '198.51.100.203': 'www3', '198.51.100.204': 'www1', '198.51.100.205': 'www2', '198.51.100.206': 'www3' };
    const d = doc(holders, ['www1', 'www2', 'www3']);
    const page = renderStatusPage(d, 1000);
    expect(page).toContain('<h2>What if a node is taken out</h2>');
    expect(page).toContain('equal weights and no prefer assumed');
    const plan = whatIfPlan(d)!;
    for (const s of plan.failures) {
      const node = s.failed[0]!;
      expect(moves(page, node)).toEqual(s.moved.map((m) => [m.vip, m.from, m.to]));
      expect(moves(page, node).map(([v]) => v).sort()).toEqual(Object.entries(holders).filter(([, h]) => h === node).map(([v]) => v).sort());
    }
    expect(page).toMatch(/least disruptive to take out next: <b data-best="www\d">/);
    expect(page).not.toContain('over limit');
  });

  test('with one node already down, taking out another leaves one with all: over limit; weights from the document are used', () => {
    const holders = { '198.51.100.201': 'www1', '198.51.100.202': 'www2', '198.51.100.203': 'www1', '198.51.100.204': 'www2' };
    const cluster = { nodes: { www1: { weight: 1 }, www2: { weight: 1 }, www3: { weight: 2 } }, prefer: {} };
    const page = renderStatusPage(doc(holders, ['www1', 'www2'], cluster), 1000);
    expect(page).not.toContain('equal weights and no prefer assumed');
    expect(page).toMatch(/<tr data-node="www1">[\s\S]*?over limit<\/span> www2 above 50%/);
    expect(whatIfPlan(doc(holders, ['www1', 'www2'], cluster))!.baseline.down).toEqual(['www3']);
  });

  test('clusterPlanView, for serve\'s /status: the configured weights, prefer and shared VIPs', async () => {
    const config = await fixture('view', { nodes: 3, vips: 3, weights: [2, 1, 1], prefer: { '198.51.100.201': 'www2' } });
    const store = new ZoneStore([path.join(path.dirname(config), 'example.com.zone')], { info() {}, warn() {}, error() {} }, dnsMetrics(new Registry()));
    store.load('test');
    const view = clusterPlanView(loadConfig(config), store.current());
    expect(view).toEqual({ nodes: { www1: { weight: 2 }, www2: { weight: 1 }, www3: { weight: 1 } }, prefer: { '198.51.100.201': 'www2' }, vips: vipList(3) });
    const holders = { '198.51.100.201': 'www2', '198.51.100.202': 'www1', '198.51.100.203': 'www3' };
    expect(whatIfPlan(doc(holders, ['www1', 'www2', 'www3'], view))!.baseline.loads.map((l) => l.normalShare)).toEqual([0.5, 0.25, 0.25]);
  });

  test('no cluster (no ownership): no what-if section', () => {
    const d = { ...doc({ '198.51.100.201': 'www1' }, ['www1']), ownership: null };
    expect(renderStatusPage(d, 1000)).not.toContain('What if');
  });
});
