// Table-driven tests of the master-file syntax (RFC 1035 §5, RFC 3597 §5, BIND's extensions):
// RDATA to wire, owners/TTLs/classes, directives, errors with their codes and lines, and
// robustness (never throws, bounded problems). Zone semantics are tested against BIND in
// zone-check-vs-bind.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { zoneCheckMain } from '../../cli/zone-check.js';
import { parseName } from '../../server/name.js';
import { nameToWire } from '../../server/rr.js';
import { axfrMessages } from '../../server/axfr.js';
import { checkZone, isUsable, loadZoneFile } from '../../server/zone-check.js';
import { MAX_INCLUDE_DEPTH, MAX_INCLUDES } from '../../server/zone-directives.js';
import { lexZone } from '../../server/zone-lexer.js';
import { MAX_PROBLEMS, originFromFileName, parseZoneText, type ParsedZone } from '../../server/zone-parser.js';
import { MAX_RECORD_OCTETS } from '../../server/zone-records.js';
import { buildZone, ZoneSet } from '../../server/zone.js';

const ORIGIN = 'example.com.';

function parse(text: string, files: Record<string, string> = {}): ParsedZone {
  const readFile = (p: string): string => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return f;
  };
  return parseZoneText(text, { file: 'zones/test.zone', origin: ORIGIN, readFile });
}

/** Parses `$TTL 300` + text and requires no problem at all. */
function records(text: string, files?: Record<string, string>): ParsedZone['records'] {
  const z = parse(`$TTL 300\n${text}\n`, files);
  expect(z.problems).toEqual([]);
  return z.records;
}

const wire = (name: string): string => nameToWire(parseName(name, null)).toString('hex');
const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

describe('RDATA presentation form -> wire', () => {
  const cases: [string, string, number, string][] = [
    ['A', 'www A 192.0.2.1', 1, 'c0000201'],
    ['AAAA', 'www AAAA 2001:DB8::1', 28, '20010db8000000000000000000000001'],
    ['AAAA with dotted quad', 'www AAAA ::ffff:192.0.2.1', 28, '00000000000000000000ffffc0000201'],
    ['NS relative name', 'www NS ns1', 2, wire('ns1.example.com.')],
    ['CNAME keeps case', 'www CNAME Target.Example.NET.', 5, wire('Target.Example.NET.')],
    ['PTR @', 'www PTR @', 12, wire('example.com.')],
    ['MX', 'www MX 10 mail', 15, '000a' + wire('mail.example.com.')],
    ['null MX', 'www MX 0 .', 15, '000000'],
    ['SRV', '_sip._tcp SRV 1 2 5060 sip', 33, '0001000213c4' + wire('sip.example.com.')],
    ['DNAME', 'old DNAME new.example.net.', 39, wire('new.example.net.')],
    ['TXT two strings', 'www TXT "a b" c', 16, '03612062' + '0163'],
    ['TXT escapes', 'www TXT "q\\"\\\\\\065"', 16, '04' + hex('q"\\A')],
    ['TXT empty string', 'www TXT ""', 16, '00'],
    ['TXT \\# not generic', 'www TXT \\# x', 16, '0123' + '0178'],
    ['HINFO', 'www HINFO "Intel x86" Linux', 13, '09' + hex('Intel x86') + '05' + hex('Linux')],
    ['CAA', '@ CAA 128 issue "ca.example.net"', 257, '8005' + hex('issue') + hex('ca.example.net')],
    ['SOA with TTL units', '@ SOA ns1 host.master 7 1h 15m 1w 5m', 6,
      wire('ns1.example.com.') + wire('host.master.example.com.') + '00000007' + '00000e10' + '00000384' + '00093a80' + '0000012c'],
    ['NAPTR', 'www NAPTR 10 20 "U" "E2U+sip" "!^.*$!sip:a@b!" .', 35, '000a0014' + '0155' + '07' + hex('E2U+sip') + '0e' + hex('!^.*$!sip:a@b!') + '00'],
    ['DS with mnemonics, split digest', 'k DS 1 RSASHA256 SHA-1 ( 0123456789 abcdef0123456789abcdef01234567 )', 43, '00010801' + '0123456789abcdef0123456789abcdef01234567'],
    ['SSHFP unknown fp type, any length', 'h SSHFP 4 9 ab', 44, '0409ab'],
    ['TLSA split hex', '_443._tcp TLSA 3 1 1 ab cd', 52, '030101abcd'],
    ['RFC 3597 unknown type', 'x TYPE65534 \\# 3 0a 0b0c', 65534, '0a0b0c'],
    ['RFC 3597 empty', 'x TYPE65280 \\# 0', 65280, ''],
    ['RFC 3597 for a known type', 'x A \\# 4 C0000202', 1, 'c0000202'],
    ['TYPEnnn with text RDATA', 'x TYPE15 5 mx', 15, '0005' + wire('mx.example.com.')],
  ];
  it.each(cases)('%s', (_name, line, type, rdataHex) => {
    const [rr] = records(line);
    expect(rr!.type).toBe(type);
    expect(rr!.rdata.toString('hex')).toBe(rdataHex);
  });
});

