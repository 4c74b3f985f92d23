// Health-aware answers end to end (issue 4, "Local"): the real `roamdns serve` probes HTTP targets on
// 127.0.10.x (the whole 127/8 is loopback) and, with a `cluster` section, asks a fake agent status API
// who holds each VIP. A stopped target leaves the DNS answer within fall x interval (+ one interval)
// and is back after rise; all down follows when_all_down; a slow target counts as down; two holders
// are a conflict (still answered), no holder an orphan (withdrawn). Detection times are printed.
// Network rule: every probe, query and fetch goes to 127.0.0.0/8.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { axfr, dig, makeTempDir, query, REPO_ROOT, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';
import { startFakeAgents, startTargets, waitFor, type FakeAgents, type TargetSet } from '../fixtures/e2e/health-servers/servers.js';

const ZONE = path.join(REPO_ROOT, 'test/fixtures/e2e/health-local/zones/health.test.zone');
const INTERVAL_MS = 200;
const TIMEOUT_MS = 100;
const RISE = 2;
const FALL = 3;
/** issue 4: "its VIP leaves the DNS answer within fall x interval (+ one interval)". */
const DETECT_LIMIT_MS = FALL * INTERVAL_MS + INTERVAL_MS;
/** Back after rise: rise x interval + interval when the machine is idle; a loaded CI box (chromium
 * in the other worker) was seen at 1.3 s, so the upper bound is a sanity limit and the lower bound
 * (not back before rise passes) is the claim. */
const RETURN_IDLE_MS = RISE * INTERVAL_MS + INTERVAL_MS;
const RETURN_LIMIT_MS = 3000;
const ZONE_TTL = 300;
const DEGRADED_TTL = 5;

const WWW = ['127.0.10.2', '127.0.10.3', '127.0.10.4'];
const CLOSED = ['127.0.10.6', '127.0.10.7'];
const OWNED = ['127.0.10.12', '127.0.10.13', '127.0.10.14'];

const check = (port: number) => `{ http: { port: ${port}, path: /healthz }, interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: ${RISE}, fall: ${FALL}, jitter: 0ms }`;

interface VipDoc { vip: string; state: string; served: boolean; holders: string[]; reason: string; lastProbe: { ok: boolean; latencyMs: number; reason?: string } | null }
interface StatusDoc { pools: Record<string, { served: string[]; vips: VipDoc[]; answer?: { kind: string; vips: string[]; ttl: number | null } }> }

async function status(srv: RoamdnsServer): Promise<StatusDoc> {
  return await (await fetch(`http://127.0.0.1:${srv.statusPort}/status`, { signal: AbortSignal.timeout(2000) })).json() as StatusDoc;
}

async function vipState(srv: RoamdnsServer, pool: string, vip: string): Promise<VipDoc> {
  const v = (await status(srv)).pools[pool]?.vips.find((x) => x.vip === vip);
  if (!v) throw new Error(`/status has no ${pool} ${vip}`);
  return v;
}

/** The A records answered for `name`: sorted addresses, their TTL, the rcode and the authority. */
async function answerOf(srv: RoamdnsServer, name: string) {
  const r = await query(srv.port, name, 'A', { timeoutMs: 1000 });
  return { rcode: r.rcodeName, vips: r.answer.filter((a) => a.type === 'A').map((a) => a.rdata).sort(), ttls: [...new Set(r.answer.map((a) => a.ttl))], authority: r.authority };
}

const sorted = (xs: readonly string[]) => [...xs].sort();
const report = (msg: string) => process.stdout.write(`[health e2e] ${msg}\n`);

function requireDig(): void {
  try {
    execFileSync('dig', ['-v'], { stdio: 'pipe' });
  } catch {
    throw new Error('dig is not installed: apt-get install bind9-dnsutils (test/run.sh installs it when run as root)');
  }
}

