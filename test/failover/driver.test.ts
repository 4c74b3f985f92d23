// The Linux alias driver against a fake exec: exact command lines, idempotency, reconcile, labels, announcements, errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LinuxAliasDriver, parseIpAddrJson, parseQuietSet, roamLabel, type ExecFn, type ExecResult } from '../../failover/driver.js';
import { parseVipSpec } from '../../failover/ip.js';
import { createLinuxAgent, resolveAgentOptions } from '../../failover/index.js';
import { createNotifier } from '../../failover/notify.js';
import { quietLog } from './sim.js';

type Reply = Partial<ExecResult> | ((file: string, args: readonly string[]) => Partial<ExecResult>);

/** Records each command line; answers from a list of (prefix → reply), default success. */
function fakeExec(replies: Array<[string, Reply]> = []): { exec: ExecFn; calls: string[] } {
  const calls: string[] = [];
  const exec: ExecFn = async (file, args) => {
    const line = [file, ...args].join(' ');
    calls.push(line);
    const hit = replies.find(([prefix]) => line.startsWith(prefix));
    const r = typeof hit?.[1] === 'function' ? hit[1](file, args) : hit?.[1] ?? {};
    return { code: 0, stdout: '', stderr: '', ...r };
  };
  return { exec, calls };
}

const VIPS = ['198.51.100.201/24', '198.51.100.202/32', '2001:db8::201/64'].map(parseVipSpec);

function driver(exec: ExecFn, iface = 'eth0', arping: 'auto' | 'iputils' | 'habets' = 'iputils') {
  return new LinuxAliasDriver({ iface, vips: VIPS, exec, log: quietLog, announce: { count: 3, intervalMs: 200 }, arping, sleep: async () => {} });
}

