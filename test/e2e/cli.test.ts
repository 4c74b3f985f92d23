// The `roamdns` command end to end (DESIGN "CLI" and "Config" contracts): help for every command,
// exit codes, every kind of config problem reported as `file:line:` with its key, zone errors at
// start-up, a fixture server started from another folder, and the shipped default
// (`serve --config roamdns.yaml` on 127.0.0.1:5353) queried with Debian's dig.
// Fixtures: test/fixtures/e2e/<case>/roamdns.yaml (see the README there).
import { execFile, execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dig, REPO_ROOT, spawnManaged, waitForSoa, type ManagedProcess } from '../helpers/roamdns.js';
import { lockDefaultPorts, requireFree } from '../helpers/default-ports.js';

const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/e2e');
const fixture = (c: string): string => path.join(FIXTURES, c, 'roamdns.yaml');

interface Run { code: number | null; stdout: string; stderr: string }
/** Runs the CLI to completion (bounded by a timeout) and returns its exit code and output. */
function run(args: string[], cwd = REPO_ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** dig is a required tool here: its absence fails the suite with the fix, it never skips. */
function requireDig(): void {
  try {
    execFileSync('dig', ['-v'], { stdio: 'pipe' });
  } catch {
    throw new Error('dig is not installed: apt-get install bind9-dnsutils (test/run.sh installs it when run as root)');
  }
}

describe('roamdns CLI', () => {
  beforeAll(async () => {
    await stat(CLI).catch(() => { throw new Error(`${CLI} not found: build first (npx tsc -p tsconfig.json)`); });
  });

  describe('help and usage', () => {
    /** The commands the top-level help lists: every one of them must have its own --help. */
    let commands: string[] = [];

    test('--help, -h and help print the usage with every command and the common options, exit 0', async () => {
      for (const args of [['--help'], ['-h'], ['help'], []]) {
        const r = await run(args);
        expect(r.code, `roamdns ${args.join(' ')}`).toBe(0);
        expect(r.stdout).toMatch(/^Usage: roamdns <command>/m);
        expect(r.stdout).toContain('--config FILE');
        expect(r.stdout).toContain('--help');
        const listed = /Commands:\n((?: {2}\S.*\n)+)/.exec(r.stdout)?.[1] ?? '';
        commands = listed.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
      }
      expect(commands).toEqual(expect.arrayContaining(['serve', 'zone-check', 'help']));
    });

    // What each command's help must mention (its options and operands).
    const MENTIONS: Record<string, string[]> = {
      serve: ['Usage: roamdns serve', '--config FILE', 'SIGHUP', 'Exit status'],
      'zone-check': ['Usage: roamdns zone-check', '--origin NAME', 'FILE', 'file:line: message', 'Exit status'],
      help: ['Usage: roamdns <command>', 'Commands:'],
    };

    test('<command> --help for every listed command: exit 0, mentions its options', async () => {
      expect(commands.length).toBeGreaterThan(0);
      for (const c of commands) {
        const r = await run([c, '--help']);
        expect(r.code, `roamdns ${c} --help: ${r.stderr}`).toBe(0);
        for (const m of MENTIONS[c] ?? [`Usage: roamdns ${c}`, '--config']) expect(r.stdout, `roamdns ${c} --help`).toContain(m);
      }
    });

    test('an unknown command or option exits 2 with the usage on stderr', async () => {
      const r = await run(['frobnicate']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("unknown command 'frobnicate'");
      expect(r.stderr).toContain('Usage: roamdns <command>');
      expect(r.stdout).toBe('');
      const o = await run(['serve', '--no-such-option']);
      expect(o.code).toBe(2);
      expect(o.stderr).toContain('--no-such-option');
    });

    // DESIGN's CLI contract and the top-level help promise --config on every command.
    test('every command accepts --config (DESIGN: "each with --config FILE")', async () => {
      const r = await run(['zone-check', '--config', 'roamdns.yaml', 'zones/example.com.zone']);
      expect(r.code, r.stderr).toBe(0);
    });
  });

  describe('config problems: `file:line:` naming the key, exit 2, nothing started', () => {
    const CASES: { name: string; lines: [number, RegExp][] }[] = [
      { name: 'unknown-key', lines: [[5, /unknown key 'dns\.bogus'/]] },
      { name: 'bad-duration', lines: [[5, /dns\.tcp_idle_timeout: '10 seconds' is not a duration/]] },
      { name: 'bad-listen', lines: [[6, /dns\.listen\[1\]: '256\.1\.1\.1:53'/]] },
      { name: 'bad-status-listen', lines: [[6, /status\.listen: '300\.1\.1\.1:8053'/]] },
      // YAML syntax errors carry the line of the offending token.
      { name: 'yaml-syntax', lines: [[5, /YAML syntax: /]] },
      {
        name: 'many-problems', lines: [[5, /dns\.tcp_max_connections: '-1'/], [9, /log\.level: 'loud'/], [10, /unknown key 'colour'/]],
      },
    ];
    for (const { name, lines } of CASES) {
      test(name, async () => {
        const file = path.relative(REPO_ROOT, fixture(name));
        const r = await run(['serve', '--config', file]);
        expect(r.code, r.stderr).toBe(2);
        for (const [line, re] of lines) {
          const hit = r.stderr.split('\n').find((l) => l.startsWith(`${file}:${line}: `) && re.test(l));
          expect(hit, `expected "${file}:${line}: ${re.source}" in:\n${r.stderr}`).toBeDefined();
        }
        expect(r.stdout).toBe('');
      });
    }

    test('missing config file', async () => {
      const file = path.relative(REPO_ROOT, path.join(FIXTURES, 'missing/roamdns.yaml'));
      const r = await run(['serve', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: cannot read config: ENOENT`, 'm'));
    });

    test('a zone error at start-up: every bad record as file:line: message, exit 2', async () => {
      const r = await run(['serve', '--config', fixture('zone-error')]);
      expect(r.code, r.stderr).toBe(2);
      const zone = path.join(FIXTURES, 'zone-error/zones/broken.test.zone');
      expect(r.stderr).toMatch(new RegExp(`^${zone.replace(/[.]/g, '\\.')}:6: .*192\\.0\\.2\\.300`, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^${zone.replace(/[.]/g, '\\.')}:7: .*ten`, 'm'));
    });
  });

  describe('serving', () => {
    beforeAll(requireDig);

    test('a fixture config from another working directory: relative paths follow the config, dig answers, SIGTERM exits 0', async () => {
      const proc = spawnManaged(process.execPath, [CLI, 'serve', '--config', fixture('ok')], { cwd: os.tmpdir() });
      try {
        // Port 0 in the config: the bound addresses are in the 'serving' log line.
        const deadline = Date.now() + 10_000;
        let serving: { dns: string[]; status: string } | undefined;
        while (!serving && Date.now() < deadline && proc.child.exitCode === null) {
          serving = proc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; dns: string[]; status: string }).find((l) => l.msg === 'serving');
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(serving, `no 'serving' log line:\n${proc.output()}`).toBeDefined();
        const port = Number(serving!.dns[0]!.split(':').pop());
        expect(serving!.dns[0]).toMatch(/^127\.0\.0\.1:\d+$/);
        for (const extra of [[], ['+tcp']]) {
          const d = await dig(port, ...extra, 'www.e2e.test', 'A');
          expect(d.status, d.stdout).toBe('NOERROR');
          expect(d.flags).toContain('aa');
          expect(d.answer.map((a) => a.rdata).sort()).toEqual(['192.0.2.80', '192.0.2.81']);
        }
        proc.child.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
      } finally {
        await proc.stop();
      }
    }, 30_000);

    describe('the shipped default: serve --config roamdns.yaml from the repo root', () => {
      let proc: ManagedProcess | undefined;
      let unlock: (() => Promise<void>) | undefined;
      afterAll(async () => {
        await proc?.stop();
        await unlock?.();
      });

      test('dig @127.0.0.1 -p 5353 www.example.com gets the two VIPs with AA; SIGTERM exits 0', async () => {
        unlock = await lockDefaultPorts();
        await requireFree(5353, 'the shipped roamdns.yaml needs it for dns.listen 127.0.0.1:5353');
        await requireFree(8053, 'the shipped roamdns.yaml needs it for status.listen 127.0.0.1:8053');
        proc = spawnManaged(process.execPath, [CLI, 'serve', '--config', 'roamdns.yaml'], { cwd: REPO_ROOT });
        await waitForSoa(5353, 'example.com.', proc, 'roamdns serve --config roamdns.yaml');
        const d = await dig(5353, 'www.example.com');
        expect(d.status, d.stdout).toBe('NOERROR');
        expect(d.flags).toContain('aa');
        expect(d.answer.map((a) => `${a.type} ${a.rdata}`).sort()).toEqual(['A 10.1.1.201', 'A 10.1.1.202']);
        proc.child.kill('SIGTERM');
        expect(await proc.exited, proc.output()).toBe(0);
      }, 30_000);
    });
  });
});

