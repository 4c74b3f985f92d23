// The flat name table behind a zone (server/name-table.ts): names, empty non-terminals, RRsets,
// duplicates, iteration order, cursors that outlive their views, growth past the size hint.
import { describe, expect, test } from 'vitest';
import { NameTable } from '../../server/name-table.js';
import { packRecords, RecordReader } from '../../server/zone-pack.js';
import { buildZone } from '../../server/zone.js';
import { lookup } from '../../server/lookup.js';
import { ZoneSet } from '../../server/zone.js';

const rec = (owner: string, type: number, last: number, ttl = 60) => ({ owner, type, klass: 1, ttlSeconds: ttl, rdata: Buffer.from([192, 0, 2, last]) });
const soa = { owner: 'example.', type: 6, klass: 1, ttlSeconds: 60, rdata: Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20)]) };

describe('name table', () => {
  test('names, RRsets, duplicates and the order names came in', () => {
    const p = packRecords([rec('a.example.', 1, 1), rec('a.example.', 1, 2), rec('a.example.', 1, 1), rec('b.example.', 1, 3), rec('a.example.', 16, 4)]);
    const t = new NameTable(p.buf, 1);
    const r = new RecordReader(p);
    const added: boolean[] = [];
    while (r.advance()) {
      const n = t.add(r.owner);
      const s = t.setOf(n, r.type);
      added.push(s < 0 ? (t.addSet(n, r.type, r.ttlSeconds, r.rdataAt), true) : t.addRdata(s, r.rdataAt));
    }
    t.seal();
    expect(added).toEqual([true, true, false, true, true]);
    expect([...t.keys()]).toEqual(['a.example.', 'b.example.']);
    const a = t.get('a.example.')!;
    expect(a.size).toBe(2);
    expect(a.sets.map((s) => s.type)).toEqual([1, 16]);
    expect(a.get(1)!.rdatas.map((x) => x[3])).toEqual([1, 2]);
    expect(t.get('A.example.')).toBeUndefined(); // keys are canonical: lower-case
    expect(t.has('c.example.')).toBe(false);
    // The round-robin cursor lives in the table: a new view sees what the last one left.
    const v1 = a.get(1)!;
    v1.next++;
    v1.next++;
    expect(t.get('a.example.')!.get(1)!.next).toBe(2);
  });

  test('three names a record (empty non-terminals) past the size hint: the table grows and rehashes, each name found again', () => {
    const recs = Array.from({ length: 5000 }, (_, i) => rec(`h.y${i}.z${i}.example.`, 1, i & 255));
    const z = buildZone('example.', [soa, ...recs]);
    expect(z.nodes.size).toBe(1 + 3 * 5000); // the apex; each name and its two empty non-terminals
    for (let i = 0; i < 5000; i += 37) {
      expect(z.nodes.get(`h.y${i}.z${i}.example.`)!.get(1)!.rdatas[0]![3]).toBe(i & 255);
      expect(z.nodes.get(`z${i}.example.`)!.size).toBe(0);
    }
    const zones = new ZoneSet(new Map([[z.origin, z]]));
    expect(lookup(zones, 'z3.example.', ['z3', 'example'], 1).kind).toBe('nodata');
    expect(lookup(zones, 'x.z3.example.', ['x', 'z3', 'example'], 1).kind).toBe('nxdomain');
    expect(lookup(zones, 'h.y5.z5.example.', ['h', 'y5', 'z5', 'example'], 1).kind).toBe('answer');
  });
});
