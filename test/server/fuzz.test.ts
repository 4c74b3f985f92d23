// Bad input on the wire (issue 2, DESIGN "Bad input anywhere"): more than 100,000 random,
// truncated, mutated and hostile DNS messages over UDP and TCP against the real `roamdns serve`.
// The server must never crash, hang or answer SERVFAIL; every answer must be a well-formed DNS
// message for the query it answers (same ID and opcode, an allowed rcode); messages it cannot
// answer (shorter than a header, QR=1) are dropped and counted; afterwards it answers at once.
// The packets come from a seeded PRNG: every failure message names the seed (FUZZ_SEED=n to replay).
import dgram from 'node:dgram';
import net from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { encodeMessage, makeTempDir, parseMessage, query, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';
import { Rng } from '../helpers/rng.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2026) >>> 0;
const HOST = '127.0.0.1';
const UDP_RANDOM = 100_000; // random/mutated UDP datagrams, on top of the fixed and hostile sets
const TCP_CONNS = 6;
const TCP_PER_CONN = 5_000;
const UDP_BATCH = 64; // in flight at once: keeps the server's 208 KiB receive buffer from overflowing
const TCP_CHUNK = 200;
const ALLOWED_RCODES = new Set(['NOERROR', 'FORMERR', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS']);

// ---- the zone under attack (TEST-NET data only; nothing here is ever contacted) ----------------

const BIG_TXT = Array.from({ length: 40 }, (_, i) => `big TXT "${String(i).padStart(2, '0')}${'x'.repeat(58)}"`);
const ZONE = [
  '$ORIGIN fuzz.test.', '$TTL 300',
  '@ IN SOA ns1 hostmaster 1 3600 600 1209600 60', '@ NS ns1', '@ NS ns2', '@ MX 10 mail',
  'ns1 A 192.0.2.1', 'ns2 A 192.0.2.2', 'mail A 192.0.2.25', 'mail AAAA 2001:db8::25',
  'www A 192.0.2.10', 'www A 192.0.2.11', 'www AAAA 2001:db8::10',
  'alias CNAME www', 'chain CNAME alias', 'out CNAME www.example.net.',
  '*.wild TXT "wildcard"', 'sub NS ns.sub', 'ns.sub A 192.0.2.53',
  '_http._tcp SRV 0 5 80 www', 'caa CAA 0 issue "ca.example.net"', ...BIG_TXT, '',
].join('\n');

// ---- message building blocks -------------------------------------------------------------------

const u16 = (...v: number[]): Buffer => { const b = Buffer.alloc(v.length * 2); v.forEach((x, i) => b.writeUInt16BE(x, i * 2)); return b; };
const name = (...labels: string[]): Buffer => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
const header = (o: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number } = {}): Buffer =>
  u16(o.id ?? 0, o.flags ?? 0, o.qd ?? 1, o.an ?? 0, o.ns ?? 0, o.ar ?? 0);
const question = (n: Buffer, type = 1, klass = 1): Buffer => Buffer.concat([n, u16(type, klass)]);
const WWW = name('www', 'fuzz', 'test');
const WWW_Q = question(WWW);
function opt(o: { udp?: number; ext?: number; version?: number; flags?: number; rdata?: Buffer; owner?: Buffer; rdlen?: number } = {}): Buffer {
  const rdata = o.rdata ?? Buffer.alloc(0);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(41, 0);
  fixed.writeUInt16BE(o.udp ?? 1232, 2);
  fixed[4] = o.ext ?? 0;
  fixed[5] = o.version ?? 0;
  fixed.writeUInt16BE(o.flags ?? 0, 6);
  fixed.writeUInt16BE(o.rdlen ?? rdata.length, 8);
  return Buffer.concat([o.owner ?? Buffer.from([0]), fixed, rdata]);
}
const rr = (owner: Buffer, type: number, rdata: Buffer, rdlen = rdata.length): Buffer =>
  Buffer.concat([owner, u16(type, 1, 0, 300, rdlen), rdata]);
const frame = (m: Buffer): Buffer => Buffer.concat([u16(m.length), m]);

/** Valid queries the mutations start from: every lookup outcome, with and without EDNS. */
const BASE: Buffer[] = (() => {
  const names = ['fuzz.test', 'www.fuzz.test', 'WwW.FuZz.TeSt', 'mail.fuzz.test', 'alias.fuzz.test', 'chain.fuzz.test',
    'out.fuzz.test', 'x.wild.fuzz.test', 'a.b.wild.fuzz.test', 'host.sub.fuzz.test', 'sub.fuzz.test', 'big.fuzz.test',
    'nothing.fuzz.test', '_http._tcp.fuzz.test', 'caa.fuzz.test', 'example.org', '.'];
  const types = ['A', 'AAAA', 'TXT', 'MX', 'NS', 'SOA', 'ANY', 'SRV', 'CAA', 'CNAME', 'AXFR', 'IXFR', 'TYPE65534'];
  const out: Buffer[] = [];
  const r = new Rng(SEED ^ 0xba5e);
  for (const n of names) {
    for (let i = 0; i < 4; i++) {
      const edns = r.pick([null, true, { udpSize: 512 }, { udpSize: 4096, do: true }, { udpSize: 1232 }]);
      out.push(encodeMessage({ id: 0, rd: r.next() < 0.5, edns, questions: [{ name: n, type: r.pick(types), class: r.next() < 0.95 ? 'IN' : 'CH' }] }));
    }
  }
  return out;
})();

/** A copy of `m` carrying `id` (messages shorter than 2 octets have no ID to set). */
function withId(m: Buffer, id: number): Buffer {
  const c = Buffer.from(m);
  if (c.length >= 2) c.writeUInt16BE(id & 0xffff, 0);
  return c;
}

/** What the server must do with a message: answer it, or drop it (RFC 1035 §4.1.1: never answer a response). */
const expectsReply = (m: Buffer): boolean => m.length >= 12 && (m[2]! & 0x80) === 0;

/** One to three mutations of a valid query, each a kind of damage seen in the wild. */
function mutate(r: Rng, src: Buffer): Buffer {
  let m = Buffer.from(src);
  for (let k = 1 + r.int(3); k > 0; k--) {
    const at = m.length ? r.int(m.length) : 0;
    switch (r.int(10)) {
      case 0: if (m.length) m[at] = m[at]! ^ (1 << r.int(8)); break; // bit flip
      case 1: if (m.length) m[at] = r.int(256); break; // byte replaced
      case 2: m = Buffer.concat([m.subarray(0, at), r.bytes(1 + r.int(4)), m.subarray(at)]); break; // insertion
      case 3: m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1 + r.int(4))]); break; // deletion
      case 4: m = m.subarray(0, r.int(m.length + 1)); break; // truncation
      case 5: if (m.length >= 12) m.writeUInt16BE(r.pick([0, 1, 2, 3, 0xff, 0x7fff, 0xffff, r.int(0x10000)]), 4 + 2 * r.int(4)); break; // a count
      case 6: if (m.length > 13) { m[12 + r.int(m.length - 13)] = 0xc0 | r.int(0x40); } break; // compression pointer planted
      case 7: m = Buffer.concat([m, m.subarray(12)]); break; // question/records repeated
      case 8: { // an OPT added, often broken
        m = Buffer.concat([m, opt({ udp: r.int(0x10000), version: r.pick([0, 0, 1, 255]), rdata: r.bytes(r.int(12)), rdlen: r.next() < 0.7 ? undefined : r.int(64) })]);
        if (m.length >= 12) m.writeUInt16BE((m.readUInt16BE(10) + 1) & 0xffff, 10);
        break;
      }
      default: if (m.length >= 4) m.writeUInt16BE(r.int(0x10000) & ~0x8000, 2); // opcode, flags and rcode bits (QR kept clear)
    }
  }
  return m;
}

