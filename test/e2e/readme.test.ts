// The README's examples, run as written where they can run here, and its reference tables checked
// against the code: the quick start (`npm start`, then the dig line), `npx roamdns zone-check
// zones/*.zone`, the status API URLs (fetched instead of curl), SIGHUP, the clean stop, the
// config defaults table and the shipped roamdns.yaml. A README that drifts from the program fails here.
// Not run: `npm ci` and `npm test` (they would reinstall and recurse), Docker, and the secondaries.
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../cli/config.js';
import { makeTempDir, REPO_ROOT, spawnManaged, waitForSoa, type ManagedProcess } from '../helpers/roamdns.js';
import { lockDefaultPorts, requireFree } from '../helpers/default-ports.js';

const README = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
const PKG = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

/** Every fenced code block of the README, with its info string. */
const BLOCKS = [...README.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
/** The README line (in a code block) that starts with `prefix`, without its trailing comment. */
function line(prefix: string): string {
  const l = BLOCKS.flatMap((b) => b.body.split('\n')).find((x) => x.trim().startsWith(prefix));
  if (!l) throw new Error(`README has no example starting with '${prefix}'`);
  return l.replace(/\s+#.*$/, '').trim();
}

interface Run { code: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

describe('README examples', () => {
  let proc: ManagedProcess | undefined;
  let unlock: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    try { execFileSync('dig', ['-v'], { stdio: 'pipe' }); } catch {
      throw new Error('dig is not installed: apt-get install bind9-dnsutils (test/run.sh installs it when run as root)');
    }
    await stat(path.join(REPO_ROOT, 'dist/cli/main.js')).catch(() => { throw new Error('dist/cli/main.js not found: build first (npx tsc -p tsconfig.json)'); });
  });

  afterAll(async () => {
    await proc?.stop();
    await unlock?.();
  });

  test('"`npm start` runs `roamdns serve --config roamdns.yaml`": package.json agrees', () => {
    expect(README).toContain('`npm start` runs `roamdns serve --config roamdns.yaml`');
    expect(line('npm ci && npm start')).toBe('npm ci && npm start');
    expect(PKG.bin.roamdns).toBe('dist/cli/main.js');
    expect(PKG.scripts.start).toBe(`node ${PKG.bin.roamdns} serve --config roamdns.yaml`);
  });

  describe('quick start: npm start, then the dig line', () => {
    beforeAll(async () => {
      unlock = await lockDefaultPorts();
      for (const port of [5353, 8053]) await requireFree(port, "the README's quick start needs it");
      // `npm start`'s command, run directly so the server is our child (killed with us, never orphaned).
      const [node, ...args] = PKG.scripts.start!.split(' ');
      expect(node).toBe('node');
      proc = spawnManaged(process.execPath, args, { cwd: REPO_ROOT });
      await waitForSoa(5353, 'example.com.', proc, 'npm start');
    }, 30_000);

    test('dig @127.0.0.1 -p 5353 www.example.com: the two VIPs of zones/example.com.zone, authoritative', async () => {
      const [cmd, ...args] = line('dig ').split(/\s+/);
      expect(cmd).toBe('dig');
      expect(args, 'network rule: the README example must query loopback').toContain('@127.0.0.1');
      for (const extra of [[], ['+tcp']]) { // "(UDP and TCP)"
        const r = await run('dig', [...args, ...extra, '+time=2', '+tries=1']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/status: NOERROR/);
        expect(/;; flags:([^;]*);/.exec(r.stdout)?.[1]).toMatch(/\baa\b/);
        const answers = [...r.stdout.matchAll(/^www\.example\.com\.\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]).sort();
        expect(answers, r.stdout).toEqual(['10.1.1.201', '10.1.1.202']);
      }
    });

    test('the status API URLs from the README (fetched instead of curl)', async () => {
      const urls = [...README.matchAll(/curl -s (127\.0\.0\.1:\d+\/\w+)/g)].map((m) => `http://${m[1]}`);
      expect(urls).toEqual(['http://127.0.0.1:8053/status', 'http://127.0.0.1:8053/metrics']);
      const status = await (await fetch(urls[0]!)).json() as { zones: { origin: string; serial: number; lastResult: string }[] };
      expect(status.zones).toEqual(expect.arrayContaining([expect.objectContaining({ origin: 'example.com.', serial: 2026112601, lastResult: 'ok' })]));
      const metrics = await (await fetch(urls[1]!)).text();
      // Every metric the README names is exported.
      const named = [...new Set([...(/### Logs and metrics([\s\S]*?)\n##/.exec(README)?.[1] ?? '').matchAll(/`(roamdns_[a-z_]+)/g)].map((m) => m[1]!))];
      expect(named.length).toBeGreaterThanOrEqual(7);
      for (const n of named) expect(metrics, `/metrics lacks ${n}`).toMatch(new RegExp(`^# TYPE ${n} `, 'm'));
      // The dig queries above were counted by transport and rcode.
      for (const t of ['udp', 'tcp']) expect(metrics).toMatch(new RegExp(`^roamdns_dns_queries_total\\{rcode="NOERROR",transport="${t}"\\} [1-9]`, 'm'));
      expect(metrics).toMatch(/^roamdns_zone_serial\{zone="example\.com\."\} 2026112601$/m);
    });

    test('"kill -HUP <pid> reloads every zone file": logged, and the server keeps answering', async () => {
      expect(README).toContain('`kill -HUP <pid>`');
      process.kill(proc!.child.pid!, 'SIGHUP');
      const deadline = Date.now() + 5000;
      while (!proc!.output().includes('SIGHUP: reloading zones') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(proc!.output()).toContain('SIGHUP: reloading zones');
      await waitForSoa(5353, 'example.com.', proc!, 'roamdns after SIGHUP', 3000);
    });

    test('"Exit status of serve: 0 after a clean stop"', async () => {
      expect(README).toContain('Exit status of `serve`: 0 after a clean stop');
      proc!.child.kill('SIGTERM');
      expect(await proc!.exited, proc!.output()).toBe(0);
    });
  });

  describe('zone files', () => {
    test('npx roamdns zone-check zones/*.zone: the shipped zones are clean', async () => {
      const [npx, ...args] = line('npx roamdns zone-check').split(/\s+/);
      expect(npx).toBe('npx');
      const glob = args.pop()!;
      expect(glob).toBe('zones/*.zone');
      const files = (await readdir(path.join(REPO_ROOT, 'zones'))).filter((f) => f.endsWith('.zone')).map((f) => `zones/${f}`);
      expect(files.length).toBeGreaterThan(0);
      // --no: run this package's own bin, never download one; offline: no registry traffic at all.
      const r = await run('npx', ['--no', ...args, ...files], { npm_config_offline: 'true', npm_config_update_notifier: 'false' });
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      for (const f of files) expect(r.stdout + r.stderr).toContain(f);
    }, 60_000);

    test('"prints every problem as file:line: message and exits 1 if any file has an error"', async () => {
      expect(README).toContain('It prints every problem as `file:line: message` and exits 1 if any file has an error.');
      const dir = await makeTempDir('roamdns-readme');
      try {
        const good = path.join(dir, 'example.com.zone');
        await copyFile(path.join(REPO_ROOT, 'zones/example.com.zone'), good);
        const bad = path.join(dir, 'broken.example.zone');
        await writeFile(bad, '$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.999\nwww TTL 1\n');
        const r = await run('npx', ['--no', 'roamdns', 'zone-check', good, bad], { npm_config_offline: 'true', npm_config_update_notifier: 'false' });
        expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
        expect(r.stdout + r.stderr).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}:5: \\S`, 'm'));
        expect(r.stdout + r.stderr).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}:6: \\S`, 'm'));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });

  describe('reference sections match the program', () => {
    test('"The command" lists the same commands as roamdns --help', async () => {
      const block = BLOCKS.find((b) => b.body.includes('roamdns serve ') && b.body.includes('roamdns zone-check'))!.body;
      const readmeCmds = [...block.matchAll(/^roamdns ([a-z-]+)/gm)].map((m) => m[1]!).sort();
      const help = await run(process.execPath, ['dist/cli/main.js', '--help']);
      const listed = (/Commands:\n((?: {2}\S.*\n)+)/.exec(help.stdout)?.[1] ?? '').split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean).sort();
      expect(readmeCmds).toEqual(listed);
    });

    test('the configuration reference table gives the defaults the config loader fills in', () => {
      const rows = [...README.matchAll(/^\| `([a-z_.]+)` \| `([^`]*)` \|/gm)].map((m) => [m[1]!, m[2]!] as const);
      expect(rows.map(([k]) => k)).toEqual(expect.arrayContaining(['zones', 'dns.listen', 'dns.transfer_allow', 'dns.tcp_idle_timeout', 'dns.tcp_max_connections', 'status.listen', 'log.level', 'log.format']));
      const defaults = parseConfig('{}\n', 'empty.yaml') as unknown as Record<string, unknown>;
      for (const [key, text] of rows) {
        // Optional sections (cluster) have no defaults until they are written; their tables are prose.
        if (defaults[key.split('.')[0]!] === undefined) continue;
        const actual = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults);
        const expected = /^\d+(ms|s|m)$/.test(text) ? parseDuration(text) : parseYaml(text);
        expect(actual, `README default of ${key}`).toEqual(expected);
      }
    });

    test('the shipped roamdns.yaml is the one the README shows', async () => {
      const shown = BLOCKS.find((b) => b.lang === 'yaml' && b.body.startsWith('zones:'))?.body;
      expect(shown, 'README has no yaml block of the shipped config').toBeDefined();
      const shipped = await readFile(path.join(REPO_ROOT, 'roamdns.yaml'), 'utf8');
      expect(parseYaml(shipped)).toEqual(parseYaml(shown!));
    });

    test('the port-53 section: the systemd unit it names grants only CAP_NET_BIND_SERVICE, as user roamdns', async () => {
      const unit = /`(docs\/systemd\/[\w.]+)`/.exec(README)?.[1];
      expect(unit).toBe('docs/systemd/roamdns.service');
      const text = await readFile(path.join(REPO_ROOT, unit!), 'utf8');
      expect(text).toMatch(/^User=roamdns$/m);
      expect(text).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
      expect(text).toMatch(/^ExecReload=.*kill -HUP/m);
    });

    test('the layout folders exist', async () => {
      const block = BLOCKS.find((b) => /^server\/\s/m.test(b.body) && b.body.includes('cli/'))!.body;
      for (const dir of [...block.matchAll(/^([a-z]+)\/\s/gm)].map((m) => m[1]!)) {
        expect((await stat(path.join(REPO_ROOT, dir)).catch(() => null))?.isDirectory(), `${dir}/`).toBe(true);
      }
    });
  });
});

function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text)!;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