describe('health-aware answers without a cluster: the probe decides', () => {
  let targets: TargetSet | undefined;
  let srv: RoamdnsServer | undefined;

  beforeAll(async () => {
    targets = await startTargets([...WWW, ...CLOSED], { slowMs: 4 * TIMEOUT_MS });
    srv = await startRoamdns({
      zones: [ZONE],
      extraYaml: [
        'pools:',
        `  www.health.test: { check: ${check(targets.port)}, when_all_down: all, degraded_ttl: ${DEGRADED_TTL} }`,
        `  closed.health.test: { check: ${check(targets.port)}, when_all_down: none, degraded_ttl: ${DEGRADED_TTL} }`,
      ].join('\n'),
    });
    // Probing starts with the zone: every VIP up within a couple of rounds.
    await waitFor('every VIP up', 5000, async () => Object.values((await status(srv!)).pools).every((p) => p.vips.every((v) => v.state === 'up')));
  });

  afterAll(async () => {
    await srv?.stop();
    await targets?.close();
  });

  test('all up: the full RRset with the zone TTL', async () => {
    expect(await answerOf(srv!, 'www.health.test')).toMatchObject({ rcode: 'NOERROR', vips: sorted(WWW), ttls: [ZONE_TTL] });
    expect(await answerOf(srv!, 'closed.health.test')).toMatchObject({ rcode: 'NOERROR', vips: sorted(CLOSED), ttls: [ZONE_TTL] });
  });

  test(`a stopped target leaves the answer within fall x interval + interval (${DETECT_LIMIT_MS} ms); restarted, it is back after rise`, async () => {
    const vip = WWW[1]!;
    await targets!.get(vip).stop();
    const gone = await waitFor(`${vip} out of the answer`, 5000, async () => !(await answerOf(srv!, 'www.health.test')).vips.includes(vip));
    report(`detection: ${vip} stopped -> gone from the DNS answer in ${gone.toFixed(0)} ms (limit ${DETECT_LIMIT_MS} ms: fall ${FALL} x interval ${INTERVAL_MS} ms + ${INTERVAL_MS} ms)`);
    expect(gone).toBeLessThanOrEqual(DETECT_LIMIT_MS);
    // Degraded: the others, with degraded_ttl; /status says why.
    expect(await answerOf(srv!, 'www.health.test')).toMatchObject({ vips: sorted(WWW.filter((v) => v !== vip)), ttls: [DEGRADED_TTL] });
    const down = await vipState(srv!, 'www.health.test', vip);
    expect(down).toMatchObject({ state: 'down', served: false });
    expect(down.reason).toMatch(/ECONNREFUSED/);

    await targets!.get(vip).start();
    const back = await waitFor(`${vip} back in the answer`, 5000, async () => (await answerOf(srv!, 'www.health.test')).vips.includes(vip));
    report(`recovery: ${vip} restarted -> back in the DNS answer in ${back.toFixed(0)} ms (rise ${RISE}: at least ${(RISE - 1) * INTERVAL_MS} ms; ${RETURN_IDLE_MS} ms on an idle machine)`);
    expect(back).toBeLessThanOrEqual(RETURN_LIMIT_MS);
    // rise 2: one passing probe is not enough, the second comes one interval after the first.
    expect(back).toBeGreaterThanOrEqual((RISE - 1) * INTERVAL_MS * 0.9);
    expect(await answerOf(srv!, 'www.health.test')).toMatchObject({ vips: sorted(WWW), ttls: [ZONE_TTL] });
  });

  test(`a slow target (answers after the ${TIMEOUT_MS} ms timeout) counts as down`, async () => {
    const vip = WWW[2]!;
    const t = targets!.get(vip);
    t.mode = 'slow';
    try {
      const gone = await waitFor(`${vip} (slow) out of the answer`, 5000, async () => !(await answerOf(srv!, 'www.health.test')).vips.includes(vip));
      report(`detection: ${vip} slow (answers after ${4 * TIMEOUT_MS} ms) -> gone from the DNS answer in ${gone.toFixed(0)} ms (limit ${DETECT_LIMIT_MS} ms)`);
      expect(gone).toBeLessThanOrEqual(DETECT_LIMIT_MS);
      const v = await vipState(srv!, 'www.health.test', vip);
      expect(v.state).toBe('down');
      expect(v.lastProbe?.reason).toMatch(/timeout/);
    } finally {
      t.mode = 'ok';
    }
    await waitFor(`${vip} back after the slow spell`, 5000, async () => (await answerOf(srv!, 'www.health.test')).vips.includes(vip));
  });

  test('all down: when_all_down all answers every VIP with degraded_ttl; none answers NODATA with the SOA', async () => {
    requireDig();
    for (const v of [...WWW, ...CLOSED]) await targets!.get(v).stop();
    try {
      await waitFor('every VIP down', 5000, async () => Object.values((await status(srv!)).pools).every((p) => p.vips.every((v) => v.state === 'down')));
      // Fail-open (as gdnsd and Route 53 do): all of them, with the short TTL.
      expect(await answerOf(srv!, 'www.health.test')).toMatchObject({ rcode: 'NOERROR', vips: sorted(WWW), ttls: [DEGRADED_TTL] });
      // Fail-closed: NOERROR, empty answer, SOA in the authority section (RFC 2308 NODATA); dig agrees.
      const closed = await answerOf(srv!, 'closed.health.test');
      expect(closed).toMatchObject({ rcode: 'NOERROR', vips: [] });
      expect(closed.authority.map((r) => r.type)).toEqual(['SOA']);
      const d = await dig(srv!.port, 'closed.health.test', 'A');
      expect(d.status).toBe('NOERROR');
      expect(d.answer).toEqual([]);
      expect(d.authority.map((r) => r.type)).toEqual(['SOA']);
      const doc = await status(srv!);
      expect(doc.pools['www.health.test']).toMatchObject({ served: [], answer: { kind: 'vips', vips: WWW, ttl: DEGRADED_TTL } });
      expect(doc.pools['closed.health.test']).toMatchObject({ served: [], answer: { kind: 'nodata', vips: [] } });
      // AXFR still transfers the zone as written in git: every VIP, the zone's TTL.
      const xfr = await axfr(srv!.port, 'health.test');
      expect(xfr.rcode).toBe('NOERROR');
      const inZone = xfr.records.filter((r) => r.name === 'closed.health.test.' && r.type === 'A');
      expect(inZone.map((r) => r.rdata).sort()).toEqual(sorted(CLOSED));
      expect(inZone.every((r) => r.ttl === ZONE_TTL)).toBe(true);
    } finally {
      for (const v of [...WWW, ...CLOSED]) await targets!.get(v).start();
    }
    await waitFor('every VIP up again', 5000, async () => Object.values((await status(srv!)).pools).every((p) => p.vips.every((v) => v.state === 'up')));
    expect(await answerOf(srv!, 'closed.health.test')).toMatchObject({ vips: sorted(CLOSED), ttls: [ZONE_TTL] });
  });
});

