// Scenario tests of the agent in the simulator: start-up, crash, graceful stop, freeze, partition, rejoin, health, drain.
import { describe, expect, it } from 'vitest';
import { Cluster } from './sim.js';

const VIPS = ['198.51.100.201', '198.51.100.202', '198.51.100.203'];

async function bootCluster(names = ['www1', 'www2', 'www3'], vips = VIPS, extra: Partial<ConstructorParameters<typeof Cluster>[0]> = {}) {
  const c = new Cluster({ nodes: names, vips, ...extra });
  for (const n of names) await c.start(n);
  await c.time.advance(4000);
  return c;
}

function countByHolder(c: Cluster): Map<string, number> {
  const out = new Map<string, number>();
  for (const hs of c.holders().values()) for (const h of hs) out.set(h, (out.get(h) ?? 0) + 1);
  return out;
}

function singleHolders(c: Cluster): Map<string, string> {
  const out = new Map<string, string>();
  for (const [v, hs] of c.holders()) {
    expect(hs, `holders of ${v}`).toHaveLength(1);
    out.set(v, hs[0]!);
  }
  return out;
}

describe('agent in a simulated cluster', () => {
  it('start-up: every VIP held by exactly one node, balanced 1/1/1', async () => {
    const c = await bootCluster();
    singleHolders(c);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });

  it('crash: survivors take the VIP just after dead_after, nothing else moves', async () => {
    const c = await bootCluster();
    const before = singleHolders(c);
    const victim = before.get(VIPS[0]!)!;
    const t0 = c.time.now();
    c.crash(victim);
    let servedAt: number | undefined;
    await c.time.advance(1500, () => { if (servedAt === undefined && c.world.holders(VIPS[0]!).length === 1) servedAt = c.time.now(); });
    const after = singleHolders(c);
    expect(servedAt! - t0).toBeLessThanOrEqual(c.opts.deadAfterMs + 20);
    for (const [v, h] of before) if (h !== victim) expect(after.get(v)).toBe(h);
  });

  it('graceful stop: hands over within a few milliseconds, never two holders', async () => {
    const c = await bootCluster();
    const before = singleHolders(c);
    const leaver = before.get(VIPS[1]!)!;
    const t0 = c.time.now();
    let gapStart: number | undefined;
    let gapMs = 0;
    const watch = () => {
      for (const hs of c.holders().values()) expect(hs.length).toBeLessThanOrEqual(1);
      const n = c.world.holders(VIPS[1]!).length;
      if (n === 0 && gapStart === undefined) gapStart = c.time.now();
      if (n === 1 && gapStart !== undefined) { gapMs = Math.max(gapMs, c.time.now() - gapStart); gapStart = undefined; }
    };
    await c.leave(leaver, watch);
    const stopMs = c.time.now() - t0;
    await c.time.advance(500, watch);
    expect(c.world.holders(VIPS[1]!)).toHaveLength(1);
    expect(gapMs).toBeLessThanOrEqual(20);
    // The quietly released alias lingers announce.count × interval (600 ms) after the recipient's claim.
    expect(stopMs).toBeGreaterThanOrEqual(600);
    expect(stopMs).toBeLessThan(800);
    expect(c.node(leaver).driver!.calls.slice(-2)).toEqual([`quiesce ${VIPS[1]}`, `del ${VIPS[1]}`]);
  });

  it('freeze and resume: one holder per VIP right after resume settles', async () => {
    const c = await bootCluster();
    const frozen = singleHolders(c).get(VIPS[2]!)!;
    c.freeze(frozen);
    await c.time.advance(3000);
    await c.resume(frozen);
    await c.time.advance(c.opts.deadAfterMs);
    singleHolders(c);
    await c.time.advance(5000);
    singleHolders(c);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });

  it('partition and heal: each side serves every VIP; one holder each within dead_after of the heal', async () => {
    const c = await bootCluster();
    c.partition([['www1'], ['www2', 'www3']]);
    await c.time.advance(1000);
    for (const hs of c.holders().values()) expect(hs.length).toBeGreaterThanOrEqual(1);
    const www1 = [...c.holders().values()].filter((hs) => hs.includes('www1')).length;
    expect(www1).toBe(3);
    c.heal();
    await c.time.advance(c.opts.deadAfterMs);
    singleHolders(c);
    await c.time.advance(5000);
    singleHolders(c);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });

  it('rejoin: VIPs move back only after mature, at most one move per VIP', async () => {
    const c = await bootCluster();
    const victim = singleHolders(c).get(VIPS[0]!)!;
    c.crash(victim);
    await c.time.advance(2000);
    const acquiredBefore = new Map(VIPS.map((v) => [v, 0]));
    for (const n of c.nodes.values()) n.events.length = 0;
    const t0 = c.time.now();
    await c.start(victim);
    await c.time.advance(c.opts.matureMs - 100);
    expect(countByHolder(c).get(victim) ?? 0).toBe(0);
    await c.time.advance(2000);
    expect(c.time.now() - t0).toBeGreaterThan(c.opts.matureMs);
    for (const n of c.nodes.values()) for (const e of n.events) if (e.type === 'acquire') acquiredBefore.set(e.vip, acquiredBefore.get(e.vip)! + 1);
    for (const k of acquiredBefore.values()) expect(k).toBeLessThanOrEqual(1);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });

  it('service failure moves the VIPs to healthy nodes; recovery balances again', async () => {
    const c = await bootCluster(undefined, undefined, { serviceCheck: true });
    const sick = singleHolders(c).get(VIPS[0]!)!;
    c.node(sick).serviceOk = false;
    await c.time.advance(1000);
    expect(countByHolder(c).get(sick) ?? 0).toBe(0);
    singleHolders(c);
    c.node(sick).serviceOk = true;
    await c.time.advance(5000);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });

  it('when every node is unhealthy, everyone keeps what it holds', async () => {
    const c = await bootCluster(undefined, undefined, { serviceCheck: true });
    for (const n of c.nodes.values()) n.serviceOk = false;
    await c.time.advance(500); // fall = 2 checks 100 ms apart: all unhealthy now
    for (const n of c.nodes.values()) expect(n.agent!.health).toBe('unhealthy');
    const before = singleHolders(c);
    await c.time.advance(3000);
    expect(singleHolders(c)).toEqual(before);
  });

  it('drain hands VIPs off with no moment of two holders; undrain balances back', async () => {
    const c = await bootCluster();
    const node = singleHolders(c).get(VIPS[0]!)!;
    const agent = c.node(node).agent!;
    agent.drain();
    await c.time.advance(1000, () => { for (const hs of c.holders().values()) expect(hs.length).toBeLessThanOrEqual(1); });
    expect(countByHolder(c).get(node) ?? 0).toBe(0);
    singleHolders(c);
    agent.undrain();
    await c.time.advance(1000);
    expect([...countByHolder(c).values()].sort()).toEqual([1, 1, 1]);
  });
});

