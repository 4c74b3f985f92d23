// Two real agents over real UDP sockets on 127.0.0.1 with real timers (aliases faked): the wire and timers end to end.
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, systemTimers } from '../../failover/deps.js';
import type { VipDriver } from '../../failover/driver.js';
import { Agent } from '../../failover/engine.js';
import { resolveAgentOptions } from '../../failover/options.js';
import { quietLog } from './sim.js';

const VIPS = ['198.51.100.201', '198.51.100.202'];
const sockets: Socket[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  for (const s of sockets.splice(0)) s.close();
});

function memoryDriver(table: Map<string, string>, name: string): VipDriver {
  return {
    reconcile: async () => [],
    present: async () => [...table].filter(([, n]) => n === name).map(([v]) => v),
    add: async (vip) => { table.set(vip, name); },
    del: async (vip) => { if (table.get(vip) === name) table.delete(vip); },
    announce: async () => {},
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agents over loopback UDP', () => {
  it('agree on a balanced assignment, then hand over at once on stop', async () => {
    const socks = await Promise.all(['a', 'b'].map(() => new Promise<Socket>((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1', () => resolve(s));
    })));
    sockets.push(...socks);
    const nodes = { a: { address: '127.0.0.1', port: (socks[0]!.address() as AddressInfo).port }, b: { address: '127.0.0.1', port: (socks[1]!.address() as AddressInfo).port } };
    const table = new Map<string, string>();
    const reasons: string[] = [];
    ['a', 'b'].forEach((name, i) => {
      const sock = socks[i]!;
      const agent = new Agent(resolveAgentOptions({
        nodeName: name, nodes, vips: VIPS, interface: 'lo', secret: Buffer.from('loopback test key'),
        heartbeatMs: 20, deadAfterMs: 100, matureMs: 200,
      }), {
        clock: systemClock, timers: systemTimers, log: quietLog, driver: memoryDriver(table, name),
        send: (to, bytes) => sock.send(bytes, to.port, to.address),
        onEvent: (e) => { if (e.type === 'acquire') reasons.push(`${name} ${e.reason}`); },
      });
      sock.on('message', (msg, rinfo) => agent.receive(msg, rinfo));
      agents.push(agent);
    });
    await Promise.all(agents.map((a) => a.start()));
    await sleep(600);
    expect(new Set(table.values())).toEqual(new Set(['a', 'b']));
    const [a, b] = agents;
    expect(a!.status().peers[0]).toMatchObject({ name: 'b', alive: true, mature: true });
    expect(a!.status().counters.heartbeatsAccepted).toBeGreaterThan(5);
    const t0 = performance.now();
    reasons.length = 0;
    await b!.stop();
    while (table.size < 2 || [...table.values()].some((n) => n !== 'a')) {
      if (performance.now() - t0 > 1000) break;
      await sleep(2);
    }
    expect([...table.values()]).toEqual(['a', 'a']);
    expect(reasons).toEqual(['a handoff']); // named in b's 'leaving' packet: no waiting for dead_after
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