/** The random stream: mutated, truncated, count-changed and plain valid queries, random bytes. */
function randomPacket(r: Rng): Buffer {
  const base = r.pick(BASE);
  const roll = r.next();
  if (roll < 0.40) return mutate(r, base);
  if (roll < 0.52) return base.subarray(0, r.int(base.length));
  if (roll < 0.62) { const m = Buffer.from(base); m.writeUInt16BE(r.pick([0, 2, 3, 0xffff, r.int(0x10000)]), 4 + 2 * r.int(4)); return m; }
  if (roll < 0.75) return r.bytes(r.next() < 0.5 ? r.int(32) : r.int(700));
  if (roll < 0.88) return Buffer.concat([header({ flags: r.int(0x8000), qd: r.int(3), an: r.int(3), ns: r.int(2), ar: r.int(3) }), r.bytes(r.int(300))]);
  if (roll < 0.90) { const m = Buffer.from(base); m[2] = m[2]! | 0x80; return m; } // QR=1: must be dropped
  return base;
}

/** Every prefix of every base query: truncation at every length. */
const TRUNCATIONS: Buffer[] = BASE.flatMap((b) => Array.from({ length: b.length }, (_, n) => b.subarray(0, n)));

// ---- hostile messages with the outcome each must get ---------------------------------------------

