// Health-aware answers: only served VIPs, max_answers chosen by rotation, when_all_down, degraded TTL.
import { describe, expect, test } from 'vitest';
import { handleMessage } from '../../server/handler.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { AnswerOverlay, buildOverlay, vipText, type PoolPolicy } from '../../server/pool-overlay.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { encodeMessage, parseMessage } from '../helpers/roamdns.js';

const ZONE = `$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 h 1 1 1 1 60\n@ NS ns1\nns1 A 198.51.100.53
www A 198.51.100.201\nwww A 198.51.100.202\nwww A 198.51.100.203\nwww A 198.51.100.204
www AAAA 2001:db8:0:0::201\nalias CNAME www\nother A 198.51.100.9\n`;
const zones = new ZoneSet(new Map([['example.org.', buildZone('example.org.', parseZoneText(ZONE, { file: 'z', origin: 'example.org.' }).records)]]));
const policy = (o: Partial<PoolPolicy> = {}): PoolPolicy => ({ key: 'www.example.org.', name: 'www.example.org', whenAllDown: 'all', degradedTtlSeconds: 10, maxAnswers: 8, ...o });

const metrics = dnsMetrics(new Registry());
function ask(overlay: AnswerOverlay, name: string, type = 'A') {
  const ctx = { zones: () => zones, overlay: () => overlay, metrics };
  const out = handleMessage(ctx, encodeMessage({ id: 1, questions: [{ name, type }] }), 'udp');
  return parseMessage((out as { bytes: Buffer }).bytes);
}

describe('pool overlay', () => {
  test('vipText gives canonical forms', () => {
    expect(vipText(1, Buffer.from([198, 51, 100, 1]))).toBe('198.51.100.1');
    expect(vipText(28, Buffer.from('20010db8000000000000000000000201', 'hex'))).toBe('2001:db8::201');
  });

  test('all served: the full set, zone TTL', () => {
    const r = ask(buildOverlay(zones, [policy()], () => true), 'www.example.org.');
    expect(r.answer.map((a) => a.rdata).sort()).toEqual(['198.51.100.201', '198.51.100.202', '198.51.100.203', '198.51.100.204']);
    expect(r.answer[0]!.ttl).toBe(300);
  });

  test('withdrawn VIPs are left out and the answer carries degraded_ttl', () => {
    const down = new Set(['198.51.100.202', '198.51.100.204']);
    const o = buildOverlay(zones, [policy()], (_p, vip) => !down.has(vip));
    const r = ask(o, 'www.example.org.');
    expect(r.answer.map((a) => a.rdata).sort()).toEqual(['198.51.100.201', '198.51.100.203']);
    expect(r.answer.every((a) => a.ttl === 10)).toBe(true);
    // Through a CNAME too
    const c = ask(o, 'alias.example.org.');
    expect(c.answer.filter((a) => a.type === 'A').map((a) => a.rdata).sort()).toEqual(['198.51.100.201', '198.51.100.203']);
    // Other names are untouched
    expect(ask(o, 'other.example.org.').answer[0]!.ttl).toBe(300);
    expect(metrics.poolAnswers.get({ pool: 'www.example.org.', degraded: 'yes' })).toBeGreaterThanOrEqual(2);
  });

  test('unknown VIPs (not yet checked) are served', () => {
    const r = ask(buildOverlay(zones, [policy()], () => undefined), 'www.example.org.');
    expect(r.answer).toHaveLength(4);
  });

  test('none served: when_all_down all answers everything with degraded_ttl, none answers NODATA', () => {
    const all = ask(buildOverlay(zones, [policy()], () => false), 'www.example.org.');
    expect(all.answer).toHaveLength(4);
    expect(all.answer[0]!.ttl).toBe(10);
    const none = ask(buildOverlay(zones, [policy({ whenAllDown: 'none' })], () => false), 'www.example.org.');
    expect(none.rcodeName).toBe('NOERROR');
    expect(none.answer).toEqual([]);
    expect(none.authority[0]!.type).toBe('SOA');
  });

  test('max_answers: at most N per answer, every VIP equally often over a cycle', () => {
    const o = buildOverlay(zones, [policy({ maxAnswers: 2 })], () => true);
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const r = ask(o, 'www.example.org.');
      expect(r.answer).toHaveLength(2);
      for (const a of r.answer) counts.set(a.rdata, (counts.get(a.rdata) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([200, 200, 200, 200]);
  });

  test('AAAA of a pool is filtered too', () => {
    expect(ask(buildOverlay(zones, [policy({ whenAllDown: 'none' })], (_p, v) => v !== '2001:db8::201'), 'www.example.org.', 'AAAA').answer).toEqual([]);
  });

  test('the rotation carries over a rebuild', () => {
    const first = buildOverlay(zones, [policy()], () => true);
    const a = ask(first, 'www.example.org.').answer[0]!.rdata;
    const second = buildOverlay(zones, [policy()], () => true, first);
    expect(ask(second, 'www.example.org.').answer[0]!.rdata).not.toBe(a);
  });
});