describe('owners, TTLs and classes', () => {
  const cases: [string, string, string, number][] = [
    ['relative owner', 'www A 192.0.2.1', 'www.example.com.', 300],
    ['absolute owner, case folded', 'WWW.Example.COM. A 192.0.2.1', 'www.example.com.', 300],
    ['@ owner', '@ A 192.0.2.1', 'example.com.', 300],
    ['escaped dot in a label', 'a\\.b A 192.0.2.1', 'a\\.b.example.com.', 300],
    ['TTL then class', 'www 60 IN A 192.0.2.1', 'www.example.com.', 60],
    ['class then TTL', 'www IN 60 A 192.0.2.1', 'www.example.com.', 60],
    ['TTL units, any case', 'www 1H30m a 192.0.2.1', 'www.example.com.', 5400],
    ['weeks and days', 'www 1w2D A 192.0.2.1', 'www.example.com.', 777600],
    ['CLASS1 is IN', 'www CLASS1 A 192.0.2.1', 'www.example.com.', 300],
  ];
  it.each(cases)('%s', (_name, line, owner, ttl) => {
    const [rr] = records(line);
    expect({ owner: rr!.owner, ttl: rr!.ttlSeconds, klass: rr!.klass }).toEqual({ owner, ttl, klass: 1 });
  });

  it('a line starting with a blank repeats the previous owner', () => {
    const rrs = records('www A 192.0.2.1\n  A 192.0.2.2\n\t300 IN TXT x');
    expect(rrs.map((r) => r.owner)).toEqual(['www.example.com.', 'www.example.com.', 'www.example.com.']);
  });

  it('$ORIGIN changes relative names and @; $TTL changes the default', () => {
    const rrs = records('$ORIGIN sub\n@ A 192.0.2.1\n$TTL 1h\nx A 192.0.2.2\n$ORIGIN example.com.\ny A 192.0.2.3');
    expect(rrs.map((r) => [r.owner, r.ttlSeconds])).toEqual([['sub.example.com.', 300], ['x.sub.example.com.', 3600], ['y.example.com.', 3600]]);
  });

  it('without $TTL: SOA MINIMUM with a warning, then RFC 1035 last-TTL semantics', () => {
    const z = parse('@ SOA ns1 h 1 2 3 4 99\nwww 60 A 192.0.2.1\nftp A 192.0.2.2\n');
    expect(z.records.map((r) => r.ttlSeconds)).toEqual([99, 60, 99]);
    expect(z.problems.map((p) => [p.code, p.severity])).toEqual([['soa-minimum-ttl', 'warning']]);
    const z2 = parse('www 60 A 192.0.2.1\nftp A 192.0.2.2\n');
    expect(z2.records.map((r) => r.ttlSeconds)).toEqual([60, 60]);
    expect(z2.problems.map((p) => p.code)).toEqual(['rfc1035-ttl']);
  });

  it('a TTL over 2^31-1 becomes 0 with a warning (RFC 2181 §8)', () => {
    const z = parse('www 2147483648 A 192.0.2.1\n');
    expect(z.records[0]!.ttlSeconds).toBe(0);
    expect(z.problems).toMatchObject([{ severity: 'warning', code: 'ttl-out-of-range', line: 1 }]);
  });
});