interface Hostile { what: string; msg: Buffer; expect: 'drop' | string[]; tcpExpect?: 'drop' | string[] }
const F = ['FORMERR'];
const long = (n: number, ch = 'a'): string => ch.repeat(n);
const HOSTILE: Hostile[] = [
  { what: 'zero-length message', msg: Buffer.alloc(0), expect: 'drop' },
  { what: '1-byte message', msg: Buffer.from([0x42]), expect: 'drop' },
  { what: '11-byte message (short header)', msg: header().subarray(0, 11), expect: 'drop' },
  { what: 'header only, qdcount 0', msg: header({ qd: 0 }), expect: F },
  { what: 'qdcount 0 with a question after it', msg: Buffer.concat([header({ qd: 0 }), WWW_Q]), expect: F },
  { what: 'qdcount 2 with two questions', msg: Buffer.concat([header({ qd: 2 }), WWW_Q, WWW_Q]), expect: F },
  { what: 'qdcount 2 with one question', msg: Buffer.concat([header({ qd: 2 }), WWW_Q]), expect: F },
  { what: 'qdcount 65535', msg: Buffer.concat([header({ qd: 0xffff }), WWW_Q]), expect: F },
  { what: 'ancount 65535, no records', msg: Buffer.concat([header({ an: 0xffff }), WWW_Q]), expect: F },
  { what: 'nscount 65535, no records', msg: Buffer.concat([header({ ns: 0xffff }), WWW_Q]), expect: F },
  { what: 'arcount 65535, no records', msg: Buffer.concat([header({ ar: 0xffff }), WWW_Q]), expect: F },
  { what: 'every count 65535', msg: Buffer.concat([header({ qd: 0xffff, an: 0xffff, ns: 0xffff, ar: 0xffff }), WWW_Q]), expect: F },
  { what: 'compression pointer to itself', msg: Buffer.concat([header(), Buffer.from([0xc0, 12]), u16(1, 1)]), expect: F },
  { what: 'pointer loop: a label, then a pointer back to it', msg: Buffer.concat([header(), Buffer.from([1, 0x61, 0xc0, 12]), u16(1, 1)]), expect: F },
  { what: 'pointer loop: two labels pointing at each other', msg: Buffer.concat([header(), Buffer.from([1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12]), u16(1, 1)]), expect: F },
  { what: 'pointer loop: two pointers pointing at each other, no labels', msg: Buffer.concat([header(), Buffer.from([0xc0, 14, 0xc0, 12]), u16(1, 1)]), expect: F },
  { what: 'pointer loop growing past 255 octets', msg: Buffer.concat([header(), Buffer.from([63]), Buffer.from(long(63)), Buffer.from([63]), Buffer.from(long(63, 'b')), Buffer.from([0xc0, 12]), u16(1, 1)]), expect: F },
  { what: 'forward compression pointer to a valid name', msg: Buffer.concat([header(), Buffer.from([0xc0, 18]), u16(1, 1), WWW]), expect: F },
  { what: 'pointer into the header (reads the counts as a root name)', msg: Buffer.concat([header(), Buffer.from([0xc0, 6]), u16(1, 1)]), expect: ['FORMERR', 'REFUSED'] },
  { what: 'pointer into the header (reads the ID as a label)', msg: Buffer.concat([header(), Buffer.from([0xc0, 0]), u16(1, 1)]), expect: ['FORMERR', 'REFUSED', 'NXDOMAIN'] },
  { what: 'pointer past the end of the message', msg: Buffer.concat([header(), Buffer.from([0xff, 0xff]), u16(1, 1)]), expect: F },
  { what: 'truncated compression pointer', msg: Buffer.concat([header(), Buffer.from([0xc0])]), expect: F },
  { what: 'label of 63 octets (legal)', msg: Buffer.concat([header(), question(name(long(63), 'fuzz', 'test'))]), expect: ['NXDOMAIN'] },
  { what: 'label length 64', msg: Buffer.concat([header(), question(name(long(64), 'fuzz', 'test'))]), expect: F },
  { what: 'label length 0x7f (extended label type)', msg: Buffer.concat([header(), Buffer.from([0x7f]), Buffer.from(long(127)), Buffer.from([0]), u16(1, 1)]), expect: F },
  { what: 'label type 0x80 (reserved)', msg: Buffer.concat([header(), Buffer.from([0x81, 0x61, 0]), u16(1, 1)]), expect: F },
  { what: 'name of exactly 255 octets (legal)', msg: Buffer.concat([header(), question(name(long(60), long(60), long(60), long(60), 'fuzz', 'test'))]), expect: ['NXDOMAIN'] },
  { what: 'name of 256 octets', msg: Buffer.concat([header(), question(name(long(61), long(60), long(60), long(60), 'fuzz', 'test'))]), expect: F },
  { what: 'name of 122 one-octet labels (255 octets)', msg: Buffer.concat([header(), question(name(...Array<string>(122).fill('a'), 'fuzz', 'test'))]), expect: ['NXDOMAIN'] },
  { what: 'name of 200 one-octet labels', msg: Buffer.concat([header(), question(name(...Array<string>(200).fill('a'), 'fuzz', 'test'))]), expect: F },
  { what: 'name running past the end', msg: Buffer.concat([header(), Buffer.from([3, 0x77, 0x77])]), expect: F },
  { what: 'question without type and class', msg: Buffer.concat([header(), WWW]), expect: F },
  { what: 'trailing garbage after the question', msg: Buffer.concat([header(), WWW_Q, Buffer.from([1, 2, 3])]), expect: F },
  { what: 'binary octets in a label', msg: Buffer.concat([header(), question(name('\x00.\xff\\"', 'fuzz', 'test'))]), expect: ['NXDOMAIN'] },
  { what: 'root name', msg: Buffer.concat([header(), question(Buffer.from([0]), 6)]), expect: ['REFUSED'] },
  { what: 'two OPT records', msg: Buffer.concat([header({ ar: 2 }), WWW_Q, opt(), opt()]), expect: F },
  { what: 'OPT option length past its RDATA', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ rdata: Buffer.concat([u16(10, 40), Buffer.alloc(4)]) })]), expect: F },
  { what: 'OPT with a 3-octet option header', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ rdata: Buffer.from([0, 10, 0]) })]), expect: F },
  { what: 'OPT RDLENGTH past the end', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ rdlen: 100 })]), expect: F },
  { what: 'OPT owner not the root', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ owner: name('x') })]), expect: F },
  { what: 'EDNS version 1', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ version: 1 })]), expect: ['BADVERS'] },
  { what: 'EDNS version 255', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ version: 255, flags: 0x8000 })]), expect: ['BADVERS'] },
  { what: 'EDNS UDP size 0', msg: Buffer.concat([header({ ar: 1 }), question(name('big', 'fuzz', 'test'), 16), opt({ udp: 0 })]), expect: ['NOERROR'] },
  { what: 'EDNS UDP size 65535', msg: Buffer.concat([header({ ar: 1 }), question(name('big', 'fuzz', 'test'), 16), opt({ udp: 65535 })]), expect: ['NOERROR'] },
  { what: 'OPT with well-formed options (cookie, padding)', msg: Buffer.concat([header({ ar: 1 }), WWW_Q, opt({ rdata: Buffer.concat([u16(10, 8), Buffer.alloc(8, 7), u16(12, 3), Buffer.alloc(3)]) })]), expect: ['NOERROR'] },
  { what: 'OPT in the answer section', msg: Buffer.concat([header({ an: 1 }), WWW_Q, opt()]), expect: ['NOERROR', 'FORMERR'] },
  { what: 'answer RR whose owner is a pointer loop', msg: Buffer.concat([header({ an: 1 }), WWW_Q, rr(Buffer.from([0xc0, 31]), 1, Buffer.alloc(4))]), expect: F },
  { what: 'answer RR with RDLENGTH 65535', msg: Buffer.concat([header({ an: 1 }), WWW_Q, rr(Buffer.from([0xc0, 12]), 1, Buffer.alloc(4), 0xffff)]), expect: F },
  { what: 'authority RR truncated in its header', msg: Buffer.concat([header({ ns: 1 }), WWW_Q, Buffer.from([0xc0, 12, 0, 1, 0])]), expect: F },
  ...Array.from({ length: 16 }, (_, op): Hostile => ({ what: `opcode ${op}`, msg: Buffer.concat([header({ flags: op << 11 }), WWW_Q]), expect: op === 0 ? ['NOERROR'] : ['NOTIMP'] })),
  { what: 'QR=1 (a response) with a valid question', msg: Buffer.concat([header({ flags: 0x8400, an: 0 }), WWW_Q]), expect: 'drop' },
  { what: 'QR=1 with garbage', msg: Buffer.concat([header({ flags: 0xffff, qd: 0xffff }), Buffer.from('garbage')]), expect: 'drop' },
  { what: 'QR=1 header only', msg: header({ flags: 0x8000, qd: 0 }), expect: 'drop' },
  { what: 'every flag but QR set, rcode 15', msg: Buffer.concat([header({ flags: 0x07ff }), WWW_Q]), expect: ['NOERROR'] },
  { what: 'AXFR', msg: Buffer.concat([header(), question(name('fuzz', 'test'), 252)]), expect: ['FORMERR', 'REFUSED', 'NOTIMP'], tcpExpect: ['REFUSED'] },
  // RFC 1995 §3: an IXFR query carries the client's SOA in the authority section; without it, FORMERR is fair.
  { what: 'IXFR without an SOA', msg: Buffer.concat([header(), question(name('fuzz', 'test'), 251)]), expect: ['FORMERR', 'REFUSED', 'NOTIMP'] },
  { what: 'IXFR with an SOA, current serial', msg: Buffer.concat([header({ ns: 1 }), question(name('fuzz', 'test'), 251), rr(Buffer.from([0xc0, 12]), 6, Buffer.concat([Buffer.from([0, 0]), u16(0, 1, 0, 0, 0, 0, 0, 0, 0, 0)]))]), expect: ['NOERROR', 'REFUSED', 'NOTIMP'] },
  { what: 'IXFR with an SOA, old serial', msg: Buffer.concat([header({ ns: 1 }), question(name('fuzz', 'test'), 251), rr(Buffer.from([0xc0, 12]), 6, Buffer.concat([Buffer.from([0, 0]), u16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]))]), expect: ['NOERROR', 'REFUSED', 'NOTIMP'], tcpExpect: ['REFUSED'] },
  { what: 'IXFR whose authority SOA owner is a forward pointer', msg: Buffer.concat([header({ ns: 1 }), question(name('fuzz', 'test'), 251), rr(Buffer.from([0xc0, 29]), 6, Buffer.alloc(22))]), expect: F },
  { what: 'IXFR whose authority SOA owner points at itself', msg: Buffer.concat([header({ ns: 1 }), question(name('fuzz', 'test'), 251), rr(Buffer.from([0xc0, 27]), 6, Buffer.alloc(22))]), expect: F },
  { what: 'qtype OPT', msg: Buffer.concat([header(), question(WWW, 41)]), expect: F },
  { what: 'qtype MAILA', msg: Buffer.concat([header(), question(WWW, 254)]), expect: ['NOTIMP', 'NOERROR'] },
  { what: 'qtype 0', msg: Buffer.concat([header(), question(WWW, 0)]), expect: ['NOERROR', 'FORMERR'] },
  { what: 'class CH', msg: Buffer.concat([header(), question(WWW, 16, 3)]), expect: ['REFUSED'] },
  { what: 'class ANY (QCLASS *, RFC 1035 §3.2.5)', msg: Buffer.concat([header(), question(WWW, 1, 255)]), expect: ['NOERROR', 'REFUSED'] },
  { what: 'class NONE', msg: Buffer.concat([header(), question(WWW, 1, 254)]), expect: ['REFUSED'] },
  { what: 'a 65507-octet UDP datagram / 65535-octet TCP message (query + garbage)', msg: Buffer.concat([header(), WWW_Q, Buffer.alloc(65535 - 12 - WWW_Q.length, 0xc0)]), expect: F },
];