describe('with a cluster: ownership from the agents (a fake agent status API on 127.0.0.1)', () => {
  let targets: TargetSet | undefined;
  let agents: FakeAgents | undefined;
  let srv: RoamdnsServer | undefined;
  let secretDir: string | undefined;
  const [a, b, c] = OWNED as [string, string, string];
  /** The ownership poll runs every second; a change shows within two polls. */
  const OWNERSHIP_LIMIT_MS = 4000;

  beforeAll(async () => {
    targets = await startTargets(OWNED);
    agents = await startFakeAgents();
    agents.hold({ n1: [a], n2: [b, c] });
    // serve never reads the secret, but a cluster section names one; make it as the agent wants it (0600).
    secretDir = await makeTempDir('roamdns-health-secret');
    const secret = path.join(secretDir, 'cluster.key');
    await writeFile(secret, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    await chmod(secret, 0o600);
    srv = await startRoamdns({
      zones: [ZONE],
      extraYaml: [
        'pools:',
        `  owned.health.test: { check: ${check(targets.port)} }`,
        'cluster:',
        '  nodes:',
        `    n1: { address: 127.0.0.1, status_url: "${agents.url('n1')}" }`,
        `    n2: { address: 127.0.0.1, status_url: "${agents.url('n2')}" }`,
        `  secret_file: ${JSON.stringify(secret)}`,
        '  vips_from: [owned.health.test]',
      ].join('\n'),
    });
    await waitFor('every owned VIP up', 5000, async () => (await status(srv!)).pools['owned.health.test']!.vips.every((v) => v.state === 'up'));
  });

  afterAll(async () => {
    await srv?.stop();
    await agents?.close();
    await targets?.close();
    if (secretDir) await rm(secretDir, { recursive: true, force: true });
  });

  test('one live holder each: up, with the holder in /status', async () => {
    const doc = await status(srv!);
    expect(doc.pools['owned.health.test']!.vips.map((v) => [v.vip, v.state, v.holders])).toEqual([[a, 'up', ['n1']], [b, 'up', ['n2']], [c, 'up', ['n2']]]);
    expect((await answerOf(srv!, 'owned.health.test')).vips).toEqual(sorted(OWNED));
    expect(agents!.requests()).toBeGreaterThan(0);
  });

  test('two holders: conflict, still answered, shown as conflict with both holders', async () => {
    agents!.hold({ n1: [a, b], n2: [b, c] });
    try {
      const took = await waitFor(`${b} conflict`, OWNERSHIP_LIMIT_MS, async () => (await vipState(srv!, 'owned.health.test', b)).state === 'conflict');
      report(`conflict: ${b} claimed by n1 and n2 -> conflict in /status after ${took.toFixed(0)} ms`);
      const v = await vipState(srv!, 'owned.health.test', b);
      expect(v).toMatchObject({ state: 'conflict', served: true, holders: ['n1', 'n2'] });
      expect(v.reason).toMatch(/n1 and n2/);
      expect((await answerOf(srv!, 'owned.health.test')).vips).toEqual(sorted(OWNED));
    } finally {
      agents!.hold({ n1: [a], n2: [b, c] });
    }
    await waitFor(`${b} up again`, OWNERSHIP_LIMIT_MS, async () => (await vipState(srv!, 'owned.health.test', b)).state === 'up');
  });

  test('no live holder: orphan, withdrawn although its probe passes', async () => {
    agents!.hold({ n1: [a], n2: [b] });
    try {
      const took = await waitFor(`${c} out of the answer`, OWNERSHIP_LIMIT_MS, async () => !(await answerOf(srv!, 'owned.health.test')).vips.includes(c));
      report(`orphan: nobody claims ${c} -> gone from the DNS answer in ${took.toFixed(0)} ms (ownership polled every 1 s)`);
      const v = await vipState(srv!, 'owned.health.test', c);
      expect(v).toMatchObject({ state: 'orphan', served: false, holders: [] });
      expect(v.lastProbe?.ok).toBe(true);
      expect(await answerOf(srv!, 'owned.health.test')).toMatchObject({ vips: sorted([a, b]), ttls: [10] });
    } finally {
      agents!.hold({ n1: [a], n2: [b, c] });
    }
    await waitFor(`${c} back`, OWNERSHIP_LIMIT_MS, async () => (await answerOf(srv!, 'owned.health.test')).vips.includes(c));
  });

  test('a dead node (its agent down, its peer says alive: false): its VIPs are orphans', async () => {
    agents!.set('n2', 'down');
    agents!.set('n1', { node: 'n1', state: 'active', holds: [a], members: [{ name: 'n1', alive: true, holds: [a] }, { name: 'n2', alive: false, holds: [] }] });
    try {
      // The last good report of n2 stands in for up to 3 polls, then its VIPs have no live holder.
      await waitFor(`${b} and ${c} withdrawn`, OWNERSHIP_LIMIT_MS + 3000, async () => sorted((await answerOf(srv!, 'owned.health.test')).vips).join() === a);
      const doc = await status(srv!);
      expect(doc.pools['owned.health.test']!.vips.map((v) => v.state)).toEqual(['up', 'orphan', 'orphan']);
    } finally {
      agents!.hold({ n1: [a], n2: [b, c] });
    }
    await waitFor('every owned VIP back', OWNERSHIP_LIMIT_MS, async () => (await answerOf(srv!, 'owned.health.test')).vips.length === 3);
  });
});
