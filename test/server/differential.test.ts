// Differential test: BIND, Knot and roamdns serve the same fixture zones
// (test/fixtures/zones/diff) and get the same queries over UDP and TCP, with and without
// EDNS0; roamdns must answer like one of the references on rcode, AA, TC, OPT, the
// question echo, the answer set and the authority set (order inside an RRset aside).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReferences, type ReferenceServer } from '../helpers/reference.js';
import { encodeMessage, parseMessage, REPO_ROOT, rrText, sendRaw, startRoamdns, type DnsResponse, type RoamdnsServer } from '../helpers/roamdns.js';

const ZONE_DIR = path.join(REPO_ROOT, 'test/fixtures/zones/diff');
const ZONES = readdirSync(ZONE_DIR).filter((f) => f.endsWith('.zone'))
  .map((f) => ({ origin: f.replace(/\.zone$/, '.'), file: path.join(ZONE_DIR, f) }));

// ---- the query table: [qname, qtype] per lookup rule, each sent in every VARIANT -------

const NAME_CASES: Record<string, [string, string][]> = {
  'exact match': [['example.com', 'SOA'], ['example.com', 'NS'], ['example.com', 'A'], ['example.com', 'AAAA'],
    ['example.com', 'MX'], ['example.com', 'TXT'], ['www.example.com', 'A'], ['www.example.com', 'AAAA'],
    ['ns1.example.com', 'A'], ['ns2.example.com', 'A'], ['mail.example.com', 'AAAA'], ['ttl-mix.example.com', 'A'],
    ['v6only.example.com', 'AAAA'], ['www.example.net', 'A'], ['example.net', 'NS'], ['example.com', 'CAA'],
    ['caa.example.com', 'CAA'], ['txt.example.com', 'TXT'], ['emptytxt.example.com', 'TXT'],
    ['opaque.example.com', 'TYPE65534'], ['opaque.example.com', 'TYPE65280'], ['b._dns-sd._udp.example.com', 'PTR']],
  'case-insensitive, question echoed as asked': [['WwW.ExAmPlE.cOm', 'A'], ['www1.example.com', 'A'],
    ['WWW1.EXAMPLE.COM', 'AAAA'], ['Foo.WILD.example.COM', 'A'], ['PORTAL.example.com', 'A'], ['NoThInG.example.com', 'A']],
  'nodata (SOA in authority, negative TTL)': [['www.example.com', 'TXT'], ['mail.example.com', 'MX'],
    ['v6only.example.com', 'A'], ['opaque.example.com', 'A'], ['example.com', 'DS'], ['example.com', 'DNSKEY'],
    ['example.com', 'PTR'], ['big.example.com', 'AAAA'], ['sub.example.com', 'A'], ['example.net', 'MX']],
  'nxdomain (negative TTL per zone)': [['nothing.example.com', 'A'], ['nothing.example.com', 'AAAA'],
    ['very.deep.nothing.example.com', 'A'], ['nothing.sub.example.com', 'A'], ['nothing.example.net', 'A'],
    ['x.app.svc.example.com', 'A'], ['wwww.example.com', 'A']],
  'CNAME in the zone': [['ftp.example.com', 'A'], ['ftp.example.com', 'CNAME'], ['web.example.com', 'A'],
    ['portal.example.com', 'A'], ['portal.example.com', 'AAAA'], ['portal.example.com', 'CNAME'], ['portal.example.com', 'TXT'],
    ['alias-nodata.example.com', 'TXT'], ['alias-nodata.example.com', 'MX'], ['alias-nodata.example.com', 'A'],
    ['dangling.example.com', 'A'], ['dangling.example.com', 'CNAME'], ['dangling2.example.com', 'A'],
    ['loop1.example.com', 'A'], ['loop2.example.com', 'CNAME'], ['loop3.example.com', 'TXT'],
    ['alias.sub.example.com', 'A'], ['ldap.example.com', 'A']],
  'CNAME leaving the zone': [['external.example.com', 'A'], ['cross.example.com', 'A'], ['into-sub.example.com', 'A'],
    ['into-cut.example.com', 'A'], ['up.sub.example.com', 'A']],
  'wildcards (RFC 4592)': [['foo.wild.example.com', 'A'], ['foo.wild.example.com', 'TXT'], ['foo.wild.example.com', 'MX'],
    ['foo.wild.example.com', 'AAAA'], ['bar.baz.wild.example.com', 'A'], ['host.wild.example.com', 'A'],
    ['host.wild.example.com', 'TXT'], ['deep.host.wild.example.com', 'A'], ['x.host.wild.example.com', 'A'],
    ['*.wild.example.com', 'A'], ['wild.example.com', 'A'], ['foo.cname-wild.example.com', 'A'],
    ['foo.cname-wild.example.com', 'CNAME'], ['foo.cname-wild.example.com', 'AAAA'], ['z.y.ent.example.com', 'A'],
    ['z.y.ent.example.com', 'TXT'], ['y.ent.example.com', 'A'], ['ent.example.com', 'A'], ['x.y.ent.example.com', 'AAAA'],
    ['b.wild2.example.com', 'A'], ['c.b.wild2.example.com', 'A'], ['a.b.wild2.example.com', 'A'],
    ['other.wild2.example.com', 'A'], ['foo.wild3.example.com', 'A'], ['foo.wild3.example.com', 'AAAA'],
    ['a.b.dyn.sub.example.com', 'A']],
  'empty non-terminals': [['app.svc.example.com', 'A'], ['svc.example.com', 'TXT'], ['db.app.svc.example.com', 'A'],
    ['cache.app.svc.example.com', 'AAAA'], ['_tcp.example.com', 'SRV'], ['_udp.example.com', 'PTR']],
  'delegations': [['child.example.com', 'A'], ['child.example.com', 'NS'], ['child.example.com', 'DS'],
    ['child.example.com', 'SOA'], ['www.child.example.com', 'A'], ['a.b.child.example.com', 'MX'],
    ['ns1.child.example.com', 'A'], ['ns2.child.example.com', 'AAAA'], ['signed.example.com', 'A'],
    ['signed.example.com', 'DS'], ['signed.example.com', 'NS'], ['www.signed.example.com', 'AAAA'],
    ['mixed.example.com', 'A'], ['ns.mixed.example.com', 'A']],
  'closest zone (child zone served too)': [['sub.example.com', 'SOA'], ['sub.example.com', 'NS'],
    ['sub.example.com', 'DS'], ['sub.example.com', 'MX'], ['host.sub.example.com', 'A'], ['ns1.sub.example.com', 'A']],
  'additional-section targets': [['shop.example.com', 'MX'], ['_sip._tcp.example.com', 'SRV'],
    ['_ldap._tcp.example.com', 'SRV'], ['sub.example.com', 'MX']],
  'large answers (TC)': [['big.example.com', 'A'], ['bigtxt.example.com', 'TXT']],
  'qtype ANY': [['example.com', 'ANY'], ['www.example.com', 'ANY'], ['opaque.example.com', 'ANY'],
    ['portal.example.com', 'ANY'], ['nothing.example.com', 'ANY'], ['foo.wild.example.com', 'ANY']],
  'outside every zone: REFUSED': [['example.org', 'A'], ['www.example.org', 'A'], ['myexample.com', 'A'],
    ['com', 'SOA'], ['.', 'NS'], ['net', 'NS'], ['localhost', 'A'], ['1.0.0.127.in-addr.arpa', 'PTR']],
};