// ---- response checks -----------------------------------------------------------------------------

/** Offset after the name at `off`; throws on anything a correct writer never produces. */
function skipName(b: Buffer, off: number): number {
  let end = -1, jumps = 0, total = 1;
  for (;;) {
    if (off >= b.length) throw new Error('name runs past the end');
    const len = b[off]!;
    if (len === 0) return end < 0 ? off + 1 : end;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= b.length) throw new Error('truncated pointer');
      const ptr = ((len & 0x3f) << 8) | b[off + 1]!;
      if (ptr >= off || ++jumps > 127) throw new Error('forward or looping compression pointer');
      if (end < 0) end = off + 2;
      off = ptr;
      continue;
    }
    if (len & 0xc0) throw new Error('bad label type');
    total += len + 1;
    if (total > 255) throw new Error('name over 255 octets');
    off += 1 + len;
  }
}

/** Problems with `reply` as the answer to `sent` over `transport`; empty when it is a correct DNS answer. */
function replyProblems(reply: Buffer, sent: Buffer, transport: 'udp' | 'tcp'): string[] {
  const p: string[] = [];
  if (reply.length < 12) return [`reply of ${reply.length} octets`];
  try {
    let off = 12, opts = 0;
    const counts = [4, 6, 8, 10].map((o) => reply.readUInt16BE(o));
    for (let i = 0; i < counts[0]!; i++) off = skipName(reply, off) + 4;
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s + 1]!; i++) {
        off = skipName(reply, off);
        if (off + 10 > reply.length) throw new Error('RR header runs past the end');
        if (reply.readUInt16BE(off) === 41) { if (s !== 2) p.push('OPT outside the additional section'); opts++; }
        off += 10 + reply.readUInt16BE(off + 8);
      }
    }
    if (off !== reply.length) p.push(`message ends at ${off} but has ${reply.length} octets`);
    if (opts > 1) p.push(`${opts} OPT records`);
    if (counts[0]! > 1) p.push(`qdcount ${counts[0]}`);
    const res = parseMessage(reply);
    if (!res.flags.qr) p.push('QR clear');
    if (res.flags.ra) p.push('RA set by an authoritative-only server');
    if (sent.length >= 2 && res.id !== sent.readUInt16BE(0)) p.push(`ID ${res.id} answers query ID ${sent.readUInt16BE(0)}`);
    if (sent.length >= 3 && res.opcode !== ((sent[2]! >> 3) & 0xf)) p.push(`opcode ${res.opcode} answers opcode ${(sent[2]! >> 3) & 0xf}`);
    if (!ALLOWED_RCODES.has(res.rcodeName)) p.push(`rcode ${res.rcodeName}`);
    if (transport === 'udp' && reply.length > (opts ? 1232 : 512)) p.push(`UDP reply of ${reply.length} octets (${opts ? 'EDNS' : 'no EDNS'})`);
  } catch (e) {
    p.push(`malformed reply: ${(e as Error).message}`);
  }
  return p;
}

