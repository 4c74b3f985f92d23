// TSIG (RFC 8945, server/tsig.ts) against the reference implementation: keys made by BIND's
// `tsig-keygen`, requests signed by `dig -y` and checked here (BADKEY, BADSIG, BADTIME, BADTRUNC,
// FORMERR), responses and multi-message AXFRs signed here and validated by `dig -y`, and real
// BIND and Knot secondaries pulling a zone with the key from a small primary built the way
// `serve` is to be wired (handler + axfrMessages + checkRequest/TsigSigner). A last block runs the
// same against `roamdns serve` once its config accepts dns.tsig_keys. 127.0.0.1 only.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressList, axfrMessages } from '../../server/axfr.js';
import { handleMessage } from '../../server/handler.js';
import { dnsMetrics, Registry } from '../../server/metrics.js';
import { keyToLabels } from '../../server/name.js';
import { nameToWire } from '../../server/rr.js';
import {
  checkRequest, findTsig, keysFromConfig, parseBindKeys, signRequest, tsigOverhead, TsigKeyring, TsigVerifier,
  type TsigCheck, type TsigKey,
} from '../../server/tsig.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { startBindSecondary, startKnotSecondary, startServeWithDns, type ReferenceServer, type TsigKeySpec } from '../helpers/reference.js';
import { encodeMessage, makeTempDir, parseMessage, query } from '../helpers/roamdns.js';

const ORIGIN = 'example.org.';

/**
 * A zone whose AXFR takes several messages: 6 TXT RRsets of about 39 KB, one per message (`big`),
 * and/or many small records that fill every message to the brim. `edge` TXT is sized so its UDP
 * answer (EDNS 1232) fits unsigned, 1200 octets, but not with a TSIG.
 */
function bigZoneText(serial = 1, smallRecords = 0, big = true): string {
  const bigTxt = Array.from({ length: 160 }, (_, j) => `"${String(j).padStart(3, '0')}${'y'.repeat(240)}"`).join(' ');
  return [
    `$ORIGIN ${ORIGIN}`, '$TTL 60', `@ SOA ns1 hostmaster ${serial} 3600 600 86400 60`, '@ NS ns1', 'ns1 A 127.0.0.1',
    'www A 198.51.100.1', 'www A 198.51.100.2', `edge TXT ${`"${'e'.repeat(255)}" `.repeat(4)}"${'e'.repeat(118)}"`,
    ...Array.from({ length: big ? 6 : 0 }, (_, i) => `big${i} TXT ${bigTxt}`),
    ...Array.from({ length: smallRecords }, (_, i) => `h${i} TXT "${'z'.repeat(40 + (i % 50))}"`), '',
  ].join('\n');
}
const zoneSet = (text: string) => new ZoneSet(new Map([[ORIGIN, buildZone(ORIGIN, parseZoneText(text, { file: 'z', origin: ORIGIN }).records)]]));

function findTool(name: string, pkg: string): string {
  const found = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
  if (!found) throw new Error(`${name} not found: apt-get install ${pkg}`);
  return found;
}

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 }));
  });
}

/** Runs Debian's dig against 127.0.0.1:port. */
const dig = (port: number, ...args: string[]) =>
  run(findTool('dig', 'bind9-dnsutils'), ['+norec', '+time=2', '+tries=1', '@127.0.0.1', '-p', String(port), ...args]);
const yArg = (k: TsigKeySpec) => `${k.algorithm}:${k.name}:${k.secret}`;
const TSIG_FAILURE = /Couldn't verify signature|Some TSIG could not be validated|tsig verify failure|expected a TSIG/;

/** A key from `tsig-keygen -a hmac-sha256 NAME`, as text and parsed. */
async function tsigKeygen(name: string): Promise<{ text: string; spec: TsigKeySpec; key: TsigKey }> {
  const r = await run(findTool('tsig-keygen', 'bind9'), ['-a', 'hmac-sha256', name]);
  if (r.code !== 0) throw new Error(`tsig-keygen failed: ${r.stderr}`);
  const key = parseBindKeys(r.stdout, 'tsig-keygen')[0]!;
  return { text: r.stdout, key, spec: { name, algorithm: 'hmac-sha256', secret: key.secret.toString('base64') } };
}