interface Variant { name: string; transport: 'udp' | 'tcp'; edns: { udpSize: number; do: boolean } | null }
const VARIANTS: Variant[] = [
  { name: 'udp', transport: 'udp', edns: null },
  { name: 'udp+edns', transport: 'udp', edns: { udpSize: 1232, do: false } },
  { name: 'tcp', transport: 'tcp', edns: null },
  { name: 'tcp+edns+do', transport: 'tcp', edns: { udpSize: 4096, do: true } },
];

/** One query of the run: its label (`variant qname qtype`), the rule, and the wire message. */
interface Query { id: string; rule: string; transport: 'udp' | 'tcp'; msg: Buffer }

const q1 = (name: string, type: string, o: Partial<Parameters<typeof encodeMessage>[0]> & { class?: string } = {}): Buffer =>
  encodeMessage({ id: 0x4242, questions: [{ name, type, class: o.class }], ...o });
const header = (qd: number): Buffer => Buffer.from([0x42, 0x42, 0, 0, 0, qd, 0, 0, 0, 0, 0, 0]);

/** IXFR query for example.com with the client's SOA in authority (RFC 1995 §3). */
function ixfrQuery(serial: number): Buffer {
  const q = q1('example.com', 'IXFR');
  q.writeUInt16BE(1, 8); // NSCOUNT
  const names = Buffer.from('\x03ns1\xc0\x0c\x0ahostmaster\xc0\x0c', 'latin1'); // compressed against the qname
  const nums = Buffer.alloc(20);
  nums.writeUInt32BE(serial, 0);
  const rr = Buffer.alloc(12); // owner (pointer to the qname), type SOA, class IN, TTL 0, RDLENGTH
  rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(6, 2); rr.writeUInt16BE(1, 4); rr.writeUInt16BE(names.length + 20, 10);
  return Buffer.concat([q, rr, names, nums]);
}