// ---- the fuzzing clients -------------------------------------------------------------------------

interface Tally { sent: number; expectedReplies: number; expectedDrops: number; replies: number; lostInTransit: number; rcodes: Record<string, number> }
const newTally = (): Tally => ({ sent: 0, expectedReplies: 0, expectedDrops: 0, replies: 0, lostInTransit: 0, rcodes: {} });
const failures: string[] = [];
let failureCount = 0;
function fail(transport: string, msg: Buffer, problem: string): void {
  failureCount++;
  if (failures.length < 25) failures.push(`[${transport}] ${problem}; sent (${msg.length} octets) ${msg.subarray(0, 96).toString('hex')}${msg.length > 96 ? '…' : ''}`);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One UDP socket; batches of at most UDP_BATCH datagrams, each answered or accounted for before the next. */
class UdpFuzzer {
  private sock = dgram.createSocket('udp4');
  private inflight = new Map<number, Buffer>();
  private waiter: (() => void) | null = null;
  private nextId = 0;
  constructor(private readonly port: number, readonly tally: Tally) {
    this.sock.on('message', (m) => this.onReply(m));
  }

  async open(): Promise<void> {
    await new Promise<void>((res) => this.sock.bind(0, HOST, () => res()));
    this.sock.setRecvBufferSize(4 << 20);
    this.sock.setSendBufferSize(4 << 20);
  }

  private onReply(m: Buffer): void {
    this.tally.replies++;
    const id = m.length >= 2 ? m.readUInt16BE(0) : -1;
    const sent = this.inflight.get(id);
    if (!sent) return fail('udp', m, `reply with ID ${id} to no message in flight (it was dropped-expected or already answered)`);
    this.inflight.delete(id);
    const res = m.length >= 12 ? parseMessage(m) : null;
    if (res) this.tally.rcodes[res.rcodeName] = (this.tally.rcodes[res.rcodeName] ?? 0) + 1;
    for (const p of replyProblems(m, sent, 'udp')) fail('udp', sent, p);
    if (this.inflight.size === 0) this.waiter?.();
  }

  /** Sends `msgs` (IDs overwritten with unique ones) and waits for every answer that must come. */
  async batch(msgs: Buffer[]): Promise<void> {
    const mine: number[] = [];
    for (const raw of msgs) {
      const id = this.nextId++ & 0xffff;
      const m = withId(raw, id);
      this.tally.sent++;
      if (expectsReply(m)) { this.tally.expectedReplies++; this.inflight.set(id, m); mine.push(id); } else this.tally.expectedDrops++;
      this.sock.send(m, this.port, HOST);
    }
    if (this.inflight.size > 0) {
      await Promise.race([new Promise<void>((r) => { this.waiter = r; }), sleep(2000)]);
      this.waiter = null;
    }
    const missing = mine.filter((i) => this.inflight.has(i));
    if (missing.length === 0) return;
    // The server handles one socket's datagrams in order: if it stopped answering altogether,
    // the first unanswered message of the batch is the one that hung or killed it. Stop here.
    const probe = await query(this.port, 'www.fuzz.test', 'A', { timeoutMs: 1000 }).then(() => true, () => false);
    if (!probe) {
      const first = this.inflight.get(missing[0]!)!;
      throw new Error(`roamdns stopped answering valid queries during a UDP batch (FUZZ_SEED=${SEED}); ` +
        `first unanswered message (${first.length} octets): ${first.subarray(0, 300).toString('hex')}`);
    }
    // Missing answers: resend each once alone. Answered now = lost in transit; still silent = a server bug.
    for (const id of missing) {
      const m = this.inflight.get(id)!;
      this.sock.send(m, this.port, HOST);
      for (let t = 0; t < 100 && this.inflight.has(id); t++) await sleep(10);
      if (this.inflight.has(id)) { this.inflight.delete(id); fail('udp', m, 'no answer within 2 s, nor to a resend'); } else this.tally.lostInTransit++;
    }
  }

  close(): void { this.sock.close(); }
}

/** One TCP connection: length-prefixed messages out, answers read as they come. */
class TcpConn {
  private sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private frames: Buffer[] = [];
  private wake: (() => void) | null = null;
  closed = false;
  constructor(port: number) {
    this.sock = net.connect({ host: HOST, port, localAddress: HOST });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        this.frames.push(this.buf.subarray(2, 2 + this.buf.readUInt16BE(0)));
        this.buf = this.buf.subarray(2 + this.buf.readUInt16BE(0));
      }
      this.wake?.();
    });
    this.sock.on('error', () => { /* reported through `closed` */ });
    this.sock.on('close', () => { this.closed = true; this.wake?.(); });
  }

  ready(): Promise<void> {
    return new Promise((res, rej) => { this.sock.once('connect', () => res()); this.sock.once('error', rej); });
  }

  write(b: Buffer): Promise<void> {
    return new Promise((res) => { if (!this.sock.write(b)) this.sock.once('drain', () => res()); else res(); });
  }

  /** The next answer, or null when none comes within `timeoutMs` or the server closed the connection. */
  async next(timeoutMs: number): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed || Date.now() >= deadline) return null;
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, Math.max(1, deadline - Date.now())); });
      this.wake = null;
    }
    return this.frames.shift()!;
  }

  pendingFrames(): number { return this.frames.length; }
  close(): void { this.sock.destroy(); }
}