describe('syntax errors: code, line, message', () => {
  const cases: [string, string, string, number, RegExp][] = [
    ['negative TTL', 'www -5 A 192.0.2.1', 'bad-ttl', 1, /TTL -5 out of range 0\.\.2147483647/],
    ['TTL number after a unit', 'www 1h30 A 192.0.2.1', 'bad-ttl', 1, /bad TTL '1h30'/],
    ['bad $TTL', '$TTL soon', 'bad-ttl', 1, /\$TTL 'soon'/],
    ['bad IPv4', '; comment\nwww A 10.1.1.300', 'bad-rdata', 2, /bad IPv4 address '10\.1\.1\.300'/],
    ['IPv4 leading zero', 'www A 10.01.1.1', 'bad-rdata', 1, /bad IPv4/],
    ['bad IPv6', 'www AAAA 2001:db8::1::2', 'bad-rdata', 1, /bad IPv6 address/],
    ['IPv6 zone index', 'www AAAA fe80::1%eth0', 'bad-rdata', 1, /bad IPv6 address/],
    ['unknown type', 'www AAA 192.0.2.1', 'unknown-type', 1, /unknown RR type 'AAA'/],
    ['no type', 'www IN', 'missing-type', 1, /no type/],
    ['class CH', 'www CH TXT "x"', 'bad-class', 1, /class 'CH'.*IN only/],
    ['meta type', 'www AXFR \\# 0', 'bad-type', 1, /AXFR may not appear/],
    ['obsolete MD', 'www MD host', 'bad-type', 1, /obsolete/],
    ['type without text form', 'www LOC 1 2 3', 'unsupported-type', 1, /RFC 3597 generic form \(TYPE29/],
    ['missing RDATA', 'www MX 10', 'missing-rdata', 1, /MX record is missing its mail exchange/],
    ['extra RDATA', 'www A 192.0.2.1 192.0.2.2', 'extra-token', 1, /extra text '192\.0\.2\.2'/],
    ['u16 out of range', 'www MX 65536 mail', 'bad-rdata', 1, /MX preference 65536 out of range 0\.\.65535/],
    ['quoted address', 'www A "192.0.2.1"', 'bad-rdata', 1, /may not be a quoted string/],
    ['TXT over 255 octets', `www TXT "${'x'.repeat(256)}"`, 'bad-rdata', 1, /256 octets, over 255/],
    ['bad \\DDD in TXT', 'www TXT "\\256"', 'bad-rdata', 1, /bad escape/],
    ['label over 63', `${'a'.repeat(64)} A 192.0.2.1`, 'bad-name', 1, /64 octets, over 63/],
    ['empty label', 'a..b A 192.0.2.1', 'bad-name', 1, /empty label/],
    ['bad \\DD in a name', 'w\\25x A 192.0.2.1', 'bad-name', 1, /bad escape '\\25x'/],
    ['generic length mismatch', 'x TYPE65534 \\# 4 0a0000', 'bad-rdata', 1, /says 4 octets but 3/],
    ['generic not valid for its type', 'x MX \\# 4 000a0178', 'bad-rdata', 1, /not a valid MX/],
    ['odd hex', 'x TLSA 3 1 1 abc', 'bad-rdata', 1, /odd number of digits/],
    ['DS digest length', 'x DS 1 8 2 00', 'bad-rdata', 1, /needs exactly 32/],
    ['CAA tag', '@ CAA 0 is-sue "x"', 'bad-rdata', 1, /CAA tag/],
    ['NAPTR regexp', 'x NAPTR 1 1 "U" "E2U" "!a!b" .', 'bad-rdata', 1, /NAPTR regexp/],
    ['no previous owner', '  A 192.0.2.1', 'no-owner', 1, /no previous owner/],
    ['unknown directive', '$DATE 20240101000000', 'unknown-directive', 1, /unknown directive '\$DATE'/],
    ['$ORIGIN without a name', '$ORIGIN', 'bad-directive', 1, /\$ORIGIN is missing arguments/],
    ['$TTL with extra text', '$TTL 1 2', 'extra-token', 1, /extra text '2' after \$TTL/],
    ['unclosed parenthesis', 'www A ( 192.0.2.1\nftp A 192.0.2.2', 'unbalanced-paren', 1, /opened on line 1 is never closed/],
    ['stray parenthesis', 'www A 192.0.2.1 )', 'unbalanced-paren', 1, /without a matching/],
    ['unclosed quote', 'a A 192.0.2.1\nwww TXT "abc\nftp A 192.0.2.2', 'unterminated-quote', 2, /not closed on its line/],
    ['unclosed quote at EOF', 'www TXT "abc', 'unterminated-quote', 1, /not closed/],
    ['$GENERATE bad range', '$GENERATE 5-1 h$ A 192.0.2.$', 'bad-directive', 1, /range '5-1'/],
    ['$GENERATE too big', '$GENERATE 0-2000000000 h$ A 192.0.2.1', 'bad-directive', 1, /over 65536 generated records/],
  ];
  it.each(cases)('%s', (_name, text, code, line, message) => {
    const z = parse(`${text}\n`);
    const p = z.problems.find((q) => q.severity === 'error');
    expect(p, JSON.stringify(z.problems)).toMatchObject({ code, line, file: 'zones/test.zone' });
    expect(p!.message).toMatch(message);
  });

  it('keeps going after an error and reports each one', () => {
    const z = parse('$TTL 1\na A 1\nb AAAA x\nc A 192.0.2.3\nd MX\n');
    expect(z.problems.map((p) => p.line)).toEqual([2, 3, 5]);
    expect(z.records.map((r) => r.owner)).toEqual(['c.example.com.']);
  });

  it('stops after MAX_PROBLEMS errors; drops warnings beyond MAX_PROBLEMS without failing the zone', () => {
    const z = parse('www A 300.1.1.1\n'.repeat(1000));
    expect(z.problems.length).toBe(MAX_PROBLEMS + 1);
    expect(z.problems.at(-1)!.code).toBe('too-many-problems');
    const w = parse('$TTL 1\n' + 'www 3000000000 A 192.0.2.1\n'.repeat(1000));
    expect(w.records.length).toBe(1000);
    expect(w.problems.length).toBe(MAX_PROBLEMS + 1);
    expect(w.problems.every((p) => p.severity === 'warning')).toBe(true);
  });

  it('shows control characters from the input as \\DDD in messages', () => {
    const z = parse('www A 1.2.3.4\x1b[2J\n');
    expect(z.problems[0]!.message).toContain('\\027[2J');
  });
});

describe('$INCLUDE', () => {
  it('reads paths relative to the including file, with its own origin, then restores origin and owner', () => {
    const files = {
      'zones/inc/hosts.inc': 'h1 A 192.0.2.1\n$INCLUDE more.inc\n  A 192.0.2.9\n',
      'zones/inc/more.inc': 'h2 A 192.0.2.2\n',
    };
    const rrs = records('www A 192.0.2.80\n$INCLUDE inc/hosts.inc sub\n  TXT "back"\n@ TXT "apex"', files);
    expect(rrs.map((r) => [r.owner, r.file])).toEqual([
      ['www.example.com.', 'zones/test.zone'],
      ['h1.sub.example.com.', 'zones/inc/hosts.inc'],
      ['h2.sub.example.com.', 'zones/inc/more.inc'],
      ['h1.sub.example.com.', 'zones/inc/hosts.inc'],
      ['www.example.com.', 'zones/test.zone'],
      ['example.com.', 'zones/test.zone'],
    ]);
  });

  it('reports problems with the included file name and line', () => {
    const z = parse('$INCLUDE bad.inc\n', { 'zones/bad.inc': '; comment\nx A 1.2.3\n' });
    expect(z.problems).toMatchObject([{ file: 'zones/bad.inc', line: 2, code: 'bad-rdata' }]);
  });

  it('refuses loops, too deep nesting and missing files', () => {
    expect(parse('$INCLUDE a.inc\n', { 'zones/a.inc': '$INCLUDE b.inc\n', 'zones/b.inc': '$INCLUDE a.inc\n' }).problems)
      .toMatchObject([{ code: 'include-loop', file: 'zones/b.inc', line: 1 }]);
    const chain: Record<string, string> = {};
    for (let i = 0; i < 40; i++) chain[`zones/f${i}.inc`] = `$INCLUDE f${i + 1}.inc\n`;
    expect(parse('$INCLUDE f0.inc\n', chain).problems.map((p) => p.code)).toContain('include-depth');
    expect(parse('$INCLUDE nope.inc\n').problems).toMatchObject([{ code: 'include-failed', message: expect.stringMatching(/nope\.inc.*ENOENT/) }]);
  });
});

describe('$GENERATE', () => {
  const cases: [string, string, string[]][] = [
    ['plain iterator', '$GENERATE 1-3 host$ A 192.0.2.$', ['host1.example.com. c0000201', 'host2.example.com. c0000202', 'host3.example.com. c0000203']],
    ['step, offset, width', '$GENERATE 0-4/2 h${10,3} A 192.0.2.${1}', ['h010.example.com. c0000201', 'h012.example.com. c0000203', 'h014.example.com. c0000205']],
    ['hex and nibbles', '$GENERATE 26-26 ${0,3,n}.x${0,0,X} A 192.0.2.1', ['a.1.x1a.example.com. c0000201']],
    ['$$ is a literal $', '$GENERATE 7-7 t$ TXT "$$$"', [`t7.example.com. ${hex('\x02$7')}`]],
  ];
  it.each(cases)('%s', (_name, line, expected) => {
    expect(records(line).map((r) => `${r.owner} ${r.rdata.toString('hex')}`)).toEqual(expected);
  });
});

describe('lexer', () => {
  it('joins parentheses across lines, drops comments, keeps quoted specials and escapes', () => {
    const { entries, issues } = lexZone('a ( b ; c\n  "d;(e)" ) f\\;g ; x\n h\r\n');
    expect(issues).toEqual([]);
    expect(entries.map((e) => [e.line, e.blankOwner, e.tokens.map((t) => t.text)])).toEqual([
      [1, false, ['a', 'b', 'd;(e)', 'f\\;g']],
      [3, true, ['h']],
    ]);
  });
});

describe('robustness', () => {
  const alphabet = fc.constantFrom(...'aA.@$()";\\ \t\n\r019*#-_INSOATXMCH:\x00\xff'.split(''), '$TTL ', '$INCLUDE ', '$GENERATE 1-3 ', '$ORIGIN ', ' SOA ', ' \\# ', ' TXT ', ' CAA 0 ');
  it('never throws and always ends, on any input', () => {
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 200 }), (parts) => {
      const z = parse(parts.join(''), { 'zones/a': 'a A 1.2.3.4\n' });
      expect(z.problems.length).toBeLessThanOrEqual(2 * MAX_PROBLEMS + 2);
    }), { numRuns: 2000 });
  });
});