/** Crafted queries outside the name table: other classes, opcodes, malformed messages. */
const SPECIAL: Record<string, Buffer> = {
  'class CH www.example.com A': q1('www.example.com', 'A', { class: 'CH' }),
  'class CH example.com SOA': q1('example.com', 'SOA', { class: 'CH' }),
  'class HS www.example.com A': q1('www.example.com', 'A', { class: 'HS' }),
  'class ANY www.example.com A': q1('www.example.com', 'A', { class: 'ANY' }),
  'class NONE example.com SOA': q1('example.com', 'SOA', { class: 'NONE' }),
  'RD=1 www.example.com A': q1('www.example.com', 'A', { rd: true }),
  'RD=1 nothing.example.com A': q1('nothing.example.com', 'A', { rd: true }),
  'RD=1 CD=1 AD=1 portal.example.com A': q1('portal.example.com', 'A', { rd: true, cd: true, ad: true }),
  'RD=1 www.child.example.com A': q1('www.child.example.com', 'A', { rd: true }),
  'EDNS bufsize 512 bigtxt TXT': q1('bigtxt.example.com', 'TXT', { edns: { udpSize: 512 } }),
  'EDNS bufsize 4096 DO bigtxt TXT': q1('bigtxt.example.com', 'TXT', { edns: { udpSize: 4096, do: true } }),
  'EDNS bufsize 4096 big A': q1('big.example.com', 'A', { edns: { udpSize: 4096 } }),
  'EDNS version 1 (BADVERS)': q1('www.example.com', 'A', { edns: { version: 1 } }),
  'qtype AXFR over UDP': q1('example.com', 'AXFR'),
  'qtype IXFR without SOA': q1('example.com', 'IXFR'),
  'qtype IXFR over UDP, serial current': ixfrQuery(2024050101),
  'qtype IXFR over UDP, serial older': ixfrQuery(2024040101),
  'qtype MAILB': q1('example.com', 'MAILB'),
  'qtype 0': q1('www.example.com', 'TYPE0'),
  'opcode 1 IQUERY': q1('www.example.com', 'A', { opcode: 1 }),
  'opcode 2 STATUS': q1('www.example.com', 'A', { opcode: 2 }),
  'opcode 3 unassigned': q1('www.example.com', 'A', { opcode: 3 }),
  'opcode 4 NOTIFY': q1('example.com', 'SOA', { opcode: 4 }),
  'opcode 5 UPDATE': q1('example.com', 'SOA', { opcode: 5 }),
  'opcode 6 DSO': q1('www.example.com', 'A', { opcode: 6 }),
  'opcode 15': q1('www.example.com', 'A', { opcode: 15 }),
  'qdcount 0': header(0),
  'qdcount 0 with EDNS': encodeMessage({ id: 0x4242, questions: [], edns: true }),
  'qdcount 2': encodeMessage({ id: 0x4242, questions: [{ name: 'www.example.com', type: 'A' }, { name: 'mail.example.com', type: 'A' }] }),
  'qdcount 1, no question': header(1),
  'question cut inside the name': Buffer.concat([header(1), Buffer.from([3, 0x77, 0x77, 0x77, 7, 0x65, 0x78])]),
  'question without type and class': Buffer.concat([header(1), Buffer.from([3, 0x77, 0x77, 0x77, 0])]),
  'label length 64': Buffer.concat([header(1), Buffer.from([64, ...Buffer.alloc(64, 0x61), 0, 0, 1, 0, 1])]),
  'compression pointer loop': Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
  'trailing garbage after question': Buffer.concat([q1('www.example.com', 'A'), Buffer.from([1, 2, 3])]),
  'QR=1 (a response sent as query)': Buffer.from([0x42, 0x42, 0x80, 0, ...q1('www.example.com', 'A').subarray(4)]),
};