describe('quiet release and alias repair', () => {
  it('the released alias lingers without answering ARP until the recipient claimed and announced it, then goes', async () => {
    const c = await bootCluster();
    const node = singleHolders(c).get(VIPS[0]!)!;
    c.node(node).agent!.drain();
    await c.time.advance(100);
    expect(c.world.aliases.get(VIPS[0]!)?.has(node)).toBe(true); // still on the interface: stray requests are served
    expect(c.world.holders(VIPS[0]!)).toHaveLength(1);
    expect(c.world.holders(VIPS[0]!)).not.toContain(node);
    expect(c.node(node).agent!.vipsHere.lingering.has(VIPS[0]!)).toBe(true);
    expect(c.node(node).agent!.status().vips.find((v) => v.vip === VIPS[0])).toMatchObject({ heldHere: false, quietHere: true });
    await c.time.advance(700);
    expect(c.node(node).agent!.status().vips.find((v) => v.vip === VIPS[0])!.quietHere).toBeUndefined();
    expect(c.world.aliases.get(VIPS[0]!)?.has(node)).toBe(false);
    expect(c.node(node).agent!.vipsHere.lingering.size).toBe(0);
  });

  it('a stopping node with nobody to take its VIP deletes the alias at once', async () => {
    const c = new Cluster({ nodes: ['solo'], vips: [VIPS[0]!] });
    await c.start('solo');
    await c.time.advance(4000);
    expect(c.world.holders(VIPS[0]!)).toEqual(['solo']);
    const t0 = c.time.now();
    await c.leave('solo');
    expect(c.time.now() - t0).toBeLessThan(50);
    expect(c.world.aliases.get(VIPS[0]!)?.has('solo')).toBe(false);
  });

  it('without quiet release (no nft) a graceful stop is a plain delete and still hands over at once', async () => {
    const c = await bootCluster(undefined, undefined, { quietRelease: false });
    const leaver = singleHolders(c).get(VIPS[1]!)!;
    const t0 = c.time.now();
    await c.leave(leaver, () => { for (const hs of c.holders().values()) expect(hs.length).toBeLessThanOrEqual(1); });
    expect(c.time.now() - t0).toBeLessThan(100);
    await c.time.advance(100);
    expect(c.world.holders(VIPS[1]!)).toHaveLength(1);
    expect(c.node(leaver).driver!.calls.at(-1)).toBe(`del ${VIPS[1]}`);
  });

  it('repair: a held alias removed by hand comes back, one added by hand on a non-holder goes', async () => {
    const c = await bootCluster();
    const holders = singleHolders(c);
    const holder = holders.get(VIPS[0]!)!;
    const other = holders.get(VIPS[1]!)!;
    c.world.set(holder, VIPS[0]!, false); // ip addr del by an operator
    c.world.set(other, VIPS[0]!, true); // ip addr add by an operator
    await c.time.advance(5100);
    expect(c.world.holders(VIPS[0]!)).toEqual([holder]);
    expect(c.node(holder).driver!.calls.at(-1)).toBe(`add ${VIPS[0]}`);
    expect(c.node(other).driver!.calls.at(-1)).toBe(`del ${VIPS[0]}`);
    expect(singleHolders(c)).toEqual(holders);
  });
});

