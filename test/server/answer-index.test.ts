// The answer index behind the fast path (server/answer-index.ts): every name of a zone found by
// its wire form in any case, its flags (zone cut, wildcard child), its A and AAAA records, and
// a zone large enough that the records fill several 4 MiB chunks.
import { describe, expect, test } from 'vitest';
import { NOT_DIRECT, WILDCARD_BELOW } from '../../server/answer-index.js';
import { nameToWire, RRType } from '../../server/rr.js';
import { buildZone } from '../../server/zone.js';

const soa = { owner: 'example.', type: RRType.SOA, klass: 1, ttlSeconds: 60, rdata: Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20)]) };
const a = (owner: string, n: number, ttl = 60) => ({ owner, type: RRType.A, klass: 1, ttlSeconds: ttl, rdata: Buffer.from([198, 51, 100, n & 0xff]) });
const aaaa = (owner: string, n: number) => ({ owner, type: RRType.AAAA, klass: 1, ttlSeconds: 30, rdata: Buffer.from([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), n & 0xff]) });
const wire = (name: string) => nameToWire(name.split('.').filter(Boolean));

describe('answer index', () => {
  test('flags, sets, names in any case, names that are not there', () => {
    const z = buildZone('example.', [
      soa, a('www.example.', 1), a('www.example.', 2), aaaa('www.example.', 3),
      { owner: 'alias.example.', type: RRType.CNAME, klass: 1, ttlSeconds: 60, rdata: wire('www.example.') },
      { owner: 'sub.example.', type: RRType.NS, klass: 1, ttlSeconds: 60, rdata: wire('ns.elsewhere.') },
      a('host.sub.example.', 9), a('*.wild.example.', 4), a('deep.ent.example.', 5),
    ]);
    const ix = z.answers!;
    const find = (name: string) => { const w = wire(name); return ix.find(w, 0, w.length); };
    // Every name, empty non-terminals too (ent, wild).
    for (const n of ['example.', 'www.example.', 'alias.example.', 'sub.example.', 'host.sub.example.', 'wild.example.', '*.wild.example.', 'ent.example.', 'deep.ent.example.']) {
      expect(find(n), n).toBeGreaterThanOrEqual(0);
    }
    expect(find('WwW.Example.')).toBe(find('www.example.'));
    expect(find('nope.example.')).toBe(-1);
    expect(find('ww.example.')).toBe(-1);
    expect(ix.size).toBe(9);
    expect(ix.flags(find('sub.example.'))).toBe(NOT_DIRECT);
    expect(ix.flags(find('host.sub.example.'))).toBe(NOT_DIRECT);
    expect(ix.flags(find('wild.example.'))).toBe(WILDCARD_BELOW);
    expect(ix.flags(find('www.example.'))).toBe(0);
    // Records below a cut are not answered from here.
    expect(ix.records(ix.set(find('host.sub.example.'), RRType.A))).toBe(0);
    const www = find('www.example.');
    const sa = ix.set(www, RRType.A), s6 = ix.set(www, RRType.AAAA);
    expect([ix.records(sa), ix.records(s6), ix.records(ix.set(find('alias.example.'), RRType.A))]).toEqual([2, 1, 0]);
    const out = Buffer.alloc(16);
    ix.copyTtl(sa, out, 0);
    expect(out.readUInt32BE(0)).toBe(60);
    ix.copyTtl(s6, out, 0);
    expect(out.readUInt32BE(0)).toBe(30);
    ix.copyRdata(s6, 16, 0, out, 0);
    expect(out[15]).toBe(3);
    // The cursor advances once per answer and wraps over the records.
    expect([ix.rotate(sa, 2), ix.rotate(sa, 2), ix.rotate(sa, 2)]).toEqual([0, 1, 0]);
    expect(ix.findKey('www.example.')).toBe(www);
  });

  test('200,000 names fill several chunks: each found, with its own records', () => {
    const records = [soa];
    for (let i = 0; i < 200_000; i++) records.push(i % 4 === 0 ? aaaa(`host-${i}.example.`, i) : a(`host-${i}.example.`, i));
    const z = buildZone('example.', records);
    const ix = z.answers!;
    expect(ix.size).toBe(200_001);
    expect(ix.byteLength).toBeGreaterThan(2 * 4 * 1024 * 1024); // more than two chunks of records
    const out = Buffer.alloc(16);
    for (let i = 0; i < 200_000; i++) {
      const w = wire(`HOST-${i}.example.`);
      const at = ix.find(w, 0, w.length);
      expect(at).toBeGreaterThanOrEqual(0);
      const type = i % 4 === 0 ? RRType.AAAA : RRType.A;
      const set = ix.set(at, type);
      if (ix.records(set) !== 1) throw new Error(`host-${i}: ${ix.records(set)} records`);
      ix.copyRdata(set, type === RRType.A ? 4 : 16, 0, out, 0);
      if (out[type === RRType.A ? 3 : 15] !== (i & 0xff)) throw new Error(`host-${i}: wrong record`);
      if (ix.records(ix.set(at, type === RRType.A ? RRType.AAAA : RRType.A)) !== 0) throw new Error(`host-${i}: other type`);
    }
    const w = wire('host-200000.example.');
    expect(ix.find(w, 0, w.length)).toBe(-1);
  });
});