function buildQueries(): Query[] {
  const out: Query[] = [];
  for (const [rule, cases] of Object.entries(NAME_CASES)) {
    for (const [qname, qtype] of cases) {
      for (const v of VARIANTS) out.push({ id: `${v.name} ${qname} ${qtype}`, rule, transport: v.transport, msg: q1(qname, qtype, { edns: v.edns }) });
    }
  }
  for (const [label, msg] of Object.entries(SPECIAL)) {
    // AXFR over TCP is a transfer, not one answer: test/server/axfr-secondary.test.ts covers it.
    for (const transport of label.includes('UDP') ? ['udp' as const] : ['udp', 'tcp'] as const) out.push({ id: `${transport} ${label}`, rule: 'special', transport, msg });
  }
  return out;
}

// ---- comparison ------------------------------------------------------------------------

/** What is compared; sections are sorted RR texts so that RRset order does not matter. */
interface View { id: boolean; rcode: string; aa: boolean; tc: boolean; rd: boolean; opt: boolean; question: string; answer: string[]; authority: string[] }
type Outcome = { view: View | null; additional: string[]; error?: string }; // view null: no answer (dropped)

async function ask(port: number, q: Query): Promise<Outcome> {
  let buf: Buffer;
  try { buf = await sendRaw(port, q.msg, { transport: q.transport, timeoutMs: 1500 }); } catch { return { view: null, additional: [] }; }
  let r: DnsResponse;
  try { r = parseMessage(buf); } catch (e) { return { view: null, additional: [], error: `undecodable answer: ${(e as Error).message}` }; }
  const sorted = (rrs: DnsResponse['answer']): string[] => rrs.map(rrText).sort();
  return {
    view: { id: r.id === q.msg.readUInt16BE(0), rcode: r.rcodeName, aa: r.flags.aa, tc: r.flags.tc, rd: r.flags.rd, opt: r.edns !== null,
      question: r.question.map((x) => `${x.name} ${x.class} ${x.type}`).join(', '), answer: sorted(r.answer), authority: sorted(r.authority) },
    additional: sorted(r.additional),
  };
}

/**
 * RFC 2181 §9: a truncated answer is to be retried over TCP, so its sections are not compared.
 * A FORMERR's question section is not compared either: no RFC says what it holds (BIND
 * leaves it out, Knot copies what it could parse).
 */