/** Sends `msgs` pipelined on `conn` (one write, or in random slices), then reads every answer that must come. */
async function tcpChunk(conn: TcpConn, msgs: Buffer[], idBase: number, tally: Tally, r: Rng | null): Promise<void> {
  const waiting = new Map<number, Buffer>();
  const stamped = msgs.map((raw, i) => {
    const m = withId(raw, idBase + i);
    tally.sent++;
    if (expectsReply(m)) { tally.expectedReplies++; waiting.set(idBase + i, m); } else tally.expectedDrops++;
    return frame(m);
  });
  const bytes = Buffer.concat(stamped);
  if (!r) await conn.write(bytes);
  else for (let o = 0; o < bytes.length; ) { const n = 1 + r.int(300); await conn.write(bytes.subarray(o, o + n)); o += n; if (r.next() < 0.05) await sleep(0); }
  while (waiting.size > 0) {
    const reply = await conn.next(5000);
    if (!reply) {
      for (const m of waiting.values()) fail('tcp', m, conn.closed ? 'connection closed by the server before the answer' : 'no answer within 5 s');
      return;
    }
    tally.replies++;
    const id = reply.length >= 2 ? reply.readUInt16BE(0) : -1;
    const sent = waiting.get(id);
    if (!sent) { fail('tcp', reply, `answer with ID ${id} to no message waiting for one`); continue; }
    waiting.delete(id);
    if (reply.length >= 12) { const rc = parseMessage(reply).rcodeName; tally.rcodes[rc] = (tally.rcodes[rc] ?? 0) + 1; }
    for (const p of replyProblems(reply, sent, 'tcp')) fail('tcp', sent, p);
  }
}

// ---- metrics -----------------------------------------------------------------------------------

