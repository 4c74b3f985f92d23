// Wire-format tests: round trips, every truncation, every bit flip, versions, hostile input never throws.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHeartbeat, encodeHeartbeat, MIN_PACKET_BYTES, type Heartbeat } from '../../failover/heartbeat.js';
import { canonicalIp, parseVipSpec } from '../../failover/ip.js';

const KEY = Buffer.from('correct horse battery staple');

function sample(over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    type: 'heartbeat', node: 'www1', incarnation: 1_700_000_000_000, seq: 42, state: 'active', health: 'healthy',
    timestampMs: 123456, echoTimestampMs: 654321, echoDelayMs: 7, configDigest: '0123456789abcdef',
    held: [{ vip: '198.51.100.201', gen: 3 }, { vip: '2001:db8::201', gen: 1 }],
    handoffs: [{ vip: '198.51.100.202', to: 'www2', gen: 4 }], extensions: new Uint8Array(0),
    ...over,
  };
}

describe('heartbeat wire format', () => {
  it('round-trips every field', () => {
    const p = sample();
    const r = decodeHeartbeat(encodeHeartbeat(p, KEY), KEY);
    expect(r).toEqual({ ok: true, packet: { ...p, extensions: Buffer.alloc(0) } });
  });

  it('round-trips a leaving packet with empty lists and extension bytes', () => {
    const p = sample({ type: 'leaving', state: 'leaving', health: 'unknown', held: [], handoffs: [], extensions: Buffer.from([1, 2, 3]) });
    const r = decodeHeartbeat(encodeHeartbeat(p, KEY), KEY);
    expect(r.ok && r.packet).toMatchObject({ type: 'leaving', state: 'leaving', held: [], handoffs: [] });
    expect(r.ok && Buffer.from(r.packet.extensions!)).toEqual(Buffer.from([1, 2, 3]));
  });

  it('the smallest packet is MIN_PACKET_BYTES long', () => {
    const p = sample({ node: 'a', held: [], handoffs: [] });
    expect(encodeHeartbeat(p, KEY).length).toBe(MIN_PACKET_BYTES);
  });

  it('rejects every truncation, never throwing', () => {
    const bytes = encodeHeartbeat(sample(), KEY);
    for (let len = 0; len < bytes.length; len++) {
      const r = decodeHeartbeat(bytes.subarray(0, len), KEY);
      expect(r.ok, `length ${len}`).toBe(false);
      if (!r.ok) expect(['malformed', 'bad-mac']).toContain(r.reason);
    }
  });

  it('rejects every single-bit flip: MAC failures past the version byte', () => {
    const bytes = encodeHeartbeat(sample(), KEY);
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(bytes);
        copy[i]! ^= 1 << bit;
        const r = decodeHeartbeat(copy, KEY);
        expect(r.ok, `byte ${i} bit ${bit}`).toBe(false);
        if (!r.ok) expect(r.reason).toBe(i < 4 ? 'malformed' : i === 4 ? 'wrong-version' : 'bad-mac');
      }
    }
  });

  it('rejects a packet signed with another key', () => {
    const r = decodeHeartbeat(encodeHeartbeat(sample(), Buffer.from('other key')), KEY);
    expect(r).toMatchObject({ ok: false, reason: 'bad-mac' });
  });

  it('rejects other versions before checking the MAC', () => {
    const bytes = encodeHeartbeat(sample(), KEY);
    bytes[4] = 2;
    expect(decodeHeartbeat(bytes, KEY)).toMatchObject({ ok: false, reason: 'wrong-version' });
  });

  it('rejects trailing bytes and appended garbage', () => {
    const bytes = encodeHeartbeat(sample(), KEY);
    expect(decodeHeartbeat(Buffer.concat([bytes, Buffer.of(0)]), KEY).ok).toBe(false);
  });

  it('never throws on random bytes, with or without the magic', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (raw, magic) => {
      const bytes = magic ? Buffer.concat([Buffer.from('ROAM'), Buffer.of(1), Buffer.from(raw)]) : Buffer.from(raw);
      const r = decodeHeartbeat(bytes, KEY);
      expect(r.ok).toBe(false);
    }), { numRuns: 2000 });
  });

  it('a correctly signed but inconsistent body is malformed, not a crash', () => {
    // Sign a body whose held count claims more entries than there are bytes.
    const good = encodeHeartbeat(sample({ held: [], handoffs: [] }), KEY);
    const body = Buffer.from(good.subarray(0, good.length - 32));
    body.writeUInt16BE(5, 53 + 4); // held count right after the 4-byte name 'www1'
    const signed = Buffer.concat([body, createHmac('sha256', KEY).update(body).digest()]);
    expect(decodeHeartbeat(signed, KEY)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('round-trips random packets', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => canonicalIp(g.map((x) => x.toString(16)).join(':'))!);
    const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const arb = fc.record({
      node: name, seq: fc.nat(), incarnation: fc.nat(), gen: fc.nat(),
      vips: fc.uniqueArray(fc.oneof(v4, v6), { maxLength: 20 }), to: name,
      state: fc.constantFrom('joining', 'active', 'draining', 'leaving' as const),
      health: fc.constantFrom('unknown', 'healthy', 'unhealthy' as const),
    });
    fc.assert(fc.property(arb, (a) => {
      const p = sample({ node: a.node, seq: a.seq, incarnation: a.incarnation, state: a.state, health: a.health,
        held: a.vips.map((vip) => ({ vip, gen: a.gen })), handoffs: a.vips.slice(0, 3).map((vip) => ({ vip, to: a.to, gen: a.gen })) });
      const r = decodeHeartbeat(encodeHeartbeat(p, KEY), KEY);
      expect(r.ok && r.packet.held).toEqual(p.held);
      expect(r.ok && r.packet.handoffs).toEqual(p.handoffs);
      expect(r.ok && r.packet.node).toBe(p.node);
    }), { numRuns: 300 });
  });

  it('encode refuses caller bugs with RangeError', () => {
    expect(() => encodeHeartbeat(sample({ node: '' }), KEY)).toThrow(RangeError);
    expect(() => encodeHeartbeat(sample({ node: 'x'.repeat(64) }), KEY)).toThrow(RangeError);
    expect(() => encodeHeartbeat(sample({ held: [{ vip: 'not-an-ip', gen: 1 }] }), KEY)).toThrow(RangeError);
    expect(() => encodeHeartbeat(sample({ configDigest: 'abc' }), KEY)).toThrow(RangeError);
  });
});

describe('ip text forms', () => {
  it.each([
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['192.0.2.1', '192.0.2.1'],
  ])('%s -> %s', (text, canonical) => {
    expect(canonicalIp(text)).toBe(canonical);
  });

  it.each(['1.2.3', '1.2.3.256', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '', 'x'])('rejects %s', (text) => {
    expect(canonicalIp(text)).toBeNull();
  });

  it('parses VIP specs with and without a prefix', () => {
    expect(parseVipSpec('198.51.100.201/24')).toEqual({ address: '198.51.100.201', prefix: 24, family: 4 });
    expect(parseVipSpec('2001:DB8::201')).toEqual({ address: '2001:db8::201', prefix: 128, family: 6 });
    expect(() => parseVipSpec('198.51.100.201/33')).toThrow(/prefix/);
    expect(() => parseVipSpec('198.51.100.201/2/3')).toThrow();
  });
});