function comparable(v: View | null, refTc: boolean): string {
  if (!v) return 'no answer';
  const q = v.rcode === 'FORMERR' ? { ...v, question: 'any' } : v;
  return JSON.stringify(refTc ? { ...q, answer: 'truncated', authority: 'truncated' } : q);
}
const same = (a: Outcome, ref: Outcome): boolean => !a.error && comparable(a.view, !!ref.view?.tc) === comparable(ref.view, !!ref.view?.tc);
const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Additional data is optional (RFC 1034 §3.7, RFC 2181 §9): roamdns must equal one reference's
 * additional section, or else hold only records some reference adds (⊆ union) and every
 * record both add (⊇ intersection). The second case is tolerated and listed.
 */
function additionalVerdict(a: Outcome, bind: Outcome, knot: Outcome, knownAddresses: Set<string>): 'same' | 'tolerated' | 'differs' {
  if (sameSet(a.additional, bind.additional) || sameSet(a.additional, knot.additional)) return 'same';
  const union = new Set([...bind.additional, ...knot.additional]);
  const both = bind.additional.filter((x) => knot.additional.includes(x));
  // Also tolerated: the address of an NS/MX/SRV target in roamdns's own answer or authority
  // (RFC 1034 §3.7 additional processing, e.g. for ANY, where both references skip it),
  // provided a reference served that very record somewhere in this run.
  const targets = new Set([...(a.view?.answer ?? []), ...(a.view?.authority ?? [])]
    .filter((r) => / IN (NS|MX|SRV) /.test(r)).map((r) => r.split(' ').pop()));
  const justified = (x: string): boolean => union.has(x) || (targets.has(x.split(' ')[0]) && knownAddresses.has(x));
  return a.additional.every(justified) && both.every((x) => a.additional.includes(x)) ? 'tolerated' : 'differs';
}

function describeOutcome(o: Outcome): string {
  if (o.error) return o.error;
  if (!o.view) return 'no answer';
  const v = o.view;
  return `${v.rcode}${v.id ? '' : ' (id not echoed)'} aa=${+v.aa} tc=${+v.tc} rd=${+v.rd} opt=${+v.opt} q=[${v.question}]\n      an=${JSON.stringify(v.answer)}\n      ns=${JSON.stringify(v.authority)}\n      ar=${JSON.stringify(o.additional)}`;
}

