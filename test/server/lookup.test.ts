// Table-driven answer tests (like CoreDNS's test.Case): one zone, each case a question and the
// expected rcode, AA and sections, run through the real handler (parse, lookup, render) in process.
import { describe, expect, test } from 'vitest';
import { handleMessage } from '../../server/handler.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { encodeMessage, parseMessage, type DnsResponse } from '../helpers/roamdns.js';

const ZONE = `
$ORIGIN example.org.
$TTL 3600
@        IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@        NS ns1
@        NS ns2.example.net.
@        MX 10 mail
ns1      A 198.51.100.53
mail     A 198.51.100.25
mail     AAAA 2001:db8::25
www      A 198.51.100.1
www      A 198.51.100.2
www      A 198.51.100.3
alias    CNAME www
chain1   CNAME chain2
chain2   CNAME www
dangling CNAME nowhere
outside  CNAME www.example.net.
loop1    CNAME loop2
loop2    CNAME loop1
*.wild   TXT "wildcard"
*.wild   MX 5 mail
exists.wild A 198.51.100.9
a.b.ent  A 198.51.100.10
_sip._tcp SRV 10 60 5060 mail
child    NS ns.child
child    NS ns.elsewhere.net.
ns.child A 198.51.100.99
`;

const child = `$ORIGIN sub.example.org.\n$TTL 60\n@ SOA ns1 hostmaster 7 1 1 1 30\n@ NS ns1\nns1 A 198.51.100.77\nhost A 198.51.100.78\n`;

function zones(): ZoneSet {
  const z = (text: string, origin: string) => {
    const p = parseZoneText(text, { file: `${origin}zone`, origin });
    expect(p.problems.filter((x) => x.severity === 'error')).toEqual([]);
    return buildZone(origin, p.records);
  };
  return new ZoneSet(new Map([['example.org.', z(ZONE, 'example.org.')], ['sub.example.org.', z(child, 'sub.example.org.')]]));
}

const set = zones();
const ctx = { zones: () => set, metrics: dnsMetrics(new Registry()) };

function ask(qname: string, qtype: string, opts: { qclass?: string; edns?: boolean; transport?: 'udp' | 'tcp' } = {}): DnsResponse {
  const msg = encodeMessage({ id: 7, questions: [{ name: qname, type: qtype, class: opts.qclass }], edns: opts.edns ?? false });
  const out = handleMessage(ctx, msg, opts.transport ?? 'udp');
  if (out.kind !== 'reply') throw new Error(`no reply: ${out.kind}`);
  return parseMessage(out.bytes);
}

const rrs = (section: { name: string; type: string; ttl: number; rdata: string }[]) => section.map((r) => `${r.name} ${r.ttl} ${r.type} ${r.rdata}`).sort();

interface Case { q: [string, string]; rcode: string; aa: boolean; answer?: string[]; ns?: string[]; extra?: string[] }
const SOA = 'example.org. 300 SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 300';