describe('agent details', () => {
  it('a restarted node with a leftover alias yields it to the active holder', async () => {
    const c = await bootCluster(['www1', 'www2']);
    const holder = singleHolders(c).get(VIPS[0]!)!;
    const other = holder === 'www1' ? 'www2' : 'www1';
    c.crash(other);
    await c.time.advance(1000);
    c.world.set(other, VIPS[0]!, true); // the alias survived on the crashed node (agent killed, link up)
    await c.start(other);
    await c.time.advance(300);
    expect(c.world.holders(VIPS[0]!)).toEqual([holder]);
  });

  it('after a partition heals the winner re-announces', async () => {
    const c = await bootCluster();
    c.partition([['www1'], ['www2', 'www3']]);
    await c.time.advance(1000);
    const before = c.world.announcements;
    c.heal();
    await c.time.advance(500);
    expect(c.world.announcements).toBeGreaterThan(before);
  });

  it('drops garbage and forged packets without changing anything', async () => {
    const c = await bootCluster();
    const agent = c.node('www1').agent!;
    const before = singleHolders(c);
    for (const junk of [Buffer.alloc(0), Buffer.from('ROAM'), Buffer.alloc(200, 7)]) expect(agent.receive(junk, { address: '198.51.100.11' })).toMatchObject({ ok: false });
    await c.time.advance(500);
    expect(singleHolders(c)).toEqual(before);
    expect(agent.status().counters.heartbeatsDropped.malformed).toBe(3);
  });

  it('status: members, VIP → holder and target, moves, counters', async () => {
    const c = await bootCluster();
    const s = c.node('www1').agent!.status();
    expect(s).toMatchObject({ node: 'www1', state: 'active', health: 'healthy' });
    expect(s.peers.map((p) => [p.name, p.alive, p.mature, p.configMatches])).toEqual([['www2', true, true, true], ['www3', true, true, true]]);
    expect(s.vips.every((v) => v.holder !== null && v.holder === v.target && !v.duplicate)).toBe(true);
    expect(s.counters.heartbeatsSent).toBeGreaterThan(0);
    expect(s.peers[0]!.rttMs).toBe(2); // 1 ms each way in the simulator
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('a failing driver leaves the VIP unclaimed, backs off, then retries', async () => {
    const c = new Cluster({ nodes: ['solo'], vips: [VIPS[0]!] });
    await c.start('solo');
    const n = c.node('solo');
    let failures = 2;
    const realAdd = n.driver!.add.bind(n.driver!);
    n.driver!.add = (vip: string) => (failures-- > 0 ? Promise.reject(Object.assign(new Error('RTNETLINK answers: Operation not permitted'), { code: 'EDRIVER_PERM' })) : realAdd(vip));
    await c.time.advance(3200);
    expect(n.agent!.held.size).toBe(0);
    await c.time.advance(3000);
    expect(c.world.holders(VIPS[0]!)).toEqual(['solo']);
    expect(n.events.filter((e) => e.type === 'driver-error')).toHaveLength(2);
  });

  it('runs the notify hook on acquire and release', async () => {
    const c = await bootCluster(['www1', 'www2'], [VIPS[0]!]);
    const holder = singleHolders(c).get(VIPS[0]!)!;
    const other = holder === 'www1' ? 'www2' : 'www1';
    await c.leave(holder);
    await c.time.advance(100);
    expect(c.node(holder).notifications).toEqual([`acquire ${VIPS[0]} assign`, `release ${VIPS[0]} stop`]);
    expect(c.node(other).notifications).toEqual([`acquire ${VIPS[0]} handoff`]);
  });
});