async function runAll(queries: Query[], ports: number[]): Promise<Outcome[][]> {
  const results: Outcome[][] = new Array(queries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queries.length) {
      const i = next++;
      results[i] = await Promise.all(ports.map((p) => ask(p, queries[i]!)));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return results;
}

// ---- where the references differ (BIND 9.18 and Knot 3.2 from Debian 12) ------------------

/**
 * Queries on which BIND and Knot answer differently; roamdns matching either is enough.
 * The test below fails when they differ anywhere else, so this list stays true.
 */
const REFERENCE_DISAGREEMENTS: { match: RegExp; reason: string }[] = [
  { match: / loop[123]\.example\.com /, reason: 'CNAME loop: BIND answers SERVFAIL with the chain, Knot NOERROR with the chain (each CNAME once)' },
  { match: / into-sub\.example\.com A$/, reason: 'CNAME into the child zone: both stop at the zone boundary; Knot adds the parent\'s delegation NS for sub.example.com to authority (target below that cut in the parent zone)' },
  { match: / ((www|opaque|foo\.wild)\.)?example\.com ANY$/, reason: 'qtype ANY: BIND returns every RRset of the name, Knot a single RRset (RFC 8482 §4.1) over UDP and TCP alike (roamdns: one like Knot by default, all like BIND with dns.any: full; checked on its own below)' },
  { match: /class ANY /, reason: 'QCLASS ANY: BIND FORMERR, Knot answers as if IN' },
  { match: /class NONE /, reason: 'QCLASS NONE outside UPDATE: BIND FORMERR, Knot REFUSED' },
  { match: /qtype AXFR over UDP/, reason: 'AXFR over UDP: BIND FORMERR, Knot NOTIMP' },
  { match: /qtype MAILB/, reason: 'QTYPE MAILB: BIND NOTIMP, Knot NODATA' },
  { match: /qtype 0$/, reason: 'QTYPE 0: BIND NODATA, Knot NOTIMP' },
  { match: /opcode (1|2|3|6|15)\b/, reason: 'unknown opcode: both NOTIMP; BIND echoes no question, Knot echoes it' },
  { match: /opcode 4 NOTIFY/, reason: 'NOTIFY to a primary: BIND NOERROR+AA (ignored), Knot NOTAUTH (no notify ACL)' },
  { match: /opcode 5 UPDATE/, reason: 'UPDATE without an update policy: BIND REFUSED, Knot NOTAUTH' },
  { match: /qdcount 2|qdcount 1, no question|question cut|question without|label length 64|compression pointer loop/, reason: 'malformed question: BIND FORMERR without a question, Knot drops the message' },
  { match: /trailing garbage/, reason: 'octets after the question: BIND ignores them and answers, Knot FORMERR' },
];

/**
 * BIND's default `minimal-responses no-auth-recursive` puts the zone's apex NS RRset into
 * the authority section of positive answers to RD=0 queries (and their addresses into
 * additional); Knot leaves authority empty. Not listed per query: this normalises it away
 * when checking that the two references agree elsewhere.
 */
const APEX_NS = new RegExp(`^(${ZONES.map((z) => z.origin.replace(/\./g, '\\.')).join('|')}) \\d+ IN NS `);
const withoutApexNs = (o: Outcome): Outcome =>
  (o.view && o.view.aa && o.view.answer.length > 0 ? { ...o, view: { ...o.view, authority: o.view.authority.filter((r) => !APEX_NS.test(r)) } } : o);

/**
 * Answers roamdns may give although neither reference does, because the references' answers
 * rest on features roamdns does not have. Issue 2 asks NOTIMP for every opcode but QUERY
 * (RFC 1035 §4.1.1: "the name server does not support the requested kind of query").
 */
const ALSO_ACCEPTED: { match: RegExp; rcode: string; reason: string }[] = [
  { match: /opcode 4 NOTIFY/, rcode: 'NOTIMP', reason: 'NOTIFY not implemented yet (issue 2: "NOTIFY may come later")' },
  { match: /opcode 5 UPDATE/, rcode: 'NOTIMP', reason: 'dynamic update is not a roamdns feature' },
];
const alsoAccepted = (q: Query, o: Outcome): boolean => !!o.view && ALSO_ACCEPTED.some((a) =>
  a.match.test(q.id) && o.view!.rcode === a.rcode && !o.view!.aa && o.view!.answer.length === 0 && o.view!.authority.length === 0);

// ---- the test --------------------------------------------------------------------------

describe('differential: roamdns vs BIND and Knot', () => {
  let refs: { bind: ReferenceServer; knot: ReferenceServer; stop(): Promise<void> } | null = null;
  let roam: RoamdnsServer | null = null;
  let roamError: Error | null = null;
  const queries = buildQueries();

  beforeAll(async () => {
    refs = await startReferences(ZONES);
    // roamdns failing to start fails only its own test: the reference checks still run.
    try { roam = await startRoamdns({ zones: ZONES.map((z) => z.file), readyZone: 'example.com.' }); } catch (e) { roamError = e as Error; }
  }, 60_000);
  afterAll(async () => { await roam?.stop(); await refs?.stop(); }, 30_000);

  it('covers at least 250 queries', () => { expect(queries.length).toBeGreaterThanOrEqual(250); });

  it('BIND and Knot disagree only where documented', async () => {
    const res = await runAll(queries, [refs!.bind.port, refs!.knot.port]);
    const undocumented: string[] = [];
    const seen = new Map<string, number>();
    res.forEach(([b, k], i) => {
      const q = queries[i]!;
      if (b!.error || k!.error) undocumented.push(`${q.id}: ${b!.error ?? k!.error}`);
      if (same(withoutApexNs(b!), k!)) return;
      const doc = REFERENCE_DISAGREEMENTS.find((d) => d.match.test(q.id));
      if (doc) seen.set(doc.reason, (seen.get(doc.reason) ?? 0) + 1);
      else undocumented.push(`${q.id}\n    bind: ${describeOutcome(b!)}\n    knot: ${describeOutcome(k!)}`);
    });
    const unused = REFERENCE_DISAGREEMENTS.filter((d) => !seen.has(d.reason)).map((d) => `  (no longer seen) ${d.reason}`);
    console.log(`BIND vs Knot: documented disagreements\n${[...seen].map(([r, n]) => `  ${n}x ${r}`).concat(unused).join('\n')}`);
    expect(undocumented, `undocumented BIND/Knot disagreements:\n${undocumented.join('\n')}`).toEqual([]);
  });

  it('roamdns answers like BIND or Knot', async () => {
    if (roamError) throw roamError;
    const res = await runAll(queries, [refs!.bind.port, refs!.knot.port, roam!.port]);
    const failures: string[] = [];
    const tolerated: string[] = [];
    const perRule = new Map<string, [number, number]>();
    const knownAddresses = new Set(res.flatMap(([b, k]) => [b!, k!]).flatMap((o) => [...(o.view?.answer ?? []), ...o.additional])
      .filter((x) => / IN (A|AAAA) /.test(x)));
    res.forEach(([b, k, r], i) => {
      const q = queries[i]!;
      // BIND's apex NS in authority is optional data (see withoutApexNs): roamdns may omit it.
      const hardOk = same(r!, b!) || same(r!, withoutApexNs(b!)) || same(r!, k!) || alsoAccepted(q, r!);
      const extra = additionalVerdict(r!, b!, k!, knownAddresses);
      const ok = hardOk && extra !== 'differs';
      const [n, m] = perRule.get(q.rule) ?? [0, 0];
      perRule.set(q.rule, [n + (ok ? 1 : 0), m + 1]);
      if (!ok) {
        failures.push(`${q.id} (${q.rule}${hardOk ? '; additional section only' : ''})\n    bind:    ${describeOutcome(b!)}` +
          `\n    knot:    ${describeOutcome(k!)}\n    roamdns: ${describeOutcome(r!)}`);
      } else if (extra === 'tolerated') tolerated.push(q.id);
    });
    const agree = queries.length - failures.length;
    console.log(`differential: agree ${agree}/${queries.length}\n` +
      [...perRule].map(([rule, [n, m]]) => `  ${rule}: ${n}/${m}`).join('\n') +
      (tolerated.length ? `\n  additional section between the references' (tolerated): ${tolerated.join(', ')}` : ''));
    expect(failures, `roamdns disagrees with both references on ${failures.length} queries:\n${failures.join('\n')}`).toEqual([]);
  });
  it('ANY: one RRset, as Knot, by default (RFC 8482); every RRset, as BIND, with dns.any: full', async () => {
    if (roamError) throw roamError;
    const anyQs = queries.filter((q) => q.rule === 'qtype ANY');
    expect(anyQs.length).toBeGreaterThanOrEqual(6);
    const full = await startRoamdns({ zones: ZONES.map((z) => z.file), readyZone: 'example.com.', dnsYaml: '  any: full' });
    try {
      const res = await runAll(anyQs, [refs!.bind.port, refs!.knot.port, roam!.port, full.port]);
      const wrong: string[] = [];
      res.forEach(([b, k, minimal, all], i) => {
        if (!same(minimal!, k!)) wrong.push(`${anyQs[i]!.id} (default)\n    knot:    ${describeOutcome(k!)}\n    roamdns: ${describeOutcome(minimal!)}`);
        if (!same(all!, b!) && !same(all!, withoutApexNs(b!))) wrong.push(`${anyQs[i]!.id} (any: full)\n    bind:    ${describeOutcome(b!)}\n    roamdns: ${describeOutcome(all!)}`);
      });
      console.log(`ANY: ${anyQs.length - wrong.length}/${anyQs.length} as the reference of the chosen mode`);
      expect(wrong, wrong.join('\n')).toEqual([]);
    } finally {
      await full.stop();
    }
  });
});