const cases: Case[] = [
  { q: ['www.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: ['www.example.org. 3600 A 198.51.100.1', 'www.example.org. 3600 A 198.51.100.2', 'www.example.org. 3600 A 198.51.100.3'] },
  { q: ['WWW.Example.ORG.', 'A'], rcode: 'NOERROR', aa: true, answer: ['www.example.org. 3600 A 198.51.100.1', 'www.example.org. 3600 A 198.51.100.2', 'www.example.org. 3600 A 198.51.100.3'] },
  { q: ['www.example.org.', 'AAAA'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['nope.example.org.', 'A'], rcode: 'NXDOMAIN', aa: true, answer: [], ns: [SOA] },
  { q: ['alias.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: ['alias.example.org. 3600 CNAME www.example.org.', 'www.example.org. 3600 A 198.51.100.1', 'www.example.org. 3600 A 198.51.100.2', 'www.example.org. 3600 A 198.51.100.3'] },
  { q: ['alias.example.org.', 'CNAME'], rcode: 'NOERROR', aa: true, answer: ['alias.example.org. 3600 CNAME www.example.org.'] },
  { q: ['chain1.example.org.', 'AAAA'], rcode: 'NOERROR', aa: true, answer: ['chain1.example.org. 3600 CNAME chain2.example.org.', 'chain2.example.org. 3600 CNAME www.example.org.'], ns: [SOA] },
  { q: ['dangling.example.org.', 'A'], rcode: 'NXDOMAIN', aa: true, answer: ['dangling.example.org. 3600 CNAME nowhere.example.org.'], ns: [SOA] },
  { q: ['outside.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: ['outside.example.org. 3600 CNAME www.example.net.'], ns: [] },
  { q: ['loop1.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: ['loop1.example.org. 3600 CNAME loop2.example.org.', 'loop2.example.org. 3600 CNAME loop1.example.org.'] },
  { q: ['x.wild.example.org.', 'TXT'], rcode: 'NOERROR', aa: true, answer: ['x.wild.example.org. 3600 TXT "wildcard"'] },
  { q: ['x.y.wild.example.org.', 'MX'], rcode: 'NOERROR', aa: true, answer: ['x.y.wild.example.org. 3600 MX 5 mail.example.org.'], extra: ['mail.example.org. 3600 A 198.51.100.25', 'mail.example.org. 3600 AAAA 2001:db8::25'] },
  { q: ['x.wild.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['exists.wild.example.org.', 'TXT'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['below.exists.wild.example.org.', 'TXT'], rcode: 'NXDOMAIN', aa: true, answer: [], ns: [SOA] },
  { q: ['ent.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['b.ent.example.org.', 'TXT'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['x.ent.example.org.', 'A'], rcode: 'NXDOMAIN', aa: true, answer: [], ns: [SOA] },
  { q: ['child.example.org.', 'A'], rcode: 'NOERROR', aa: false, answer: [], ns: ['child.example.org. 3600 NS ns.child.example.org.', 'child.example.org. 3600 NS ns.elsewhere.net.'], extra: ['ns.child.example.org. 3600 A 198.51.100.99'] },
  { q: ['deep.below.child.example.org.', 'A'], rcode: 'NOERROR', aa: false, answer: [], ns: ['child.example.org. 3600 NS ns.child.example.org.', 'child.example.org. 3600 NS ns.elsewhere.net.'] },
  { q: ['ns.child.example.org.', 'A'], rcode: 'NOERROR', aa: false, answer: [] },
  { q: ['child.example.org.', 'DS'], rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] },
  { q: ['example.org.', 'MX'], rcode: 'NOERROR', aa: true, answer: ['example.org. 3600 MX 10 mail.example.org.'], extra: ['mail.example.org. 3600 A 198.51.100.25', 'mail.example.org. 3600 AAAA 2001:db8::25'] },
  { q: ['_sip._tcp.example.org.', 'SRV'], rcode: 'NOERROR', aa: true, answer: ['_sip._tcp.example.org. 3600 SRV 10 60 5060 mail.example.org.'], extra: ['mail.example.org. 3600 A 198.51.100.25', 'mail.example.org. 3600 AAAA 2001:db8::25'] },
  { q: ['host.sub.example.org.', 'A'], rcode: 'NOERROR', aa: true, answer: ['host.sub.example.org. 60 A 198.51.100.78'] },
  { q: ['nope.sub.example.org.', 'A'], rcode: 'NXDOMAIN', aa: true, answer: [], ns: ['sub.example.org. 30 SOA ns1.sub.example.org. hostmaster.sub.example.org. 7 1 1 1 30'] },
  { q: ['example.com.', 'A'], rcode: 'REFUSED', aa: false, answer: [], ns: [] },
  { q: ['org.', 'SOA'], rcode: 'REFUSED', aa: false, answer: [] },
];

describe('lookup through the handler', () => {
  test.each(cases)('$q.0 $q.1 → $rcode', (c) => {
    const r = ask(c.q[0], c.q[1]);
    expect(r.rcodeName).toBe(c.rcode);
    expect(r.flags.aa).toBe(c.aa);
    expect(r.flags.ra).toBe(false);
    expect(r.question[0]?.name.replace(/\.?$/, '.')).toBe(c.q[0]);
    if (c.answer) expect(rrs(r.answer)).toEqual([...c.answer].sort());
    if (c.ns) expect(rrs(r.authority)).toEqual([...c.ns].sort());
    if (c.extra) expect(rrs(r.additional)).toEqual([...c.extra].sort());
  });

  test('class CH is refused', () => {
    expect(ask('www.example.org.', 'A', { qclass: 'CH' }).rcodeName).toBe('REFUSED');
  });

  test('AXFR over UDP is FORMERR', () => {
    expect(ask('example.org.', 'AXFR').rcodeName).toBe('FORMERR');
  });

  test('negative TTL is min(SOA TTL, MINIMUM)', () => {
    const r = ask('nope.example.org.', 'A');
    expect(r.authority[0]?.ttl).toBe(300);
  });

  test('an RRset rotates by one record per answer', () => {
    const firsts = Array.from({ length: 6 }, () => ask('www.example.org.', 'A').answer[0]!.rdata);
    expect(firsts.slice(0, 3).sort()).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    expect(firsts.slice(3)).toEqual(firsts.slice(0, 3));
  });

  test('EDNS: OPT echoed with 1232', () => {
    const r = ask('www.example.org.', 'A', { edns: true });
    expect(r.edns).toEqual({ udpSize: 1232, version: 0, do: false });
  });
});

describe('QTYPE ANY (RFC 8482)', () => {
  const askWith = (any: 'minimal' | 'full' | undefined, qname: string, transport: 'udp' | 'tcp' = 'udp') => {
    const out = handleMessage({ ...ctx, any }, encodeMessage({ id: 9, questions: [{ name: qname, type: 'ANY' }], edns: false }), transport);
    if (out.kind !== 'reply') throw new Error(out.kind);
    return parseMessage(out.bytes);
  };

  test('minimal by default: one RRset, the lowest type code of the name (as Knot), over UDP and TCP', () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const apex = askWith(undefined, 'example.org', transport);
      expect(apex.rcodeName).toBe('NOERROR');
      expect(apex.flags.aa).toBe(true);
      expect(rrs(apex.answer).map((r) => r.split(' ')[2])).toEqual(['NS', 'NS']); // NS (2) before SOA (6) and MX (15)
      expect(rrs(askWith('minimal', 'mail.example.org', transport).answer)).toEqual(['mail.example.org. 3600 A 198.51.100.25']);
      expect(rrs(askWith(undefined, 'www.example.org', transport).answer)).toHaveLength(3); // one RRset of three records
    }
  });

  test('full: every RRset of the name, as BIND answers', () => {
    expect(rrs(askWith('full', 'example.org').answer).map((r) => r.split(' ')[2])).toEqual(['MX', 'NS', 'NS', 'SOA']);
    expect(rrs(askWith('full', 'mail.example.org').answer)).toEqual(['mail.example.org. 3600 A 198.51.100.25', 'mail.example.org. 3600 AAAA 2001:db8::25']);
  });

  test('a name without data, or with only a CNAME, answers as for any other type', () => {
    expect(askWith(undefined, 'b.ent.example.org').rcodeName).toBe('NOERROR');
    expect(askWith(undefined, 'b.ent.example.org').answer).toEqual([]);
    expect(askWith(undefined, 'nothing.example.org').rcodeName).toBe('NXDOMAIN');
    expect(rrs(askWith(undefined, 'alias.example.org').answer)).toEqual(['alias.example.org. 3600 CNAME www.example.org.']);
  });
});

describe('DNAME (RFC 6672)', () => {
  const text = `$ORIGIN example.org.\n$TTL 60\n@ SOA ns1 h 1 1 1 1 30\n@ NS ns1\nns1 A 198.51.100.53\nold DNAME new\nnew.example.org. DNAME new2\nwww.new2 A 198.51.100.5\nfar DNAME ${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.example.org.\n`;
  const p = parseZoneText(text, { file: 'z', origin: 'example.org.' });
  const dz = new ZoneSet(new Map([['example.org.', buildZone('example.org.', p.records)]]));
  const dctx = { zones: () => dz, metrics: dnsMetrics(new Registry()) };
  const q = (name: string, type: string) => {
    const out = handleMessage(dctx, encodeMessage({ id: 1, questions: [{ name, type }] }), 'udp');
    return parseMessage((out as { bytes: Buffer }).bytes);
  };
  test('a name below a DNAME gets the DNAME, a synthesised CNAME, and the chase', () => {
    const r = q('www.old.example.org.', 'A');
    expect(r.rcodeName).toBe('NOERROR');
    expect(rrs(r.answer)).toEqual([
      'new.example.org. 60 DNAME new2.example.org.',
      'old.example.org. 60 DNAME new.example.org.',
      'www.new.example.org. 60 CNAME www.new2.example.org.',
      'www.new2.example.org. 60 A 198.51.100.5',
      'www.old.example.org. 60 CNAME www.new.example.org.',
    ]);
  });
  test('the DNAME owner itself is not redirected', () => {
    expect(rrs(q('old.example.org.', 'DNAME').answer)).toEqual(['old.example.org. 60 DNAME new.example.org.']);
    expect(q('old.example.org.', 'A').answer).toEqual([]);
  });
  test('a synthesised name over 255 octets is YXDOMAIN', () => {
    const r = q(`${'a'.repeat(63)}.${'b'.repeat(10)}.far.example.org.`, 'A');
    expect(r.rcodeName).toBe('YXDOMAIN');
  });
});