const IP_JSON = JSON.stringify([{
  ifindex: 2, ifname: 'eth0', flags: ['UP'], addr_info: [
    { family: 'inet', local: '198.51.100.2', prefixlen: 24, label: 'eth0' },
    { family: 'inet', local: '198.51.100.201', prefixlen: 24, label: 'eth0:roam' },
    { family: 'inet', local: '198.51.100.250', prefixlen: 32, label: 'eth0:roam' },
    { family: 'inet6', local: '2001:db8::201', prefixlen: 64 },
    { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
  ],
}]);

describe('LinuxAliasDriver', () => {
  it('adds IPv4 with the roam label and IPv6 with nodad', async () => {
    const f = fakeExec();
    const d = driver(f.exec);
    await d.add('198.51.100.201');
    await d.add('2001:db8::201');
    expect(f.calls).toEqual([
      'ip -4 addr add 198.51.100.201/24 dev eth0 label eth0:roam',
      'ip -6 addr add 2001:db8::201/64 dev eth0 nodad',
    ]);
  });

  it('is idempotent: "File exists" on add and "Cannot assign" on del are success', async () => {
    const f = fakeExec([
      ['ip -4 addr add', { code: 2, stderr: 'RTNETLINK answers: File exists\n' }],
      ['ip addr del', { code: 2, stderr: 'RTNETLINK answers: Cannot assign requested address\n' }],
    ]);
    const d = driver(f.exec);
    await expect(d.add('198.51.100.202')).resolves.toBeUndefined();
    await expect(d.del('198.51.100.202')).resolves.toBeUndefined();
    expect(f.calls[1]).toBe('ip addr del 198.51.100.202/32 dev eth0');
  });

  it('says clearly when it lacks CAP_NET_ADMIN, the device or the ip command', async () => {
    const perm = driver(fakeExec([['ip', { code: 2, stderr: 'RTNETLINK answers: Operation not permitted' }]]).exec);
    await expect(perm.add('198.51.100.201')).rejects.toMatchObject({ code: 'EDRIVER_PERM', message: expect.stringMatching(/CAP_NET_ADMIN/) });
    const dev = driver(fakeExec([['ip', { code: 1, stderr: 'Cannot find device "eth9"' }]]).exec);
    await expect(dev.add('198.51.100.201')).rejects.toMatchObject({ code: 'EDRIVER_NO_DEVICE' });
    const none = driver(fakeExec([['ip', { code: null, error: 'ENOENT' }]]).exec);
    await expect(none.add('198.51.100.201')).rejects.toMatchObject({ code: 'EDRIVER_NOT_FOUND', message: expect.stringMatching(/iproute2/) });
    await expect(driver(fakeExec().exec).add('203.0.113.1')).rejects.toMatchObject({ code: 'EDRIVER_UNKNOWN_VIP' });
  });

  it('reconciles: removes stale labelled aliases, keeps configured ones, and deletes with the prefix found', async () => {
    const f = fakeExec([['ip -j addr show', { stdout: IP_JSON }]]);
    const d = driver(f.exec);
    expect(await d.reconcile()).toEqual(['198.51.100.201', '2001:db8::201']);
    expect(f.calls.filter((c) => c.startsWith('ip'))).toEqual(['ip -j addr show dev eth0', 'ip addr del 198.51.100.250/32 dev eth0']);
    await d.del('2001:db8::201');
    expect(f.calls.at(-1)).toBe('ip addr del 2001:db8::201/64 dev eth0');
  });

  it('reconcile deletes aliases a previous run left quiet (it was handing them over) and rebuilds the nft table', async () => {
    const quietSet = JSON.stringify({ nftables: [{ metainfo: {} }, { set: { family: 'arp', name: 'quiet', table: 'roamdns', elem: ['198.51.100.201'] } }] });
    const f = fakeExec([['ip -j addr show', { stdout: IP_JSON }], ['nft -j list set', { stdout: quietSet }]]);
    const d = driver(f.exec);
    expect(await d.reconcile()).toEqual(['2001:db8::201']);
    expect(f.calls[0]).toBe('nft -j list set arp roamdns quiet');
    expect(f.calls).toContain('ip addr del 198.51.100.201/24 dev eth0');
    expect(f.calls.at(-1)).toMatch(/^nft add table arp roamdns; delete table arp roamdns; add table arp roamdns; add set arp roamdns quiet \{ type ipv4_addr; \}; .*arp operation request arp daddr ip @quiet drop; .*arp saddr ip @quiet drop$/);
    expect(parseQuietSet('garbage')).toEqual([]);
    expect(parseQuietSet(JSON.stringify({ nftables: [{ set: { name: 'quiet' } }] }))).toEqual([]);
  });

  it('quiet release: quiesce adds the VIP to the nft set, add and del take it out after the ip command', async () => {
    const f = fakeExec([['ip -j addr show', { stdout: '[]' }]]);
    const d = driver(f.exec);
    await d.reconcile();
    f.calls.length = 0;
    expect(await d.quiesce('198.51.100.201')).toBe(true);
    await d.del('198.51.100.201');
    expect(f.calls).toEqual([
      'nft add element arp roamdns quiet { 198.51.100.201 }',
      'ip addr del 198.51.100.201/24 dev eth0',
      'nft delete element arp roamdns quiet { 198.51.100.201 }',
    ]);
    f.calls.length = 0;
    expect(await d.quiesce('198.51.100.202')).toBe(true);
    await d.add('198.51.100.202'); // taken back while lingering
    expect(f.calls).toEqual([
      'nft add element arp roamdns quiet { 198.51.100.202 }',
      'ip -4 addr add 198.51.100.202/32 dev eth0 label eth0:roam',
      'nft delete element arp roamdns quiet { 198.51.100.202 }',
    ]);
    f.calls.length = 0;
    await d.del('198.51.100.202'); // not quiet: no nft call
    expect(f.calls).toEqual(['ip addr del 198.51.100.202/32 dev eth0']);
    expect(await d.quiesce('2001:db8::201')).toBe(false); // IPv6: neighbour discovery is not covered
  });

  it('quiet release falls back to a plain delete without nft, saying so once', async () => {
    const warnings: string[] = [];
    const f = fakeExec([['nft', { code: null, error: 'ENOENT' }], ['ip -j addr show', { stdout: '[]' }]]);
    const d = new LinuxAliasDriver({
      iface: 'eth0', vips: VIPS, exec: f.exec, announce: { count: 1, intervalMs: 0 },
      log: { ...quietLog, warn: (o: object, msg?: string) => { warnings.push(`${msg} ${JSON.stringify(o)}`); } },
    });
    await d.reconcile();
    expect(await d.quiesce('198.51.100.201')).toBe(false);
    expect(await d.quiesce('198.51.100.202')).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/quiet release unavailable.*nftables/);
    const g = fakeExec([['nft add element', { code: 1, stderr: 'Error: No such file or directory' }], ['ip -j addr show', { stdout: '[]' }]]);
    const e = driver(g.exec);
    await e.reconcile();
    expect(await e.quiesce('198.51.100.201')).toBe(false); // table flushed by someone: delete instead, rebuild next time
    await e.quiesce('198.51.100.201');
    expect(g.calls.filter((c) => c.startsWith('nft add table'))).toHaveLength(2);
  });

  it('stops pending gratuitous ARPs when the VIP is released meanwhile', async () => {
    const f = fakeExec();
    let wake: () => void = () => {};
    const d = new LinuxAliasDriver({
      iface: 'eth0', vips: VIPS, exec: f.exec, log: quietLog, announce: { count: 3, intervalMs: 200 }, arping: 'iputils',
      sleep: () => new Promise<void>((r) => { wake = r; }),
    });
    const done = d.announce('198.51.100.201');
    await new Promise((r) => setImmediate(r));
    await d.del('198.51.100.201');
    wake();
    await done;
    expect(f.calls.filter((c) => c.startsWith('arping'))).toHaveLength(1);
  });

  it('sends no gratuitous ARP for a VIP released while arping -V was still being run (the first announcement)', async () => {
    let detected: () => void = () => {};
    const f = fakeExec([['arping -V', { stdout: 'arping from iputils 20221126' }], ['ip -j addr show', { stdout: '[]' }]]);
    const slowExec: ExecFn = (file, args, o) => (args[0] === '-V' ? new Promise((r) => { detected = () => r(f.exec(file, args, o)); }) : f.exec(file, args, o));
    const d = driver(slowExec, 'eth0', 'auto');
    await d.reconcile();
    const done = d.announce('198.51.100.201');
    await new Promise((r) => setImmediate(r));
    expect(await d.quiesce('198.51.100.201')).toBe(true);
    detected();
    await done;
    expect(f.calls.filter((c) => c.startsWith('arping -q'))).toEqual([]);
  });

  it('quiesce and del wait for a gratuitous ARP already being sent, so none leaves after them', async () => {
    const order: string[] = [];
    let sent: () => void = () => {};
    const f = fakeExec([['ip -j addr show', { stdout: '[]' }]]);
    const exec: ExecFn = async (file, args, o) => {
      if (file === 'arping') { await new Promise<void>((r) => { sent = r; }); order.push('arping'); }
      const r = await f.exec(file, args, o);
      if (file !== 'arping') order.push(`${file} ${args.slice(0, 3).join(' ')}`);
      return r;
    };
    const d = new LinuxAliasDriver({ iface: 'eth0', vips: VIPS, exec, log: quietLog, announce: { count: 1, intervalMs: 0 }, arping: 'iputils' });
    await d.reconcile();
    order.length = 0;
    const announced = d.announce('198.51.100.201');
    await new Promise((r) => setImmediate(r));
    const quiesced = d.quiesce('198.51.100.201');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]); // the quiet waits for the arping in flight
    sent();
    await Promise.all([announced, quiesced]);
    expect(order).toEqual(['arping', 'nft add element arp']);
    order.length = 0;
    const again = d.announce('198.51.100.202');
    await new Promise((r) => setImmediate(r));
    const deleted = d.del('198.51.100.202');
    await new Promise((r) => setImmediate(r));
    sent();
    await Promise.all([again, deleted]);
    expect(order).toEqual(['arping', 'ip addr del 198.51.100.202/32']);
  });

  it('quiet release sets arp_announce 2 on the interface (kernel ARP requests never carry a quiet VIP), or is off without it', async () => {
    const sysctl = (values: Record<string, string>, fail?: string) => ({
      values,
      get: (k: string) => { if (!(k in values)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' }); return values[k]!; },
      set: (k: string, v: string) => { if (fail) throw Object.assign(new Error(fail), { code: fail }); values[k] = v; },
    });
    const make = (io: ReturnType<typeof sysctl>, warn: (o: object, msg: string) => void = () => {}) => {
      const f = fakeExec([['ip -j addr show', { stdout: '[]' }]]);
      return { f, d: new LinuxAliasDriver({ iface: 'eth0', vips: VIPS, exec: f.exec, log: { ...quietLog, warn }, announce: { count: 1, intervalMs: 0 }, sysctl: io }) };
    };
    const fresh = sysctl({ 'net/ipv4/conf/eth0/arp_announce': '0', 'net/ipv4/conf/all/arp_announce': '0' });
    const a = make(fresh);
    await a.d.reconcile();
    expect(fresh.values['net/ipv4/conf/eth0/arp_announce']).toBe('2');
    expect(await a.d.quiesce('198.51.100.201')).toBe(true);
    const all = sysctl({ 'net/ipv4/conf/eth0/arp_announce': '0', 'net/ipv4/conf/all/arp_announce': '2' }, 'EROFS');
    const b = make(all);
    await b.d.reconcile(); // 'all' already 2: the kernel takes the higher value, nothing to write
    expect(await b.d.quiesce('198.51.100.201')).toBe(true);
    const warnings: string[] = [];
    const readOnly = sysctl({ 'net/ipv4/conf/eth0/arp_announce': '0', 'net/ipv4/conf/all/arp_announce': '0' }, 'EROFS');
    const c = make(readOnly, (o, msg) => warnings.push(`${msg} ${JSON.stringify(o)}`));
    await c.d.reconcile();
    expect(warnings).toEqual([expect.stringMatching(/quiet release unavailable.*arp_announce.*EROFS.*sysctl -w net\.ipv4\.conf\.eth0\.arp_announce=2/)]);
    expect(c.f.calls.some((l) => l.startsWith('nft add table'))).toBe(false);
    expect(await c.d.quiesce('198.51.100.201')).toBe(false); // the caller deletes instead
  });

  it('announces IPv4 with iputils arping, count times', async () => {
    const f = fakeExec();
    await driver(f.exec, 'eth0', 'iputils').announce('198.51.100.201');
    expect(f.calls).toEqual(Array(3).fill('arping -q -U -c 1 -I eth0 198.51.100.201'));
  });

  it("announces with Habets' arping (its exit 1 for no reply is fine), detected with -V", async () => {
    const f = fakeExec([
      ['arping -V', { code: 1, stderr: 'ARPing 2.23, by Thomas Habets <thomas@habets.se>' }],
      ['arping', { code: 1 }],
    ]);
    await driver(f.exec, 'eth0', 'auto').announce('198.51.100.201');
    expect(f.calls).toEqual(['arping -V', ...Array(3).fill('arping -q -U -S 198.51.100.201 -c 1 -i eth0 198.51.100.201')]);
  });

  it('announces IPv6 with an unsolicited NA from ndptool', async () => {
    const f = fakeExec();
    await driver(f.exec).announce('2001:db8::201');
    expect(f.calls).toEqual(Array(3).fill('ndptool -t na -U -i eth0 -T 2001:db8::201 send'));
  });

  it('reports a failed or missing announcer as an error, without unhandled rejections', async () => {
    const f = fakeExec([['arping -V', { code: null, error: 'ENOENT' }]]);
    await expect(driver(f.exec, 'eth0', 'auto').announce('198.51.100.201')).rejects.toMatchObject({ code: 'EDRIVER_NOT_FOUND' });
    const g = fakeExec([['ndptool', { code: 1, stderr: 'Failed to send' }]]);
    await expect(driver(g.exec).announce('2001:db8::201')).rejects.toMatchObject({ code: 'EDRIVER_EXEC' });
  });

  it('labels: IFACE:roam, cut to 15 characters, none when the name is too long', () => {
    expect(roamLabel('eth0')).toBe('eth0:roam');
    expect(roamLabel('enp0s31f6')).toBe('enp0s31f6:roam');
    expect(roamLabel('enp0s31f6x1')).toBe('enp0s31f6x1:roa');
    expect(roamLabel('abcdefghijklm')).toBe('abcdefghijklm:r');
    expect(roamLabel('enx001122334455')).toBeUndefined();
    const f = fakeExec();
    void driver(f.exec, 'enx001122334455').add('198.51.100.201');
    expect(f.calls).toEqual(['ip -4 addr add 198.51.100.201/24 dev enx001122334455']);
  });

  it('preflight refuses clearly without CAP_NET_ADMIN', async () => {
    const make = (capEff: string) => new LinuxAliasDriver({
      iface: 'eth0', vips: VIPS, exec: fakeExec().exec, log: quietLog, announce: { count: 1, intervalMs: 0 },
      procStatus: () => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`,
    });
    await expect(make('000001ffffffffff').preflight()).resolves.toBeUndefined();
    await expect(make('0000000000001000').preflight()).resolves.toBeUndefined();
    await expect(make('0000000000000000').preflight()).rejects.toMatchObject({ code: 'EDRIVER_PERM', message: expect.stringMatching(/CAP_NET_ADMIN/) });
    await expect(make('0000000000002fff').preflight()).rejects.toMatchObject({ code: 'EDRIVER_PERM' });
  });

  it('parses ip -j output and rejects garbage', () => {
    expect(parseIpAddrJson(IP_JSON)).toHaveLength(5);
    expect(parseIpAddrJson('[{"ifname":"eth0"}]')).toEqual([]);
    expect(() => parseIpAddrJson('not json')).toThrow(/JSON/);
    expect(() => parseIpAddrJson('{}')).toThrow(/array/);
  });
});

describe('notify hook', () => {
  it('runs HOOK action VIP IFACE REASON, in order per VIP', async () => {
    const f = fakeExec();
    const notify = createNotifier({ command: '/etc/roamdns/notify.sh', iface: 'eth0', timeoutMs: 1000, log: quietLog, exec: f.exec });
    await Promise.all([notify('acquire', '198.51.100.201', 'failover'), notify('release', '198.51.100.201', 'rebalance')]);
    expect(f.calls).toEqual([
      '/etc/roamdns/notify.sh acquire 198.51.100.201 eth0 failover',
      '/etc/roamdns/notify.sh release 198.51.100.201 eth0 rebalance',
    ]);
  });

  it('logs a failing or timed-out hook and never rejects', async () => {
    const warnings: object[] = [];
    const log = { ...quietLog, warn: (o: object) => { warnings.push(o); } };
    const f = fakeExec([['/bin/fail', { code: 3, stderr: 'boom' }], ['/bin/slow', { code: null, error: 'timeout' }]]);
    await createNotifier({ command: '/bin/fail', iface: 'eth0', timeoutMs: 10, log, exec: f.exec })('acquire', '198.51.100.201', 'x');
    await createNotifier({ command: '/bin/slow', iface: 'eth0', timeoutMs: 10, log, exec: f.exec })('acquire', '198.51.100.201', 'x');
    const thrower: ExecFn = async () => { throw new Error('exec exploded'); };
    await createNotifier({ command: '/bin/x', iface: 'eth0', timeoutMs: 10, log, exec: thrower })('release', '198.51.100.201', 'x');
    expect(warnings).toEqual([
      expect.objectContaining({ err: 'exit 3', stderr: 'boom' }),
      expect.objectContaining({ err: 'killed after 10 ms' }),
      expect.objectContaining({ err: expect.stringMatching(/exploded/) }),
    ]);
  });

  it('runs a real hook through execFile with its arguments and a timeout (no network involved)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamdns-hook-'));
    try {
      const out = join(dir, 'args');
      const hook = join(dir, 'hook.sh');
      writeFileSync(hook, `#!/bin/sh\necho "$@" > ${out}\n`, { mode: 0o700 });
      const slow = join(dir, 'slow.sh');
      writeFileSync(slow, '#!/bin/sh\nexec sleep 5\n', { mode: 0o700 });
      const warnings: object[] = [];
      const log = { ...quietLog, warn: (o: object) => { warnings.push(o); } };
      await createNotifier({ command: hook, iface: 'eth0', timeoutMs: 2000, log })('acquire', '198.51.100.201', 'failover');
      expect(readFileSync(out, 'utf8')).toBe('acquire 198.51.100.201 eth0 failover\n');
      const t0 = performance.now();
      await createNotifier({ command: slow, iface: 'eth0', timeoutMs: 100, log })('release', '198.51.100.201', 'stop');
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(warnings).toEqual([expect.objectContaining({ hook: slow, err: 'killed after 100 ms' })]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createLinuxAgent', () => {
  it('wires the real driver without running anything until start()', () => {
    const sent: unknown[] = [];
    const agent = createLinuxAgent(resolveAgentOptions({
      nodeName: 'www1', interface: 'eth0', secret: Buffer.from('k'), vips: ['198.51.100.201/24'],
      nodes: { www1: { address: '198.51.100.2' }, www2: { address: '198.51.100.3' } },
      notify: { command: '/bin/true', timeoutMs: 1000 },
    }), { log: quietLog, send: (to, bytes) => sent.push([to, bytes]) });
    expect(agent.status()).toMatchObject({ node: 'www1', state: 'joining', health: 'healthy', vips: [{ vip: '198.51.100.201', heldHere: false }] });
    expect(sent).toEqual([]);
  });
});
