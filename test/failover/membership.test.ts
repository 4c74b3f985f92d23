// Peer table timing with a fake clock: alive, dead, mature, replays, restarts, leaving, stalls, and drop counters.
import { beforeEach, describe, expect, it } from 'vitest';
import { encodeHeartbeat, type Heartbeat } from '../../failover/heartbeat.js';
import { Membership } from '../../failover/membership.js';

const KEY = Buffer.from('k'.repeat(32));
const clock = { t: 10_000, now() { return this.t; } };
const FROM = { address: '198.51.100.3', port: 7946 };

function hb(over: Partial<Heartbeat> = {}): Buffer {
  return encodeHeartbeat({
    type: 'heartbeat', node: 'www2', incarnation: 100, seq: 1, state: 'active', health: 'healthy', timestampMs: 1,
    echoTimestampMs: 0, echoDelayMs: 0, configDigest: '0000000000000000', held: [], handoffs: [], ...over,
  }, KEY);
}

let m: Membership;
beforeEach(() => {
  clock.t = 10_000;
  m = new Membership({
    self: 'www1', key: KEY, clock, deadAfterMs: 400, matureMs: 3000,
    peers: [{ name: 'www1', address: '198.51.100.2' }, { name: 'www2', address: '198.51.100.3' }, { name: 'www3', address: '198.51.100.4' }],
  });
});

describe('membership', () => {
  it('a peer is alive until dead_after passes without a packet', () => {
    expect(m.receive(hb(), FROM).ok).toBe(true);
    const p = m.get('www2')!;
    clock.t += 399;
    expect(m.isAlive(p)).toBe(true);
    clock.t += 1;
    expect(m.isAlive(p)).toBe(false);
    expect(m.nextDeathAt(clock.t - 1)).toBe(10_400);
  });

  it('is mature only after being continuously alive for matureMs; a gap restarts the count', () => {
    for (let i = 1; i <= 30; i++) { m.receive(hb({ seq: i }), FROM); clock.t += 100; }
    expect(m.isMature(m.get('www2')!)).toBe(true);
    clock.t += 500; // dead
    m.receive(hb({ seq: 31 }), FROM);
    const back = clock.t;
    expect(m.isMature(m.get('www2')!)).toBe(false);
    for (let i = 32; clock.t < back + 2999; i++) { clock.t = Math.min(clock.t + 100, back + 2999); m.receive(hb({ seq: i }), FROM); }
    expect(m.isMature(m.get('www2')!)).toBe(false);
    clock.t += 1;
    expect(m.isMature(m.get('www2')!)).toBe(true);
  });

  it('refuses replays: same or lower seq, lower incarnation; counts them', () => {
    expect(m.receive(hb({ seq: 5 }), FROM).ok).toBe(true);
    expect(m.receive(hb({ seq: 5 }), FROM)).toMatchObject({ ok: false, reason: 'replay' });
    expect(m.receive(hb({ seq: 4 }), FROM)).toMatchObject({ ok: false, reason: 'replay' });
    expect(m.receive(hb({ incarnation: 99, seq: 1000 }), FROM)).toMatchObject({ ok: false, reason: 'replay' });
    expect(m.drops.replay).toBe(3);
    expect(m.receive(hb({ seq: 6 }), FROM).ok).toBe(true);
  });

  it('a higher incarnation resets the sequence and maturity (the peer restarted)', () => {
    for (let i = 1; i <= 40; i++) { m.receive(hb({ seq: i }), FROM); clock.t += 100; }
    expect(m.isMature(m.get('www2')!)).toBe(true);
    expect(m.receive(hb({ incarnation: 200, seq: 1 }), FROM).ok).toBe(true);
    expect(m.isMature(m.get('www2')!)).toBe(false);
    expect(m.receive(hb({ incarnation: 100, seq: 41 }), FROM)).toMatchObject({ ok: false, reason: 'replay' });
  });

  it('drops unknown nodes, our own name, wrong sources, bad MACs, malformed and other versions, counting each', () => {
    expect(m.receive(hb({ node: 'mallory' }), FROM)).toMatchObject({ ok: false, reason: 'unknown-node' });
    expect(m.receive(hb({ node: 'www1' }), FROM)).toMatchObject({ ok: false, reason: 'self' });
    expect(m.receive(hb(), { address: '203.0.113.9' })).toMatchObject({ ok: false, reason: 'wrong-source' });
    const bad = hb();
    bad[bad.length - 1]! ^= 1;
    expect(m.receive(bad, FROM)).toMatchObject({ ok: false, reason: 'bad-mac' });
    expect(m.receive(Buffer.from('hello'), FROM)).toMatchObject({ ok: false, reason: 'malformed' });
    const v2 = hb();
    v2[4] = 9;
    expect(m.receive(v2, FROM)).toMatchObject({ ok: false, reason: 'wrong-version' });
    expect(m.drops).toEqual({ malformed: 1, 'wrong-version': 1, 'bad-mac': 1, 'unknown-node': 1, 'wrong-source': 1, self: 1, replay: 0 });
    expect(m.known()).toEqual([]);
  });

  it('accepts IPv4-mapped source addresses from dual-stack sockets', () => {
    expect(m.receive(hb(), { address: '::ffff:198.51.100.3' }).ok).toBe(true);
  });

  it('a leaving packet marks the peer gone at once', () => {
    m.receive(hb({ seq: 1 }), FROM);
    const r = m.receive(hb({ seq: 2, type: 'leaving', state: 'leaving' }), FROM);
    expect(r).toMatchObject({ ok: true, changed: true });
    expect(m.isAlive(m.get('www2')!)).toBe(false);
  });

  it('reports a change only when what the peer says changed', () => {
    expect(m.receive(hb({ seq: 1 }), FROM)).toMatchObject({ changed: true });
    expect(m.receive(hb({ seq: 2 }), FROM)).toMatchObject({ changed: false });
    expect(m.receive(hb({ seq: 3, held: [{ vip: '198.51.100.201', gen: 1 }] }), FROM)).toMatchObject({ changed: true });
    expect(m.receive(hb({ seq: 4, held: [{ vip: '198.51.100.201', gen: 1 }], health: 'unhealthy' }), FROM)).toMatchObject({ changed: true });
  });

  it('measures RTT from the echoed timestamp minus the time the peer held it', () => {
    clock.t = 50_000;
    m.receive(hb({ seq: 1, echoTimestampMs: 49_990, echoDelayMs: 4 }), FROM);
    expect(m.get('www2')!.rttMs).toBe(6);
  });

  it('after a stall of this process, peers alive before it get a fresh dead_after', () => {
    m.receive(hb(), FROM);
    const stallStart = clock.t + 50;
    clock.t += 3000;
    expect(m.isAlive(m.get('www2')!)).toBe(false);
    m.forgiveStall(stallStart);
    expect(m.isAlive(m.get('www2')!)).toBe(true);
    clock.t += 400;
    expect(m.isAlive(m.get('www2')!)).toBe(false);
  });
});