// ---- a primary wired the way serve is to be --------------------------------------------------

interface SignedPrimary {
  port: number;
  /** Every request received, with its TSIG verdict. */
  log: { transport: 'udp' | 'tcp'; msg: Buffer; verdict: TsigCheck['kind'] | string }[];
  close(): Promise<void>;
}
interface PrimaryOptions {
  zones: ZoneSet; keyring: TsigKeyring; transferAllow?: string[];
  /** Keys a transfer must be signed with; undefined: any or none (transfer_allow alone decides). */
  transferKeys?: string[];
  /** Flip a MAC bit in this message of every AXFR (the validator must notice). */
  corruptMessage?: number;
}

/**
 * UDP and TCP on 127.0.0.1 with TSIG exactly as proposed for server/dns-server.ts: check the
 * request, answer a reject at once, else handle it and sign what goes out; AXFR needs
 * transfer_allow and, when transfer keys are set, a request signed with one of them.
 */
async function startSignedPrimary(opts: PrimaryOptions): Promise<SignedPrimary> {
  const ctx = { zones: () => opts.zones, metrics: dnsMetrics(new Registry()) };
  const allow = new AddressList(opts.transferAllow ?? ['127.0.0.1/32']);
  const log: SignedPrimary['log'] = [];
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, r) => {
    const t = checkRequest(opts.keyring, msg, 'udp');
    log.push({ transport: 'udp', msg, verdict: t.kind === 'reject' ? t.error : t.kind });
    if (t.kind === 'reject') return udp.send(t.response, r.port, r.address);
    const out = handleMessage(ctx, msg, 'udp');
    if (out.kind === 'reply') udp.send(t.kind === 'signed' ? t.signer.sign(out.bytes) : out.bytes, r.port, r.address);
  });
  await new Promise<void>((res) => udp.bind(0, '127.0.0.1', () => res()));
  const port = udp.address().port;
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => c.destroy());
    let pending = Buffer.alloc(0);
    const send = (m: Buffer) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); c.write(Buffer.concat([l, m])); };
    c.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        const t = checkRequest(opts.keyring, msg, 'tcp');
        log.push({ transport: 'tcp', msg, verdict: t.kind === 'reject' ? t.error : t.kind });
        if (t.kind === 'reject') { send(t.response); continue; }
        const sign = (m: Buffer) => (t.kind === 'signed' ? t.signer.sign(m) : m);
        const out = handleMessage(ctx, msg, 'tcp');
        if (out.kind === 'reply') send(sign(out.bytes));
        else if (out.kind === 'axfr') {
          const keyOk = !opts.transferKeys || (t.kind === 'signed' && opts.transferKeys.includes(t.key.name));
          const { messages } = axfrMessages(ctx.zones(), out.query, allow.has(c.remoteAddress ?? '') && keyOk);
          messages.forEach((m, i) => {
            const s = sign(m);
            if (i === opts.corruptMessage) s[s.length - 10]! ^= 1; // inside the MAC: it ends 6 octets before the end
            send(s);
          });
        }
      }
    });
  });
  await new Promise<void>((res) => tcp.listen(port, '127.0.0.1', () => res()));
  return {
    port, log,
    close: async () => {
      udp.close();
      for (const c of conns) c.destroy();
      await new Promise<void>((res) => tcp.close(() => res()));
    },
  };
}

// ---- crafting --------------------------------------------------------------------------------

/** `signed` with its MAC cut to `n` octets (RDLENGTH fixed up). */
function truncateMac(signed: Buffer, n: number): Buffer {
  const found = findTsig(signed);
  if (found.kind !== 'tsig') throw new Error('not signed');
  const t = found.tsig;
  const macEnd = signed.length - 6 - t.otherData.length;
  const macStart = macEnd - t.mac.length;
  const size = Buffer.alloc(2);
  size.writeUInt16BE(n);
  const out = Buffer.concat([signed.subarray(0, macStart - 2), size, t.mac.subarray(0, n), signed.subarray(macEnd)]);
  const rdlenAt = t.start + nameToWire(keyToLabels(t.keyName)).length + 8;
  out.writeUInt16BE(out.readUInt16BE(rdlenAt) - (t.mac.length - n), rdlenAt);
  return out;
}