// Each of these took the parser or the server down, or ran for minutes, before it was fixed;
// test/server/zone-fuzz.test.ts found them.
describe('hostile zone files (found by zone-fuzz.test.ts)', () => {
  const SOA = '$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n';
  const timed = <T>(fn: () => T): [T, number] => { const t0 = performance.now(); const r = fn(); return [r, performance.now() - t0]; };

  it('$GENERATE refuses a ${offset,width} wider than 127 (a 1e9 width ran out of memory)', () => {
    const [z, ms] = timed(() => parse(`${SOA}$GENERATE 1-2 \${0,999999999,n} A 192.0.2.1\n`));
    expect(ms).toBeLessThan(1000);
    expect(z.problems).toMatchObject([{ code: 'bad-directive', line: 5, message: expect.stringMatching(/width 999999999 in '\$\{0,999999999,n\}' is over 127/) }]);
    expect(parse(`${SOA}$GENERATE 1-1 t TXT "\${0,128,d}"\n`).problems).toMatchObject([{ line: 5, message: expect.stringMatching(/width 128 .* is over 127/) }]);
    expect(records(`$GENERATE 1-1 t TXT "\${0,127,d}"`)[0]!.rdata.length).toBe(128);
  });

  it('$GENERATE stops at 16 MiB of generated text (64 KiB of RDATA 65536 times ran out of memory)', () => {
    const big = Array(250).fill(`\\"${'y'.repeat(250)}\\"`).join(' ');
    const [z, ms] = timed(() => parse(`${SOA}$GENERATE 1-65536 h$ TXT "${big}"\n`));
    expect(ms).toBeLessThan(5000);
    expect(z.problems).toMatchObject([{ code: 'bad-directive', line: 5, message: expect.stringMatching(/over 16 MiB of generated text/) }]);
  });

  it('refuses a record too large for a DNS message (AXFR threw on it)', () => {
    const www = 17; // www.example.com. in wire form
    const fits = MAX_RECORD_OCTETS - www - 10;
    const z = checkZone(parse(`${SOA}www TYPE65280 \\# ${fits} ${'ab'.repeat(fits)}\n`));
    expect(z.problems).toEqual([]);
    const zone = buildZone(z.origin, z.records);
    const zones = new ZoneSet(new Map([[zone.origin, zone]]));
    const query = { id: 1, opcode: 0, rd: false, cd: false, qlabels: ['example', 'com'], qkey: 'example.com.', qtype: 252, qclass: 1, question: Buffer.alloc(0) };
    expect(axfrMessages(zones, query, true, 358).messages.length).toBeGreaterThan(1);
    const tooBig = parse(`${SOA}www TYPE65280 \\# ${fits + 1} ${'ab'.repeat(fits + 1)}\nx TXT ${Array(255).fill(`"${'x'.repeat(255)}"`).join(' ')} "${'x'.repeat(254)}"\n`);
    expect(tooBig.problems).toMatchObject([
      { code: 'record-too-large', line: 5, message: `record is ${MAX_RECORD_OCTETS + 1} octets (owner, type, class, TTL, length, RDATA of ${fits + 1}); a DNS message has room for ${MAX_RECORD_OCTETS}` },
      { code: 'record-too-large', line: 6 },
    ]);
  });

  it('a zone with no record at all names its file in the no-SOA error', () => {
    const z = checkZone(parse('; nothing here\n'));
    expect(z.problems).toMatchObject([{ code: 'no-soa', file: 'zones/test.zone', line: 0 }, { code: 'no-ns', file: 'zones/test.zone', line: 0 }]);
  });

  it('$INCLUDE: a few files that include each other many times stop at MAX_INCLUDES reads (this ran for ever)', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < MAX_INCLUDE_DEPTH - 1; i++) files[`zones/l${i}.inc`] = `l${i} A 192.0.2.1\n${`$INCLUDE l${i + 1}.inc\n`.repeat(10)}`;
    files[`zones/l${MAX_INCLUDE_DEPTH - 1}.inc`] = 'leaf TXT "leaf"\n';
    const [z, ms] = timed(() => parse(`${SOA}$INCLUDE l0.inc\n`, files));
    expect(ms).toBeLessThan(2000);
    expect(z.problems[0]).toMatchObject({ code: 'include-count', message: expect.stringMatching(new RegExp(`^\\$INCLUDE 'l\\d+\\.inc' is one too many: a zone may read ${MAX_INCLUDES} \\$INCLUDE files in all`)) });
    expect(z.problems.every((p) => p.code === 'include-count' || p.code === 'too-many-problems')).toBe(true);
  });

  it('$INCLUDE: included text stops at 64 MiB in all', () => {
    let reads = 0;
    const readFile = (): string => { reads++; return `; ${'x'.repeat(1 << 20)}\nh A 192.0.2.1\n`; };
    const z = parseZoneText(`${SOA}${'$INCLUDE big.inc\n'.repeat(100)}`, { file: 'zones/test.zone', origin: ORIGIN, readFile });
    expect(reads).toBe(64); // the 64th MiB goes over; later lines are refused without reading
    expect(z.problems).toHaveLength(100 - 63);
    expect(z.problems[0]).toMatchObject({ code: 'include-count', line: 68, message: "$INCLUDE 'big.inc' is one too many: a zone may read 64 MiB of $INCLUDE text in all (each inclusion counts)" });
  });

  it('$INCLUDE reads regular files only: a FIFO or /dev/zero would block or never end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamdns-zone-fifo-'));
    try {
      execFileSync('mkfifo', [join(dir, 'pipe.inc')]);
      writeFileSync(join(dir, 'fifo.example.zone'), `${SOA}$INCLUDE pipe.inc\n$INCLUDE /dev/zero\n$INCLUDE .\n`);
      const z = loadZoneFile(join(dir, 'fifo.example.zone'));
      expect(isUsable(z)).toBe(false);
      expect(z.problems.map((p) => [p.line, p.message])).toEqual([
        [5, "cannot read $INCLUDE file 'pipe.inc' (not a regular file)"],
        [6, "cannot read $INCLUDE file '/dev/zero' (not a regular file)"],
        [7, "cannot read $INCLUDE file '.' (EISDIR)"],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('origin and CLI output', () => {
  it.each([
    ['zones/example.com.zone', 'example.com.'],
    ['/x/Example.COM.zone', 'example.com.'],
    ['zones/db.example.com', undefined],
    ['.zone', undefined],
  ])('origin of %s', (file, origin) => {
    expect(originFromFileName(file)).toBe(origin);
  });

  it('takes the first $ORIGIN when nothing else names the origin', () => {
    const z = parseZoneText('$ORIGIN example.org.\n$TTL 1\n@ A 192.0.2.1\n', { file: 'db' });
    expect(z.origin).toBe('example.org.');
    expect(z.records[0]!.owner).toBe('example.org.');
  });

  it('prints file:line: message, warnings marked, and the loaded serial', async () => {
    const dir = join(import.meta.dirname, '../fixtures/zones/check');
    let out = '';
    const io = { out: (t: string) => { out += t; }, err: (t: string) => { out += t; } };
    const code = await zoneCheckMain([join(dir, 'valid-out-of-zone.example.zone'), join(dir, 'bad-ipv4.example.zone')], io);
    expect(code).toBe(1);
    expect(out).toMatch(/valid-out-of-zone\.example\.zone:7: warning: ignoring out-of-zone data/);
    expect(out).toMatch(/valid-out-of-zone\.example\.zone: loaded serial 2024010101\n/);
    expect(out).toMatch(/bad-ipv4\.example\.zone:7: bad IPv4 address '10\.1\.1\.300'/);
    expect(await zoneCheckMain(['--help'], io)).toBe(0);
    expect(await zoneCheckMain(['--config', '/nonexistent/roamdns.yaml'], io)).toBe(2);
    expect(await zoneCheckMain(['--config', 'roamdns.yaml'], io)).toBe(0); // the shipped config's zones
  });
});