async function metricSums(statusPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${HOST}:${statusPort}/metrics`)).text();
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) sums[m[1]!] = (sums[m[1]!] ?? 0) + Number(m[2]);
  }
  return sums;
}

// ---- the test ------------------------------------------------------------------------------------

describe(`fuzzing the wire path (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, () => {
  let server: RoamdnsServer;
  let dir: string;
  let before: Record<string, number>;
  const udpTally = newTally();
  const tcpTally = newTally();

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-fuzz');
    await writeFile(path.join(dir, 'fuzz.test.zone'), ZONE);
    // AXFR is not allowed to 127.0.0.1 here, so every message gets at most one answer.
    server = await startRoamdns({ zones: [path.join(dir, 'fuzz.test.zone')], transferAllow: ['192.0.2.250/32'], extraYaml: 'log:\n  level: warn\n' });
    before = await metricSums(server.statusPort);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Each test reports its own failures (the tallies and counters add up across tests).
  beforeEach(() => { failures.length = 0; failureCount = 0; });

  const alive = (): void => {
    expect(server.proc.child.exitCode, `roamdns exited:\n${server.proc.output()}`).toBeNull();
    expect(server.proc.child.signalCode).toBeNull();
  };
  const noFailures = (): void => {
    expect(failures, `${failureCount} failure(s) with FUZZ_SEED=${SEED}; first ones:\n${failures.join('\n')}\nserver output:\n${server.proc.output().slice(-3000)}`).toEqual([]);
  };

  test('hostile messages get the answer (or the silence) each one must get, over UDP and TCP', async () => {
    const conn = new TcpConn(server.port);
    await conn.ready();
    const sentinel = encodeMessage({ id: 0, questions: [{ name: 'www.fuzz.test', type: 'A' }] });
    try {
      for (const [i, h] of HOSTILE.entries()) {
        for (const transport of ['udp', 'tcp'] as const) {
          const expected = transport === 'tcp' ? h.tcpExpect ?? h.expect : h.expect;
          const msg = withId(transport === 'udp' && h.msg.length > 65507 ? h.msg.subarray(0, 65507) : h.msg, 0x4000 + i);
          // The sentinel is answered only after `msg` was handled: a reply to `msg` must have come first.
          const tally = transport === 'udp' ? udpTally : tcpTally;
          tally.sent += 2;
          tally.expectedReplies++;
          if (expectsReply(msg)) tally.expectedReplies++; else tally.expectedDrops++;
          const got = await exchangeWithSentinel(transport, conn, msg, withId(sentinel, 0x7000 + i), server.port);
          tally.replies += (got.reply ? 1 : 0) + (got.sentinelOk ? 1 : 0);
          if (expected === 'drop') {
            if (got.reply) fail(transport, msg, `${h.what}: answered ${parseMessage(got.reply).rcodeName}, must be dropped`);
          } else if (!got.reply) {
            fail(transport, msg, `${h.what}: no answer, expected ${expected.join('/')}`);
          } else {
            const res = parseMessage(got.reply);
            if (!expected.includes(res.rcodeName)) fail(transport, msg, `${h.what}: answered ${res.rcodeName}, expected ${expected.join('/')}`);
            if (res.rcodeName === 'BADVERS' && (!res.edns || res.edns.version !== 0)) fail(transport, msg, `${h.what}: BADVERS without an OPT of version 0 (RFC 6891 §6.1.3)`);
            for (const p of replyProblems(got.reply, msg, transport)) fail(transport, msg, `${h.what}: ${p}`);
          }
          if (!got.sentinelOk) {
            fail(transport, msg, `${h.what}: the valid query sent after it was not answered NOERROR; roamdns hung or died on this message, stopping`);
            noFailures();
          }
        }
      }
    } finally {
      conn.close();
    }
    alive();
    noFailures();
  });

  test(`${UDP_RANDOM} random, mutated and truncated datagrams over UDP (every prefix of every base query too)`, async () => {
    const r = new Rng(SEED);
    const udp = new UdpFuzzer(server.port, udpTally);
    await udp.open();
    const started = Date.now();
    try {
      const all = [...TRUNCATIONS];
      for (let i = 0; i < UDP_RANDOM; i++) all.push(randomPacket(r));
      for (let i = 0; i < all.length; i += UDP_BATCH) {
        await udp.batch(all.slice(i, i + UDP_BATCH));
        if (Date.now() - started > 75_000) throw new Error(`UDP fuzzing still running after 75 s (${i} sent): the server is too slow or hangs`);
        if (failureCount > 200) break;
      }
    } finally {
      udp.close();
    }
    console.info(`fuzz UDP (seed ${SEED}): ${JSON.stringify(udpTally)} in ${Date.now() - started} ms`);
    alive();
    noFailures();
    expect(udpTally.sent).toBeGreaterThanOrEqual(UDP_RANDOM);
    // Loopback loses nothing unless a buffer overflows; a handful of resends is tolerated, not more.
    expect(udpTally.lostInTransit).toBeLessThanOrEqual(udpTally.sent / 1000);
  }, 120_000);

  test(`${TCP_CONNS * TCP_PER_CONN} messages over ${TCP_CONNS} TCP connections, pipelined, some written in random slices`, async () => {
    const started = Date.now();
    await Promise.all(Array.from({ length: TCP_CONNS }, async (_, c) => {
      const r = new Rng(SEED ^ Math.imul(c + 1, 0x9e3779b1)); // one stream per connection: replayable
      const conn = new TcpConn(server.port);
      await conn.ready();
      try {
        const msgs = [...(c === 0 ? TRUNCATIONS : [])];
        while (msgs.length < TCP_PER_CONN) msgs.push(randomPacket(r));
        if (c === 1) msgs.push(...HOSTILE.map((h) => h.msg));
        for (let i = 0; i < msgs.length; i += TCP_CHUNK) {
          await tcpChunk(conn, msgs.slice(i, i + TCP_CHUNK), i, tcpTally, c % 2 === 1 ? r : null);
          if (conn.closed || failureCount > 200) break;
        }
        expect(conn.closed, `connection ${c} was closed by the server`).toBe(false);
      } finally {
        conn.close();
      }
    }));
    console.info(`fuzz TCP (seed ${SEED}): ${JSON.stringify(tcpTally)} in ${Date.now() - started} ms`);
    alive();
    noFailures();
  }, 120_000);

  test('valid queries split at every byte boundary over TCP are answered in full', async () => {
    const q1 = encodeMessage({ id: 0x1111, questions: [{ name: 'www.fuzz.test', type: 'A' }] });
    const q2 = encodeMessage({ id: 0x2222, edns: { udpSize: 1232 }, questions: [{ name: 'big.fuzz.test', type: 'TXT' }] });
    const both = Buffer.concat([frame(q1), frame(q2)]);
    const conn = new TcpConn(server.port);
    await conn.ready();
    const check = async (what: string): Promise<void> => {
      const a = await conn.next(3000), b = a ? await conn.next(3000) : null;
      if (!a || !b) { fail('tcp', both, `${what}: ${a ? 1 : 0} of 2 answers`); noFailures(); return; }
      const [ra, rb] = [parseMessage(a), parseMessage(b)];
      if (ra.id !== 0x1111 || ra.rcodeName !== 'NOERROR' || ra.answer.map((x) => x.rdata).sort().join() !== '192.0.2.10,192.0.2.11') fail('tcp', q1, `${what}: bad answer ${JSON.stringify(ra.answer)}`);
      if (rb.id !== 0x2222 || rb.rcodeName !== 'NOERROR' || rb.flags.tc || rb.answer.length !== 40) fail('tcp', q2, `${what}: ${rb.answer.length} of 40 TXT records, tc=${rb.flags.tc}`);
    };
    try {
      for (let k = 1; k < both.length; k++) {
        await conn.write(both.subarray(0, k));
        await sleep(1); // a separate segment: the server sees a partial message
        await conn.write(both.subarray(k));
        await check(`split at octet ${k}`);
      }
      for (const byte of both) { await conn.write(Buffer.from([byte])); await sleep(0); }
      await check('one octet per write');
      // The 65535-octet message, split in three, between two valid ones on the same connection.
      const huge = frame(withId(HOSTILE.find((h) => h.msg.length === 65535)!.msg, 0x3333));
      await conn.write(Buffer.concat([frame(q1), huge.subarray(0, 30_000)]));
      await sleep(5);
      await conn.write(huge.subarray(30_000, 60_000));
      await sleep(5);
      await conn.write(Buffer.concat([huge.subarray(60_000), frame(q2)]));
      const replies = [await conn.next(3000), await conn.next(3000), await conn.next(3000)];
      expect(replies.map((x) => (x ? `${x.readUInt16BE(0).toString(16)}:${parseMessage(x).rcodeName}` : 'none'))).toEqual(['1111:NOERROR', '3333:FORMERR', '2222:NOERROR']);
      expect(conn.closed).toBe(false);
    } finally {
      conn.close();
    }
    alive();
    noFailures();
  }, 60_000);

  test('afterwards: still running, answers at once over UDP and TCP, and the counters grew', async () => {
    alive();
    for (const transport of ['udp', 'tcp'] as const) {
      const res = await query(server.port, 'www.fuzz.test', 'A', { transport, timeoutMs: 1000 });
      expect(res.rcodeName).toBe('NOERROR');
      expect(res.flags.aa).toBe(true);
      expect(res.answer.map((a) => a.rdata).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    }
    const after = await metricSums(server.statusPort);
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    const drops = udpTally.expectedDrops + tcpTally.expectedDrops;
    console.info(`fuzz totals (seed ${SEED}): sent ${udpTally.sent + tcpTally.sent} (UDP ${udpTally.sent}, TCP ${tcpTally.sent}), ` +
      `answered ${udpTally.replies + tcpTally.replies}, dropped as expected ${drops}; server counted ` +
      `malformed +${delta('roamdns_dns_malformed_total')}, dropped +${delta('roamdns_dns_dropped_total')}, ` +
      `answered +${delta('roamdns_dns_queries_total')}, AXFR +${delta('roamdns_axfr_total')}, internal errors +${delta('roamdns_dns_internal_errors_total')}; ` +
      `rcodes UDP ${JSON.stringify(udpTally.rcodes)} TCP ${JSON.stringify(tcpTally.rcodes)}`);
    expect(udpTally.sent + tcpTally.sent).toBeGreaterThanOrEqual(100_000);
    expect(delta('roamdns_dns_malformed_total')).toBeGreaterThan(1000);
    // Every message that cannot be answered is counted as dropped, and nothing else is.
    expect(delta('roamdns_dns_dropped_total')).toBe(drops);
    // Every answer is counted: queries by rcode, zone-transfer requests (refused here) in their own counter.
    expect(delta('roamdns_dns_queries_total') + delta('roamdns_axfr_total')).toBeGreaterThanOrEqual(udpTally.replies + tcpTally.replies);
    expect(delta('roamdns_dns_internal_errors_total')).toBe(0);
    noFailures();
  });
});

/** Sends `msg`, then a valid `sentinel`; returns the reply to `msg` (if any) and whether the sentinel got NOERROR. */
async function exchangeWithSentinel(transport: 'udp' | 'tcp', conn: TcpConn, msg: Buffer, sentinel: Buffer, port: number): Promise<{ reply: Buffer | null; sentinelOk: boolean }> {
  const msgId = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
  const sentinelId = sentinel.readUInt16BE(0);
  let reply: Buffer | null = null;
  let sentinelOk = false;
  const take = (b: Buffer): boolean => {
    const id = b.length >= 2 ? b.readUInt16BE(0) : -2;
    if (id === sentinelId) { sentinelOk = b.length >= 12 && parseMessage(b).rcodeName === 'NOERROR'; return true; }
    if (id === msgId && !reply) reply = b;
    else fail(transport, b, `unexpected reply ID ${id}`);
    return false;
  };
  if (transport === 'tcp') {
    await conn.write(Buffer.concat([frame(msg), frame(sentinel)]));
    for (let b = await conn.next(3000); b; b = await conn.next(3000)) if (take(b)) break;
    return { reply, sentinelOk };
  }
  // UDP: a socket of its own per exchange, so a late reply cannot be mistaken for the next one's.
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((res) => sock.bind(0, HOST, () => res()));
    const done = new Promise<void>((res) => {
      const t = setTimeout(res, 3000);
      sock.on('message', (b) => { if (take(b)) { clearTimeout(t); res(); } });
    });
    sock.send(msg, port, HOST);
    sock.send(sentinel, port, HOST);
    await done;
  } finally {
    sock.close();
  }
  return { reply, sentinelOk };
}