// ---- the tests -------------------------------------------------------------------------------

describe('TSIG keys', () => {
  it('reads what tsig-keygen writes', async () => {
    const { text, key } = await tsigKeygen('xfr-key');
    expect(text).toMatch(/^key "xfr-key" \{/);
    expect(key).toMatchObject({ name: 'xfr-key.', algorithm: 'hmac-sha256' });
    expect(key.secret.length).toBe(32);
  });

  it('reads several keys with comments, any algorithm name case, a trailing dot', () => {
    const keys = parseBindKeys([
      '# made by hand', 'key "a.example." {', '  algorithm HMAC-SHA512; // the strong one',
      `  secret "${Buffer.alloc(64, 7).toString('base64')}";`, '};', '/* another',
      '   one */ key b { algorithm hmac-sha256.; secret ' + `"${Buffer.alloc(32, 1).toString('base64')}"; };`,
    ].join('\n'));
    expect(keys.map((k) => [k.name, k.algorithm, k.secret.length])).toEqual([['a.example.', 'hmac-sha512', 64], ['b.', 'hmac-sha256', 32]]);
  });

  it.each([
    ['key "k" { algorithm hmac-sha256; };', /f:1: key 'k' has no secret/],
    ['\n\nkey "k" { algorithm hmac-sha256; secret "%%%"; };', /f:3: .*not base64/],
    ['key "k" { algorithm hmac-md5; secret "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; };', /f:1: .*hmac-md5' is not supported/],
    ['key "k" { algorithm hmac-sha256; secret "c2hvcnQ="; };', /f:1: .*5 octets; at least 16/],
    ['key "k" {\n algorithm hmac-sha256;\n owner "x"; };', /f:3: unknown statement 'owner'/],
    ['key "k" { algorithm hmac-sha256; secret "AAAAAAAAAAAAAAAAAAAAAA=="; }', /f:1: expected ';' at the end/],
    ['# nothing here', /f: no key \{ \.\.\. \}; statement found/],
  ])('rejects %j with file:line', (text, message) => {
    expect(() => parseBindKeys(text, 'f')).toThrow(message);
  });

  it('takes the YAML form, naming the key in errors, and refuses a name twice', () => {
    const secret = Buffer.alloc(32, 3).toString('base64');
    expect(keysFromConfig({ 'xfr-key': { algorithm: 'hmac-sha256', secret } })[0]).toMatchObject({ name: 'xfr-key.', algorithm: 'hmac-sha256' });
    expect(keysFromConfig({ k2: { secret } })[0]!.algorithm).toBe('hmac-sha256');
    expect(() => keysFromConfig({ 'xfr-key': { algorithm: 'hmac-sha256', secret: 'no!' } })).toThrow(/^dns\.tsig_keys\.xfr-key: the secret is not base64/);
    const k = keysFromConfig({ a: { secret } })[0]!;
    expect(() => new TsigKeyring([k, { ...k }])).toThrow(/'a\.' is defined twice/);
  });
});

describe('requests signed by dig -y, responses validated by dig', () => {
  let key: Awaited<ReturnType<typeof tsigKeygen>>;
  let primary: SignedPrimary;
  let captured: Buffer;

  beforeAll(async () => {
    key = await tsigKeygen('xfr-key');
    primary = await startSignedPrimary({ zones: zoneSet(bigZoneText()), keyring: new TsigKeyring([key.key]), transferKeys: ['xfr-key.'] });
    const r = await dig(primary.port, '-y', yArg(key.spec), 'www.example.org', 'A');
    captured = primary.log.find((l) => l.transport === 'udp')!.msg;
    expect(r.stdout, r.stdout).toMatch(/status: NOERROR/);
  });
  afterAll(() => primary?.close());

  it("verifies dig's signed query (its EDNS OPT and cookie before the TSIG)", () => {
    expect(findTsig(captured)).toMatchObject({ kind: 'tsig', tsig: { keyName: 'xfr-key.', algorithm: 'hmac-sha256', fudge: 300, error: 0 } });
    expect(checkRequest(new TsigKeyring([key.key]), captured, 'udp').kind).toBe('signed');
  });

  it('says BADKEY for an unknown key and BADSIG for a wrong secret or a changed message, unsigned', () => {
    const other = keysFromConfig({ 'xfr-key': { secret: Buffer.alloc(32, 9).toString('base64') } });
    const stranger = keysFromConfig({ 'other-key': { secret: key.spec.secret } });
    const tampered = Buffer.from(captured);
    tampered[14]! ^= 0x20; // a letter of the question changes case: still a valid query, not what was signed
    for (const [ring, msg, error] of [[stranger, captured, 'BADKEY'], [other, captured, 'BADSIG'], [[key.key], tampered, 'BADSIG']] as const) {
      const c = checkRequest(new TsigKeyring(ring), msg, 'udp');
      expect(c).toMatchObject({ kind: 'reject', error });
      if (c.kind !== 'reject') continue;
      const res = parseMessage(c.response);
      expect(res.rcodeName).toBe('NOTAUTH');
      const t = findTsig(c.response);
      expect(t).toMatchObject({ kind: 'tsig', tsig: { error: error === 'BADKEY' ? 17 : 16, mac: Buffer.alloc(0) } });
    }
  });

  it('says BADTIME outside the fudge, signed, with the request time and ours in Other Data', () => {
    const t = (findTsig(captured) as { tsig: { timeSigned: number; mac: Buffer } }).tsig;
    const now = t.timeSigned + 301;
    expect(checkRequest(new TsigKeyring([key.key]), captured, 'udp', () => t.timeSigned - 300).kind).toBe('signed');
    const c = checkRequest(new TsigKeyring([key.key]), captured, 'udp', () => now);
    expect(c).toMatchObject({ kind: 'reject', error: 'BADTIME' });
    const response = (c as { response: Buffer }).response;
    const rt = (findTsig(response) as { tsig: { timeSigned: number; otherData: Buffer; error: number } }).tsig;
    expect([parseMessage(response).rcodeName, rt.error, rt.timeSigned, rt.otherData.readUIntBE(0, 6)]).toEqual(['NOTAUTH', 18, t.timeSigned, now]);
    expect(new TsigVerifier(key.key, t.mac, () => now).verify(response)).toBe('server says TSIG error 18'); // MAC good, error reported
  });

  it('says BADTRUNC for a truncated MAC (signed); FORMERR below 16 octets, with the TSIG not last or not class ANY', () => {
    const signed = signRequest(key.key, encodeMessage({ id: 5, questions: [{ name: 'www.example.org', type: 'A' }] })).message;
    const ring = new TsigKeyring([key.key]);
    expect(checkRequest(ring, signed, 'udp').kind).toBe('signed');
    expect(checkRequest(ring, truncateMac(signed, 16), 'udp')).toMatchObject({ kind: 'reject', error: 'BADTRUNC' });
    expect(checkRequest(ring, truncateMac(signed, 15), 'udp')).toMatchObject({ kind: 'reject', error: 'FORMERR' });
    const opt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    const notLast = Buffer.concat([signed, opt]);
    notLast.writeUInt16BE(notLast.readUInt16BE(10) + 1, 10);
    const c = checkRequest(ring, notLast, 'udp');
    expect(c).toMatchObject({ kind: 'reject', error: 'FORMERR' });
    expect(parseMessage((c as { response: Buffer }).response).rcodeName).toBe('FORMERR');
    const classIn = Buffer.from(signed);
    classIn.writeUInt16BE(1, (findTsig(signed) as { tsig: { start: number } }).tsig.start + nameToWire(['xfr-key']).length + 2);
    expect(checkRequest(ring, classIn, 'udp')).toMatchObject({ kind: 'reject', error: 'FORMERR' }); // RFC 8945 §4.2: class ANY
    expect(checkRequest(ring, encodeMessage({ questions: [{ name: 'www.example.org', type: 'A' }] }), 'udp').kind).toBe('unsigned');
    // What the handler must drop stays unanswered here too: responses (QR=1), runts, garbage before any TSIG.
    const response = Buffer.from(signed);
    response[2]! |= 0x80;
    for (const m of [response, signed.subarray(0, 11), Buffer.from('4042ffffffff00000000000067617262616765', 'hex')]) {
      expect(checkRequest(ring, m, 'udp').kind).toBe('unsigned');
    }
  });

  it('adds exactly tsigOverhead() octets to a message (what a packer must leave free)', () => {
    const q = signRequest(key.key, encodeMessage({ id: 1, questions: [{ name: 'www.example.org', type: 'A' }] }));
    const c = checkRequest(new TsigKeyring([key.key]), q.message, 'tcp');
    const body = encodeMessage({ id: 1, questions: [{ name: 'www.example.org', type: 'A' }] });
    body[2] = 0x84;
    expect((c as { signer: { sign(b: Buffer): Buffer } }).signer.sign(body).length - body.length).toBe(tsigOverhead(key.key));
  });

  it('signs the answer so that dig validates it', async () => {
    const r = await dig(primary.port, '-y', yArg(key.spec), 'www.example.org', 'A');
    expect(r.stdout).toMatch(/status: NOERROR/);
    expect(r.stdout).toMatch(/TSIG PSEUDOSECTION:\nxfr-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 32 \S+ \d+ NOERROR 0/);
    expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
  });

  it('shows dig the BADKEY and BADSIG answers (NOTAUTH)', async () => {
    const stranger = await dig(primary.port, '-y', yArg({ ...key.spec, name: 'other-key' }), 'www.example.org', 'A');
    expect(stranger.stdout).toMatch(/status: NOTAUTH[\s\S]*TSIG.* BADKEY /);
    const wrong = await dig(primary.port, '-y', yArg({ ...key.spec, secret: Buffer.alloc(32, 1).toString('base64') }), 'www.example.org', 'A');
    expect(wrong.stdout).toMatch(/status: NOTAUTH[\s\S]*TSIG.* BADSIG /);
  });

  it('truncates a signed UDP answer that only the TSIG pushes past the buffer, TSIG kept; dig retries over TCP', async () => {
    const plain = await query(primary.port, 'edge.example.org', 'TXT', { edns: true });
    expect([plain.flags.tc, plain.size]).toEqual([false, 1200]);
    const { message, mac } = signRequest(key.key, encodeMessage({ id: 9, questions: [{ name: 'edge.example.org', type: 'TXT' }], edns: true }));
    const c = dgram.createSocket('udp4');
    const reply = await new Promise<Buffer>((resolve) => {
      c.on('message', (m) => resolve(m));
      c.bind(0, '127.0.0.1', () => c.send(message, primary.port, '127.0.0.1'));
    });
    c.close();
    expect(parseMessage(reply)).toMatchObject({ flags: { tc: true }, answer: [], edns: { udpSize: 1232 } });
    expect(reply.length).toBeLessThanOrEqual(1232);
    expect(new TsigVerifier(key.key, mac).verify(reply)).toBeNull();
    const r = await dig(primary.port, '-y', yArg(key.spec), 'edge.example.org', 'TXT');
    expect(r.stdout + r.stderr).toMatch(/Truncated, retrying in TCP mode/);
    expect(r.stdout).toMatch(/status: NOERROR[\s\S]*ANSWER: 1/);
    expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
  });

  it('signs every message of a multi-message AXFR so that dig validates the chain', async () => {
    const r = await dig(primary.port, '-y', yArg(key.spec), ORIGIN, 'AXFR');
    const xfr = /XFR size: (\d+) records \(messages (\d+)/.exec(r.stdout);
    expect(xfr, r.stdout.slice(-2000) + r.stderr).not.toBeNull();
    expect(Number(xfr![2])).toBeGreaterThanOrEqual(6);
    expect(r.stdout.match(/\sTSIG\s/g)?.length).toBe(Number(xfr![2])); // one TSIG per message
    expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
  });

  it('and our own verifier agrees message by message', async () => {
    const { message, mac } = signRequest(key.key, encodeMessage({ id: 77, questions: [{ name: ORIGIN, type: 'AXFR' }] }));
    const soas = (got: Buffer[]) => got.flatMap((m) => parseMessage(m).answer).filter((a) => a.type === 'SOA').length;
    const replies = await tcpExchange(primary.port, message, (got) => soas(got) >= 2);
    const v = new TsigVerifier(key.key, mac);
    expect(replies.length).toBeGreaterThanOrEqual(6);
    expect(replies.map((m) => v.verify(m))).toEqual(replies.map(() => null));
    // Replaying a message out of order breaks the chain.
    expect(new TsigVerifier(key.key, mac).verify(replies[1]!)).toBe('bad MAC');
  });

  it('is caught by dig when one message of the chain is corrupted (the oracle can fail)', async () => {
    const bad = await startSignedPrimary({ zones: zoneSet(bigZoneText()), keyring: new TsigKeyring([key.key]), corruptMessage: 2 });
    try {
      const r = await dig(bad.port, '-y', yArg(key.spec), ORIGIN, 'AXFR');
      expect(r.stdout + r.stderr).toMatch(TSIG_FAILURE);
    } finally {
      await bad.close();
    }
  });

  it('refuses AXFR without the transfer key, and answers the refusal signed to a signed request', async () => {
    const unsigned = await dig(primary.port, ORIGIN, 'AXFR');
    expect(unsigned.stdout).toMatch(/Transfer failed|REFUSED/);
    const other = await tsigKeygen('other-key');
    const p2 = await startSignedPrimary({ zones: zoneSet(bigZoneText()), keyring: new TsigKeyring([key.key, other.key]), transferKeys: ['xfr-key.'] });
    try {
      const r = await dig(p2.port, '-y', yArg(other.spec), ORIGIN, 'AXFR');
      expect(r.stdout).toMatch(/Transfer failed|REFUSED/);
      expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
    } finally {
      await p2.close();
    }
  });
});

/** TCP: sends one message, collects replies until `done`. */
function tcpExchange(port: number, msg: Buffer, done: (got: Buffer[]) => boolean): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const s = net.connect({ host: '127.0.0.1', port }, () => { const l = Buffer.alloc(2); l.writeUInt16BE(msg.length); s.write(Buffer.concat([l, msg])); });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no complete answer; got ${got.length} messages`)); }, 10_000);
    s.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        got.push(Buffer.from(pending.subarray(2, 2 + pending.readUInt16BE(0))));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
        if (done(got)) { clearTimeout(timer); s.destroy(); resolve(got); return; }
      }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

const soaSerial = async (port: number): Promise<number> => Number((await query(port, ORIGIN, 'SOA')).answer[0]?.rdata.split(' ')[2]);

describe('BIND and Knot secondaries pull with the key', () => {
  let key: Awaited<ReturnType<typeof tsigKeygen>>;
  let primary: SignedPrimary;
  const secondaries: ReferenceServer[] = [];

  beforeAll(async () => {
    key = await tsigKeygen('xfr-key');
    primary = await startSignedPrimary({ zones: zoneSet(bigZoneText(7)), keyring: new TsigKeyring([key.key]), transferKeys: ['xfr-key.'] });
  });
  afterAll(async () => { await Promise.all(secondaries.map((s) => s.stop())); await primary?.close(); }, 30_000);

  for (const [kind, start] of [['BIND', startBindSecondary], ['Knot', startKnotSecondary]] as const) {
    it(`${kind} transfers the multi-message zone signed with xfr-key and serves it`, async () => {
      const before = primary.log.length;
      const sec = await start({ origin: ORIGIN, primaryPort: primary.port, tsig: key.spec, waitMs: 20_000 });
      secondaries.push(sec);
      expect(await soaSerial(sec.port)).toBe(7);
      const big = await query(sec.port, 'big5.example.org', 'TXT', { transport: 'tcp' });
      expect(big.answer[0]?.rdata.length).toBeGreaterThan(38_000);
      const axfrs = primary.log.slice(before).filter((l) => l.transport === 'tcp' && parseMessage(l.msg).question[0]?.type === 'AXFR');
      expect(axfrs.map((l) => l.verdict)).toEqual(axfrs.map(() => 'signed'));
      expect(axfrs.length).toBeGreaterThan(0);
      expect(sec.output()).not.toMatch(/tsig verify failure|BADSIG|BADKEY/i);
    }, 60_000);

    it(`${kind} without the key does not get the zone`, async () => {
      const attempt = start({ origin: ORIGIN, primaryPort: primary.port, waitMs: 4000 });
      await expect(attempt).rejects.toThrow(/did not answer example\.org\. SOA/);
    }, 30_000);
  }
});

// ---- roamdns serve -----------------------------------------------------------------

describe('roamdns serve with dns.tsig_keys and dns.transfer_keys', () => {
  let key: Awaited<ReturnType<typeof tsigKeygen>>;
  let serve: Awaited<ReturnType<typeof startServeWithDns>>;
  let dir: string;
  const secondaries: ReferenceServer[] = [];

  beforeAll(async () => {
    key = await tsigKeygen('xfr-key');
    dir = await makeTempDir('roamdns-tsig-zone');
    // Thousands of small records: every AXFR message is packed full, so the packer must leave room for
    // the TSIG. Kept under 256 KiB in all: dns-server.ts cuts off a TCP client with more than that
    // unread, which a large AXFR written in one go can trip on a loaded machine.
    await writeFile(path.join(dir, 'example.org.zone'), bigZoneText(3, 3000, false));
    serve = await startServeWithDns({ zoneFiles: [path.join(dir, 'example.org.zone')], readyZone: ORIGIN, dns: [
      'tsig_keys:', `  xfr-key: { algorithm: hmac-sha256, secret: "${key.spec.secret}" }`, 'transfer_keys: [xfr-key]',
    ] });
  }, 60_000);
  afterAll(async () => { await Promise.all(secondaries.map((s) => s.stop())); await serve?.stop(); await rm(dir, { recursive: true, force: true }); }, 30_000);

  it('refuses AXFR without the key, even from an address in transfer_allow', async () => {
    const r = await dig(serve.port, ORIGIN, 'AXFR');
    expect(r.stdout).toMatch(/Transfer failed|REFUSED/);
  });

  it('gives a signed AXFR that dig validates, every message full and signed', async () => {
    const r = await dig(serve.port, '-y', yArg(key.spec), ORIGIN, 'AXFR');
    const xfr = /XFR size: (\d+) records \(messages (\d+)/.exec(r.stdout);
    expect(xfr, r.stdout.slice(-2000)).not.toBeNull();
    expect(Number(xfr![2])).toBeGreaterThanOrEqual(3);
    expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
  });

  it('keeps the key out of /status, /metrics and the logs', async () => {
    for (const p of ['/status', '/metrics']) {
      const body = await (await fetch(`http://127.0.0.1:${serve.statusPort}${p}`)).text();
      expect(body.length, p).toBeGreaterThan(100);
      expect(body, p).not.toContain(key.spec.secret);
    }
    expect(serve.proc.output()).not.toContain(key.spec.secret);
  });

  it('answers a signed query with a signed answer dig validates', async () => {
    const r = await dig(serve.port, '-y', yArg(key.spec), 'www.example.org', 'A');
    expect(r.stdout).toMatch(/status: NOERROR[\s\S]*TSIG PSEUDOSECTION/);
    expect(r.stdout + r.stderr).not.toMatch(TSIG_FAILURE);
  });

  for (const [kind, start] of [['BIND', startBindSecondary], ['Knot', startKnotSecondary]] as const) {
    it(`${kind} secondary pulls the zone with the key`, async () => {
      const sec = await start({ origin: ORIGIN, primaryPort: serve.port, tsig: key.spec, waitMs: 20_000 });
      secondaries.push(sec);
      expect(await soaSerial(sec.port)).toBe(3);
      expect((await query(sec.port, 'h2999.example.org', 'TXT')).answer.length).toBe(1);
    }, 60_000);
  }
});
