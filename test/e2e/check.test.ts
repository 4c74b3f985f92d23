// `roamdns check` and `roamdns status` end to end, and the status API's bearer token. check probes
// every VIP once and prints one line per VIP: exit 0 all served, 1 one not, 2 a config or zone error.
// status.token_file: without the token, or with a wrong one, /status, /metrics and / answer 401;
// with it, 200; `roamdns status` sends it; the server refuses to start with a missing, empty, short
// or group/world-readable file; the token never appears in the logs or in /status.
// Network rule: targets on 127.0.30.x, the fake agent and every server on 127.0.0.1.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../cli/config.js';
import { makeTempDir, REPO_ROOT, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';
import { startFakeAgents, startTargets, type FakeAgents, type TargetSet } from '../fixtures/e2e/health-servers/servers.js';

const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/e2e');
const ZONE = path.join(FIXTURES, 'health-check/zones/check.test.zone');
const POOL = 'www.check.test';
const VIPS = ['127.0.30.2', '127.0.30.3', '127.0.30.4'];

interface Run { code: number | null; stdout: string; stderr: string }
/** Runs the CLI to completion (bounded by a timeout). */
function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

const lines = (text: string) => text.split('\n').filter(Boolean);

describe('roamdns check', () => {
  let dir: string | undefined;
  let targets: TargetSet | undefined;
  let agents: FakeAgents | undefined;
  let config = '';
  let clustered = '';

  beforeAll(async () => {
    targets = await startTargets(VIPS, { slowMs: 1000 });
    agents = await startFakeAgents();
    dir = await makeTempDir('roamdns-check');
    const pools = ['pools:', `  ${POOL}:`, `    check: { http: { port: ${targets.port}, path: /healthz }, timeout: 300ms }`];
    config = path.join(dir, 'roamdns.yaml');
    await writeFile(config, [`zones: [${JSON.stringify(ZONE)}]`, ...pools, ''].join('\n'));
    const secret = path.join(dir, 'cluster.key');
    await writeFile(secret, randomBytes(32).toString('base64'), { mode: 0o600 });
    await chmod(secret, 0o600);
    clustered = path.join(dir, 'clustered.yaml');
    await writeFile(clustered, [`zones: [${JSON.stringify(ZONE)}]`, ...pools,
      'cluster:', '  nodes:',
      `    n1: { address: 127.0.0.1, status_url: "${agents.url('n1')}" }`,
      `    n2: { address: 127.0.0.1, status_url: "${agents.url('n2')}" }`,
      `  secret_file: ${JSON.stringify(secret)}`, `  vips_from: [${POOL}]`, ''].join('\n'));
  });

  afterAll(async () => {
    await targets?.close();
    await agents?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every VIP served: exit 0, one line per VIP, in zone order', async () => {
    const r = await run(['check', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(VIPS.length);
    out.forEach((l, i) => expect(l).toMatch(new RegExp(`^${POOL} ${VIPS[i]!.replace(/\./g, '\\.')} up \\d+ms$`)));
  });

  test('one target down: exit 1, its line says down and why, the others up', async () => {
    await targets!.get(VIPS[1]!).stop();
    try {
      const r = await run(['check', '--config', config]);
      expect(r.code, r.stderr).toBe(1);
      const out = lines(r.stdout);
      expect(out).toHaveLength(VIPS.length);
      expect(out[0]).toMatch(/ up \d+ms$/);
      expect(out[1]).toMatch(new RegExp(`^${POOL} 127\\.0\\.30\\.3 down \\d+ms reason=".*ECONNREFUSED.*"$`));
      expect(out[2]).toMatch(/ up \d+ms$/);
    } finally {
      await targets!.get(VIPS[1]!).start();
    }
  });

  test('a slow target (past the 300 ms timeout) is down: exit 1', async () => {
    const t = targets!.get(VIPS[2]!);
    t.mode = 'slow';
    try {
      const r = await run(['check', '--config', config]);
      expect(r.code, r.stdout).toBe(1);
      expect(lines(r.stdout)[2]).toMatch(/ down \d+ms reason=".*timeout.*"$/);
    } finally {
      t.mode = 'ok';
    }
  });

  test('with a cluster: holder= on each line; a VIP no live node holds is an orphan, exit 1', async () => {
    agents!.hold({ n1: [VIPS[0]!, VIPS[2]!], n2: [VIPS[1]!] });
    const ok = await run(['check', '--config', clustered]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(lines(ok.stdout)).toEqual([
      expect.stringMatching(/^www\.check\.test 127\.0\.30\.2 up holder=n1 \d+ms$/),
      expect.stringMatching(/^www\.check\.test 127\.0\.30\.3 up holder=n2 \d+ms$/),
      expect.stringMatching(/^www\.check\.test 127\.0\.30\.4 up holder=n1 \d+ms$/),
    ]);
    agents!.hold({ n1: [VIPS[0]!], n2: [VIPS[1]!] });
    const orphan = await run(['check', '--config', clustered]);
    expect(orphan.code, orphan.stdout).toBe(1);
    expect(lines(orphan.stdout)[2]).toMatch(/^www\.check\.test 127\.0\.30\.4 orphan holder=- \d+ms reason="no live node holds it"$/);
  });

  test('a config error: exit 2, every problem as file:line naming the key, nothing on stdout', async () => {
    const file = path.relative(REPO_ROOT, path.join(FIXTURES, 'health-check-config-error/roamdns.yaml'));
    const r = await run(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}:7: pools.www.check.test.check.interval: 'often' is not a duration`);
    expect(r.stderr).toContain(`${file}:7: pools.www.check.test.check.rise: '0'`);
  });

  test('a zone error: exit 2, the zone file and line', async () => {
    const r = await run(['check', '--config', path.join(FIXTURES, 'health-check-zone-error/roamdns.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/health-check-zone-error\/zones\/check\.test\.zone:6: .*127\.0\.30\.300/);
  });

  test('the README\'s production config (10.1.1.x, shown, never run) is a valid config with pools, cluster and a token', async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!).find((b) => b.startsWith('# /etc/roamdns/roamdns.yaml'));
    expect(shown, 'README has no yaml block starting with "# /etc/roamdns/roamdns.yaml"').toBeDefined();
    const cfg = parseConfig(shown!, '/etc/roamdns/roamdns.yaml');
    expect(Object.keys(cfg.pools)).toEqual(['www.example.com']);
    expect(cfg.cluster?.vips_from).toEqual(['www.example.com']);
    expect(cfg.status.token_file).toBe('/etc/roamdns/status.token');
  });

  test('a pool whose name has no A/AAAA records: exit 2', async () => {
    const file = path.join(dir!, 'no-records.yaml');
    await writeFile(file, [`zones: [${JSON.stringify(ZONE)}]`, 'pools:', '  nothere.check.test: { check: { tcp: { port: 1 } } }', ''].join('\n'));
    const r = await run(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pools.nothere.check.test: the zones have no A/AAAA records for this name');
  });
});

describe('status.token_file: the bearer token', () => {
  const TOKEN = randomBytes(32).toString('base64');
  let dir: string | undefined;
  let targets: TargetSet | undefined;
  let srv: RoamdnsServer | undefined;
  let tokenFile = '';

  const get = (p: string, auth?: string, method = 'GET') =>
    fetch(`http://127.0.0.1:${srv!.statusPort}${p}`, { method, headers: auth ? { authorization: auth } : {}, signal: AbortSignal.timeout(2000) });

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-token');
    tokenFile = path.join(dir, 'status.token');
    await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
    await chmod(tokenFile, 0o600);
    targets = await startTargets(VIPS);
    srv = await startRoamdns({
      zones: [ZONE],
      extraYaml: [
        `  token_file: ${JSON.stringify(tokenFile)}`, // continues the helper's status: section
        'pools:', `  ${POOL}: { check: { http: { port: ${targets.port} }, interval: 200ms, timeout: 100ms } }`,
      ].join('\n'),
    });
  });

  afterAll(async () => {
    await srv?.stop();
    await targets?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('/status, /metrics and / answer 401 without the token and with a wrong one, 200 with it', async () => {
    for (const p of ['/status', '/metrics', '/']) {
      const none = await get(p);
      expect(none.status, p).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="roamdns"');
      expect(await none.text()).not.toContain(TOKEN);
      for (const wrong of [`Bearer ${TOKEN.slice(0, -2)}xx`, `Bearer ${TOKEN}x`, 'Bearer', `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`]) {
        const r = await get(p, wrong);
        expect(r.status, `${p} with "${wrong.slice(0, 12)}…"`).toBe(401);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="roamdns"/);
        await r.body?.cancel();
      }
      const ok = await get(p, `Bearer ${TOKEN}`);
      expect(ok.status, p).toBe(200);
      await ok.body?.cancel();
      // RFC 7235 §2.1: the scheme name is case-insensitive.
      const lower = await get(p, `bearer ${TOKEN}`);
      expect(lower.status).toBe(200);
      await lower.body?.cancel();
    }
    expect((await get('/status', undefined, 'HEAD')).status).toBe(401);
    // Refusals are counted.
    expect(await (await get('/metrics', `Bearer ${TOKEN}`)).text()).toMatch(/^roamdns_status_unauthorized_total [1-9]\d*$/m);
  });

  test('the token is in neither /status, /metrics, the page nor the logs', async () => {
    for (const p of ['/status', '/metrics', '/']) expect(await (await get(p, `Bearer ${TOKEN}`)).text(), p).not.toContain(TOKEN);
    expect(srv!.proc.output()).not.toContain(TOKEN);
    expect(srv!.proc.output()).toMatch(/"statusAuth":"bearer"/);
  });

  test('roamdns status sends the token: the VIP table, exit 0', async () => {
    const r = await run(['status', '--config', srv!.configPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^POOL\s+VIP\s+STATE/m);
    for (const v of VIPS) expect(r.stdout).toMatch(new RegExp(`^${POOL}\\s+${v.replace(/\./g, '\\.')}\\s+up\\s`, 'm'));
  });

  test('roamdns status with a wrong token or none: exit 1 and says so', async () => {
    const wrongFile = path.join(dir!, 'wrong.token');
    await writeFile(wrongFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    await chmod(wrongFile, 0o600);
    const base = `dns:\n  listen: [127.0.0.1:0]\nstatus:\n  listen: 127.0.0.1:${srv!.statusPort}\n`;
    const wrongCfg = path.join(dir!, 'wrong.yaml');
    await writeFile(wrongCfg, `${base}  token_file: ${JSON.stringify(wrongFile)}\n`);
    const wrong = await run(['status', '--config', wrongCfg]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/401.*not the one the server uses/);
    const noneCfg = path.join(dir!, 'none.yaml');
    await writeFile(noneCfg, base);
    const none = await run(['status', '--config', noneCfg]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/401.*set status\.token_file/);
  });

  test('serve refuses to start (exit 2) when the token file is missing, empty, short or readable by others', async () => {
    const cases: [string, (f: string) => Promise<void>, RegExp][] = [
      ['missing', async () => {}, /does not exist/],
      ['empty', (f) => writeFile(f, '\n', { mode: 0o600 }), /is empty/],
      ['short', (f) => writeFile(f, 'abc123', { mode: 0o600 }), /at least 16 are needed/],
      ['spaces', (f) => writeFile(f, 'a token with spaces in it', { mode: 0o600 }), /Authorization header cannot carry/],
      ['group-readable', async (f) => { await writeFile(f, TOKEN); await chmod(f, 0o640); }, /mode 640 .*chmod 600/],
      ['world-readable', async (f) => { await writeFile(f, TOKEN); await chmod(f, 0o644); }, /mode 644 .*chmod 600/],
    ];
    for (const [name, make, message] of cases) {
      const file = path.join(dir!, `${name}.token`);
      await make(file);
      if (name !== 'missing' && name !== 'group-readable' && name !== 'world-readable') await chmod(file, 0o600);
      const cfg = path.join(dir!, `${name}.yaml`);
      await writeFile(cfg, [`zones: [${JSON.stringify(ZONE)}]`, 'dns:', '  listen: [127.0.0.1:0]', 'status:', '  listen: 127.0.0.1:0', `  token_file: ${name}.token`, ''].join('\n'));
      const r = await run(['serve', '--config', cfg]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr, name).toMatch(new RegExp(`^${cfg.replace(/[.]/g, '\\.')}: status\\.token_file ${file.replace(/[.]/g, '\\.')}: `, 'm'));
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr + r.stdout, name).not.toContain(TOKEN);
    }
  });
});
