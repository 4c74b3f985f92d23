// Unit tests of the query parser and response writer on hand-made and hostile messages.
import { describe, expect, test } from 'vitest';
import { parseQuery, ResponseWriter, Rcode } from '../../server/wire.js';

function name(...labels: string[]): Buffer {
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function query(opts: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number; body?: Buffer } = {}): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(opts.id ?? 0x1234, 0);
  h.writeUInt16BE(opts.flags ?? 0x0100, 2);
  h.writeUInt16BE(opts.qd ?? 1, 4);
  h.writeUInt16BE(opts.an ?? 0, 6);
  h.writeUInt16BE(opts.ns ?? 0, 8);
  h.writeUInt16BE(opts.ar ?? 0, 10);
  const q = opts.body ?? Buffer.concat([name('www', 'Example', 'com'), Buffer.from([0, 1, 0, 1])]);
  return Buffer.concat([h, q]);
}

const opt = (udp: number, version = 0, options = Buffer.alloc(0)) => {
  const b = Buffer.alloc(11);
  b.writeUInt16BE(41, 1);
  b.writeUInt16BE(udp, 3);
  b[6] = version;
  b.writeUInt16BE(options.length, 9);
  return Buffer.concat([b, options]);
};

describe('parseQuery', () => {
  test('a plain query keeps the case asked and a lower-case key', () => {
    const r = parseQuery(query());
    expect(r.kind).toBe('query');
    if (r.kind !== 'query') return;
    expect(r.query.qlabels).toEqual(['www', 'Example', 'com']);
    expect(r.query.qkey).toBe('www.example.com.');
    expect(r.query.qtype).toBe(1);
    expect(r.query.rd).toBe(true);
    expect(r.query.edns).toBeUndefined();
  });

  test('EDNS0 OPT is parsed: size, version, DO', () => {
    const q = Buffer.concat([name('a'), Buffer.from([0, 1, 0, 1])]);
    const r = parseQuery(query({ ar: 1, body: Buffer.concat([q, opt(4096)]) }));
    expect(r.kind === 'query' && r.query.edns).toEqual({ udpSize: 4096, version: 0, dnssecOk: false });
  });

  const q = Buffer.concat([name('a'), Buffer.from([0, 1, 0, 1])]);
  const cases: [string, Buffer, string, number?][] = [
    ['short header', Buffer.alloc(5), 'drop'],
    ['a response (QR=1)', query({ flags: 0x8000 }), 'drop'],
    ['qdcount 0', query({ qd: 0, body: Buffer.alloc(0) }), 'error', Rcode.FORMERR],
    ['qdcount 2', query({ qd: 2, body: Buffer.concat([q, q]) }), 'error', Rcode.FORMERR],
    ['truncated question', query({ body: name('a').subarray(0, 2) }), 'error', Rcode.FORMERR],
    ['trailing bytes', query({ body: Buffer.concat([q, Buffer.from([1, 2, 3])]) }), 'error', Rcode.FORMERR],
    ['pointer loop', query({ body: Buffer.from([0xc0, 12, 0, 1, 0, 1]) }), 'error', Rcode.FORMERR],
    ['forward pointer', query({ body: Buffer.from([0xc0, 20, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]) }), 'error', Rcode.FORMERR],
    ['label over 63', query({ body: Buffer.concat([Buffer.from([64]), Buffer.alloc(64, 97), Buffer.from([0, 0, 1, 0, 1])]) }), 'error', Rcode.FORMERR],
    ['name over 255', query({ body: Buffer.concat([name(...Array(5).fill('x'.repeat(60))), Buffer.from([0, 1, 0, 1])]) }), 'error', Rcode.FORMERR],
    ['huge counts', query({ an: 0xffff, ns: 0xffff, ar: 0xffff }), 'error', Rcode.FORMERR],
    ['two OPT records', query({ ar: 2, body: Buffer.concat([q, opt(1232), opt(1232)]) }), 'error', Rcode.FORMERR],
    ['OPT with a bad option length', query({ ar: 1, body: Buffer.concat([q, opt(1232, 0, Buffer.from([0, 10, 0, 9, 1]))]) }), 'error', Rcode.FORMERR],
    ['EDNS version 1', query({ ar: 1, body: Buffer.concat([q, opt(1232, 1)]) }), 'error', Rcode.BADVERS],
    ['opcode STATUS', query({ flags: 2 << 11 }), 'error', Rcode.NOTIMP],
  ];
  test.each(cases)('%s', (_label, msg, kind, rcode) => {
    const r = parseQuery(msg);
    expect(r.kind).toBe(kind);
    if (r.kind === 'error') expect(r.rcode).toBe(rcode);
  });
});

describe('ResponseWriter', () => {
  test('compresses repeated names and refuses what does not fit', () => {
    const w = new ResponseWriter(60);
    expect(w.question(['www', 'example', 'com'], 1, 1)).toBe(true);
    const before = w.off;
    expect(w.record({ owner: ['www', 'example', 'com'], type: 1, klass: 1, ttl: 60, rdata: Buffer.from([10, 0, 0, 1]) })).toBe(true);
    expect(w.off - before).toBe(2 + 10 + 4); // owner is a 2-byte pointer
    expect(w.record({ owner: ['a-very-long-label-that-will-not-fit', 'example', 'com'], type: 1, klass: 1, ttl: 60, rdata: Buffer.alloc(4) })).toBe(false);
    expect(w.off - before).toBe(16);
  });
});
