// Least privilege, for real (issue 6): the agents run as nobody with only CAP_NET_ADMIN and
// CAP_NET_RAW (as docs/systemd/roamdns-agent.service runs them) and still move VIPs; `serve`
// started as root binds port 53 in a namespace of its own, then becomes nobody, keeps answering
// and reloading, and refuses clearly when the user it is told to become cannot work.
// Needs root (CI runs as root): without it the test fails, it does not skip.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Bed, BED_LOCK_WAIT_MS, requireNetns } from './bed.js';
import { Cluster, NODES, REPO, sleep, VIPS, waitFor } from './cluster.js';

const NOBODY = 65534;
const CAP_NET_ADMIN = 12n, CAP_NET_RAW = 13n;
const AGENT_CAPS = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+net_admin,+net_raw',
  '--ambient-caps=-all,+net_admin,+net_raw', '--bounding-set=-all,+net_admin,+net_raw', '--no-new-privs', '--'];

function procStatus(pid: number): { uid: number[]; capEff: bigint } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    uid: /^Uid:\s+(.*)$/m.exec(text)![1]!.trim().split(/\s+/).map(Number),
    capEff: BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(text)![1]}`),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => { for (const f of cleanups.reverse()) await f(); });

describe.sequential('least privilege', () => {
  test('the agents run as nobody with only CAP_NET_ADMIN and CAP_NET_RAW: they converge, hand over and fail over', async () => {
    requireNetns();
    const c = new Cluster({ agentPrefix: ['setpriv', ...AGENT_CAPS] });
    cleanups.push(() => c.destroy());
    chmodSync(c.dir, 0o755);
    for (const f of ['cluster.key', 'agent.token']) chownSync(path.join(c.dir, f), NOBODY, NOBODY);
    c.startAll();
    const show = () => `holders ${JSON.stringify([...c.holders()])}\n` + [...c.agents].map(([n, a]) => `--- ${n}\n${a.output().split('\n').slice(-8).join('\n')}`).join('\n');
    await waitFor(() => c.singleHolders() && Object.values(c.counts()).every((n) => n === 1), 20_000, 'the unprivileged agents to converge', show);
    for (const n of NODES) {
      const st = procStatus(c.agents.get(n)!.child.pid!);
      expect(st.uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
      expect(st.capEff).toBe((1n << CAP_NET_ADMIN) | (1n << CAP_NET_RAW));
    }
    // A graceful stop: quiet release (nft) and the handover work with these two capabilities.
    const vip = VIPS.find((v) => c.holders().get(v)![0] === 'www3')!;
    const t0 = Date.now();
    expect(await c.agents.get('www3')!.stop()).toBe(0);
    await waitFor(() => c.holders().get(vip)!.length === 1 && c.holders().get(vip)![0] !== 'www3', 2000, `${vip} to move`, show);
    await sleep(300);
    expect(c.gaps(t0)[vip]).toBeLessThanOrEqual(100);
    expect(c.bed.aliases('www3', { all: true })).toEqual([]);
    // A crash: the survivors take the VIP after dead_after.
    const vip2 = VIPS.find((v) => c.holders().get(v)![0] === 'www2')!;
    c.agents.get('www2')!.child.kill('SIGKILL');
    c.bed.link('www2', false);
    await waitFor(() => c.holders().get(vip2)!.some((n) => n === 'www1'), 3000, `www1 to take ${vip2}`, show);
    const errors = [...c.agents].flatMap(([n, a]) => a.output().split('\n').filter((l) => /"level":50|CAP_NET_ADMIN|Operation not permitted/.test(l)).map((l) => `${n}: ${l}`));
    expect(errors).toEqual([]);
  }, 60_000 + BED_LOCK_WAIT_MS);

  test('serve started as root binds port 53, becomes nobody, and keeps answering and reloading', async () => {
    requireNetns();
    const bed = Bed.create([{ name: 'dns', address: '198.51.100.53' }]);
    cleanups.push(() => bed.destroy());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-priv-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const zone = (serial: number, addr: string) => ['$ORIGIN example.com.', '$TTL 60', `@ SOA ns1 hostmaster ${serial} 3600 600 86400 60`, '@ NS ns1',
      'ns1 A 198.51.100.53', `www A ${addr}`, ''].join('\n');
    mkdirSync(path.join(dir, 'zones'));
    writeFileSync(path.join(dir, 'zones', 'example.com.zone'), zone(1, '198.51.100.201'));
    writeFileSync(path.join(dir, 'roamdns.yaml'), ['zones: zones/', 'dns: { listen: ["198.51.100.53:53"] }', 'status: { listen: "127.0.0.1:8053" }',
      'log: { level: info, format: json }', ''].join('\n'));
    const serve = bed.spawn('dns', [process.execPath, path.join(REPO, 'dist/cli/main.js'), 'serve', '--config', path.join(dir, 'roamdns.yaml')]);
    cleanups.push(async () => { await serve.stop(); });
    await waitFor(() => serve.output().includes('"serving"'), 10_000, 'serve to start', () => serve.output());
    const st = procStatus(serve.child.pid!);
    expect(st.uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
    expect(st.capEff).toBe(0n);
    expect(serve.output()).toMatch(/"uid":65534.*running as an unprivileged user/);
    const dig = () => bed.exec('dns', ['dig', '+short', '+time=1', '+tries=2', '@198.51.100.53', '-p', '53', 'www.example.com', 'A']).trim();
    expect(dig()).toBe('198.51.100.201');
    // A reload after the switch: the new user reads the zones.
    writeFileSync(path.join(dir, 'zones', 'example.com.zone'), zone(2, '198.51.100.202'));
    serve.child.kill('SIGHUP');
    await waitFor(() => dig() === '198.51.100.202', 5000, 'the reloaded answer', () => serve.output());
    expect(await serve.stop()).toBe(0);
  }, 30_000 + BED_LOCK_WAIT_MS);

  test('serve refuses a user that does not exist, or that cannot read the zones, saying what to fix', async () => {
    requireNetns();
    const bed = Bed.create([{ name: 'dns2', address: '198.51.100.54' }]);
    cleanups.push(() => bed.destroy());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-priv-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(path.join(dir, 'zones'));
    writeFileSync(path.join(dir, 'zones', 'example.com.zone'), ['$ORIGIN example.com.', '@ 60 SOA ns1 hostmaster 1 3600 600 86400 60', '@ 60 NS ns1', 'ns1 60 A 198.51.100.54', ''].join('\n'));
    const run = async (user: string) => {
      writeFileSync(path.join(dir, 'roamdns.yaml'), ['zones: zones/', 'dns: { listen: ["198.51.100.54:53"] }', 'status: { listen: "127.0.0.1:8053" }', `user: ${user}`, ''].join('\n'));
      const p = bed.spawn('dns2', [process.execPath, path.join(REPO, 'dist/cli/main.js'), 'serve', '--config', path.join(dir, 'roamdns.yaml')]);
      const code = await Promise.race([p.exited, sleep(10_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') await p.stop();
      return { code, out: p.output() };
    };
    const missing = await run('no-such-roamdns-user');
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/roamdns\.yaml: user: no account "no-such-roamdns-user" in \/etc\/passwd/);
    // The temporary folder is mode 0700, owned by root: nobody cannot even enter it.
    const unreadable = await run('nobody');
    expect(unreadable.code).toBe(2);
    expect(unreadable.out).toMatch(/user: nobody \(uid 65534\) could not read .*roamdns-priv-.*which reloads need: make it readable/);
    // auto: the same folder keeps root, with a warning saying why.
    writeFileSync(path.join(dir, 'roamdns.yaml'), ['zones: zones/', 'dns: { listen: ["198.51.100.54:53"] }', 'status: { listen: "127.0.0.1:8053" }', 'log: { format: json }', ''].join('\n'));
    const p = bed.spawn('dns2', [process.execPath, path.join(REPO, 'dist/cli/main.js'), 'serve', '--config', path.join(dir, 'roamdns.yaml')]);
    cleanups.push(async () => { await p.stop(); });
    await waitFor(() => p.output().includes('"serving"'), 10_000, 'serve to start', () => p.output());
    expect(p.output()).toMatch(/could not read .*still running as root/);
    expect(procStatus(p.child.pid!).uid[0]).toBe(0);
    expect(await p.stop()).toBe(0);
  }, 40_000 + BED_LOCK_WAIT_MS);
});
