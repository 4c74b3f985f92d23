// TSIG (RFC 8945): shared-secret HMAC signatures on DNS messages, so that secondaries pull zones
// (and receive NOTIFY) only with a key. Server side: check a request's TSIG and sign the response,
// every message of a multi-message AXFR included; client side (NOTIFY, tests): sign a request and
// verify the responses. Keys come from BIND key files (what `tsig-keygen` writes) or from YAML.
//
// What each MAC covers (RFC 8945 §4.3):
//   request, or the first message of a response:  [request MAC] + message + TSIG variables
//   later messages of a multi-message response:    previous MAC + message + timers   (§5.3.1)
// where "message" is the message without its TSIG, ARCOUNT one less and the ID the original ID;
// a MAC is prefixed by its 16-bit size; "variables" are the key name and algorithm in canonical
// (lower-case, uncompressed) form, class ANY, TTL 0, time signed, fudge, error and other data.
//
// A request's TSIG is checked in this order (RFC 8945 §5.2), each failure answered with NOTAUTH:
//   unknown key or algorithm     BADKEY    response carries an unsigned TSIG (MAC size 0)
//   MAC wrong                    BADSIG    unsigned
//   MAC truncated                BADTRUNC  signed (we accept only full-length MACs)
//   time off by more than fudge  BADTIME   signed, our clock in Other Data (6 octets)
// A malformed TSIG (not last, two of them, MAC longer than the hash, shorter than 10 octets or half
// the hash) is FORMERR.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { labelsToKey, parseName } from './name.js';
import { nameToWire } from './rr.js';
import { slipResponse } from './rrl.js';
import { HEADER_LEN, Rcode, readName } from './wire.js';

export const TSIG_TYPE = 250;
const CLASS_ANY = 255;
const OPT_TYPE = 41;
/** Seconds of clock difference a signature tolerates; 300 is what BIND and Knot use (RFC 8945 §10). */
export const DEFAULT_FUDGE = 300;
const MAX_MESSAGE = 65535;

export const TsigError = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;
export type TsigRejection = 'FORMERR' | 'BADKEY' | 'BADSIG' | 'BADTIME' | 'BADTRUNC';

/** Algorithm names (RFC 8945 §6): node's hash and its output length; hmac-md5 is left out on purpose. */
const ALGORITHMS: Record<string, { hash: string; bytes: number }> = {
  'hmac-sha1': { hash: 'sha1', bytes: 20 }, 'hmac-sha224': { hash: 'sha224', bytes: 28 }, 'hmac-sha256': { hash: 'sha256', bytes: 32 },
  'hmac-sha384': { hash: 'sha384', bytes: 48 }, 'hmac-sha512': { hash: 'sha512', bytes: 64 },
};

export interface TsigKey {
  /** Canonical key name: lower-case, absolute ("xfr-key."). */
  name: string;
  algorithm: string;
  secret: Buffer;
}

/** Builds a key, checking the name, the algorithm and the base64 secret; `where` prefixes error messages. */
export function makeKey(name: string, algorithm: string, secretBase64: string, where = 'TSIG key'): TsigKey {
  let canonical: string;
  try {
    canonical = labelsToKey(parseName(name.endsWith('.') ? name : name + '.', null));
  } catch (err) {
    throw new Error(`${where}: '${name}' is not a valid key name (${(err as Error).message})`);
  }
  const alg = algorithm.toLowerCase().replace(/\.$/, '');
  if (!(alg in ALGORITHMS)) throw new Error(`${where}: algorithm '${algorithm}' is not supported (use one of ${Object.keys(ALGORITHMS).join(', ')})`);
  const b64 = secretBase64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) throw new Error(`${where}: the secret is not base64`);
  const secret = Buffer.from(b64, 'base64');
  // RFC 8945 §6: a key shorter than half the hash is weak; tsig-keygen makes keys as long as the hash.
  if (secret.length < 16) throw new Error(`${where}: the secret is ${secret.length} octets; at least 16 are required (tsig-keygen makes ${hashLength(alg)})`);
  return { name: canonical, algorithm: alg, secret };
}

/** The keys a server knows, by canonical name. */
export class TsigKeyring {
  private readonly keys = new Map<string, TsigKey>();

  constructor(keys: Iterable<TsigKey> = []) {
    for (const k of keys) {
      if (this.keys.has(k.name)) throw new Error(`TSIG key '${k.name}' is defined twice`);
      this.keys.set(k.name, k);
    }
  }

  get(name: string): TsigKey | undefined {
    return this.keys.get(name);
  }

  get size(): number {
    return this.keys.size;
  }

  names(): string[] {
    return [...this.keys.keys()];
  }
}

/** `dns.tsig_keys` from roamdns.yaml: `{ name: { algorithm: hmac-sha256, secret: base64 } }`. */
export function keysFromConfig(map: Record<string, { algorithm?: string; secret: string }>, where = 'dns.tsig_keys'): TsigKey[] {
  return Object.entries(map).map(([name, k]) => makeKey(name, k.algorithm ?? 'hmac-sha256', k.secret, `${where}.${name}`));
}

/**
 * Keys from BIND syntax, as `tsig-keygen` writes them:
 *   key "xfr-key" { algorithm hmac-sha256; secret "base64..."; };
 * Comments (#, //, C-style) are allowed; errors say `file:line: what`.
 */
export function parseBindKeys(text: string, file = 'key file'): TsigKey[] {
  const tokens = tokenize(text);
  const keys: TsigKey[] = [];
  let i = 0;
  const fail = (msg: string, at = tokens[Math.min(i, tokens.length - 1)]): never => {
    throw new Error(`${file}:${at?.line ?? 1}: ${msg}`);
  };
  const expect = (v: string) => {
    if (tokens[i]?.text !== v || tokens[i]?.quoted) fail(`expected '${v}'${tokens[i] ? `, found '${tokens[i]!.text}'` : ' at the end'}`);
    i++;
  };
  while (i < tokens.length) {
    const start = tokens[i]!;
    expect('key');
    const name = tokens[i++] ?? fail('a key name is missing');
    expect('{');
    let algorithm: string | undefined, secret: string | undefined;
    while (tokens[i] && tokens[i]!.text !== '}') {
      const stmt = tokens[i++]!;
      const value = tokens[i++] ?? fail(`'${stmt.text}' has no value`);
      if (stmt.text === 'algorithm') algorithm = value.text;
      else if (stmt.text === 'secret') secret = value.text;
      else fail(`unknown statement '${stmt.text}' in key '${name.text}' (only algorithm and secret)`, stmt);
      expect(';');
    }
    expect('}');
    expect(';');
    if (!algorithm) fail(`key '${name.text}' has no algorithm`, start);
    if (!secret) fail(`key '${name.text}' has no secret`, start);
    try {
      keys.push(makeKey(name.text, algorithm!, secret!, `key '${name.text}'`));
    } catch (err) {
      fail((err as Error).message, start);
    }
  }
  if (keys.length === 0) throw new Error(`${file}: no key { ... }; statement found`);
  return keys;
}

function tokenize(text: string): { text: string; line: number; quoted: boolean }[] {
  const out: { text: string; line: number; quoted: boolean }[] = [];
  const re = /"([^"]*)"|(\/\*[\s\S]*?\*\/)|((?:#|\/\/)[^\n]*)|([{};])|([^\s{};"#]+)|(\n)/g;
  let line = 1;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[6]) line++;
    else if (m[2]) line += m[2].split('\n').length - 1;
    else if (m[1] !== undefined) out.push({ text: m[1], line, quoted: true });
    else if (m[4] ?? m[5]) out.push({ text: (m[4] ?? m[5])!, line, quoted: false });
  }
  return out;
}

function hashLength(algorithm: string): number {
  return ALGORITHMS[algorithm]!.bytes;
}

// ---- wire form -----------------------------------------------------------------------------

/** A TSIG record as found at the end of a message. */
export interface TsigRecord {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
  /** Offset of the TSIG RR: the message it signs is the bytes before it. */
  start: number;
}

type Located = { kind: 'none'; udpSize?: number } | { kind: 'tsig'; tsig: TsigRecord; udpSize?: number } | { kind: 'formerr'; reason: string };

/**
 * Walks a message: is there a TSIG, is it the last record (RFC 8945 §5.1), and what does it say?
 * A message too broken to reach a TSIG counts as unsigned: the handler has its own verdict for it.
 */
export function findTsig(msg: Buffer): Located {
  let seen = false;
  try {
    if (msg.length < HEADER_LEN) return { kind: 'none' };
    const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o));
    let off = HEADER_LEN;
    for (let i = 0; i < counts[0]!; i++) off = readName(msg, off).end + 4;
    const total = counts[1]! + counts[2]! + counts[3]!;
    let udpSize: number | undefined;
    for (let i = 0; i < total; i++) {
      const start = off;
      const owner = readName(msg, off);
      const type = msg.readUInt16BE(owner.end);
      const rdStart = owner.end + 10;
      off = rdStart + msg.readUInt16BE(owner.end + 8);
      if (off > msg.length) return seen ? { kind: 'formerr', reason: 'record runs past the message' } : { kind: 'none' };
      if (type === OPT_TYPE && i >= counts[1]! + counts[2]!) udpSize = msg.readUInt16BE(owner.end + 2);
      if (type !== TSIG_TYPE) continue;
      seen = true;
      if (i !== total - 1 || off !== msg.length) return { kind: 'formerr', reason: 'TSIG is not the last record' };
      if (i < counts[1]! + counts[2]!) return { kind: 'formerr', reason: 'TSIG outside the additional section' };
      // RFC 8945 §4.2: class ANY, TTL 0.
      if (msg.readUInt16BE(owner.end + 2) !== CLASS_ANY || msg.readUInt32BE(owner.end + 4) !== 0) return { kind: 'formerr', reason: 'TSIG class or TTL' };
      return { kind: 'tsig', tsig: readTsigRdata(msg, owner.labels, rdStart, off, start), udpSize };
    }
    return { kind: 'none', udpSize };
  } catch {
    return seen ? { kind: 'formerr', reason: 'malformed TSIG' } : { kind: 'none' };
  }
}

function readTsigRdata(msg: Buffer, owner: string[], rdStart: number, end: number, start: number): TsigRecord {
  const alg = readName(msg, rdStart);
  let o = alg.end;
  const timeSigned = msg.readUIntBE(o, 6);
  const fudge = msg.readUInt16BE(o + 6);
  const macSize = msg.readUInt16BE(o + 8);
  const mac = msg.subarray(o + 10, o + 10 + macSize);
  o += 10 + macSize;
  const originalId = msg.readUInt16BE(o);
  const error = msg.readUInt16BE(o + 2);
  const otherLen = msg.readUInt16BE(o + 4);
  const otherData = msg.subarray(o + 6, o + 6 + otherLen);
  if (mac.length !== macSize || o + 6 + otherLen !== end) throw new Error('bad TSIG RDATA');
  return { keyName: labelsToKey(owner), algorithm: labelsToKey(alg.labels).replace(/\.$/, ''), timeSigned, fudge, mac, originalId, error, otherData, start };
}

/** The TSIG variables of RFC 8945 §4.3.3 (all of them, or just the timers for later messages). */
function variables(keyName: string, algorithm: string, timeSigned: number, fudge: number, error: number, other: Buffer, full: boolean): Buffer {
  const timers = Buffer.alloc(8);
  timers.writeUIntBE(timeSigned, 0, 6);
  timers.writeUInt16BE(fudge, 6);
  if (!full) return timers;
  const mid = Buffer.alloc(6);
  mid.writeUInt16BE(CLASS_ANY, 0); // TTL 0 follows
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(error, 0);
  tail.writeUInt16BE(other.length, 2);
  return Buffer.concat([keyWire(keyName), mid, keyWire(algorithm + '.'), timers, tail, other]);
}

function keyWire(key: string): Buffer {
  return nameToWire(key === '.' ? [] : parseName(key, null));
}

function withSize(mac: Buffer): Buffer {
  const b = Buffer.alloc(2 + mac.length);
  b.writeUInt16BE(mac.length, 0);
  mac.copy(b, 2);
  return b;
}

/** The message a MAC covers: `msg` up to `end`, ARCOUNT less `dropped`, ID = original ID. */
function unsignedPart(msg: Buffer, end: number, originalId: number, dropped: number): Buffer {
  const m = Buffer.from(msg.subarray(0, end));
  m.writeUInt16BE(originalId, 0);
  m.writeUInt16BE(m.readUInt16BE(10) - dropped, 10);
  return m;
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac(ALGORITHMS[key.algorithm]!.hash, key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

interface TsigFields { timeSigned: number; fudge: number; mac: Buffer; originalId: number; error: number; otherData: Buffer }

/** Appends a TSIG RR (owner = key name, class ANY, TTL 0) and counts it in ARCOUNT. */
function appendTsig(msg: Buffer, keyName: string, algorithm: string, f: TsigFields): Buffer {
  const owner = keyWire(keyName), alg = keyWire(algorithm + '.');
  const rdlen = alg.length + 16 + f.mac.length + f.otherData.length;
  const rr = Buffer.alloc(owner.length + 10 + rdlen);
  let o = owner.copy(rr, 0);
  rr.writeUInt16BE(TSIG_TYPE, o);
  rr.writeUInt16BE(CLASS_ANY, o + 2);
  rr.writeUInt32BE(0, o + 4);
  rr.writeUInt16BE(rdlen, o + 8);
  o += 10 + alg.copy(rr, o + 10);
  rr.writeUIntBE(f.timeSigned, o, 6);
  rr.writeUInt16BE(f.fudge, o + 6);
  rr.writeUInt16BE(f.mac.length, o + 8);
  o += 10 + f.mac.copy(rr, o + 10);
  rr.writeUInt16BE(f.originalId, o);
  rr.writeUInt16BE(f.error, o + 2);
  rr.writeUInt16BE(f.otherData.length, o + 4);
  f.otherData.copy(rr, o + 6);
  const out = Buffer.concat([msg, rr]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/** Octets a TSIG signed with `key` adds to a message (plus 6 on a BADTIME error). */
export function tsigOverhead(key: TsigKey): number {
  return keyWire(key.name).length + 10 + keyWire(key.algorithm + '.').length + 16 + hashLength(key.algorithm);
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

// ---- server side ----------------------------------------------------------------------------

/**
 * Signs the responses to one verified request: the first with the request's MAC and the full
 * variables, every later one (the rest of an AXFR) with the previous MAC and the timers only.
 */
export class TsigSigner {
  private prior: Buffer;
  private first = true;

  constructor(
    readonly key: TsigKey,
    requestMac: Buffer,
    private readonly clock: () => number = nowSeconds,
    /** The most a UDP response may take (undefined over TCP): a signed answer that outgrows it goes out truncated. */
    private readonly udpLimit?: number,
  ) {
    this.prior = requestMac;
  }

  /** Appends our TSIG to `response`; call once per message, in the order they are sent. */
  sign(response: Buffer, error: number = TsigError.NOERROR, timeSigned = this.clock(), other: Buffer = Buffer.alloc(0)): Buffer {
    if (this.first && this.udpLimit !== undefined && response.length + tsigOverhead(this.key) + other.length > this.udpLimit) {
      // RFC 8945 §5.3: the TSIG must survive truncation, so drop the records instead.
      response = slipResponse(response) ?? response;
    }
    const originalId = response.readUInt16BE(0);
    const parts = [withSize(this.prior), unsignedPart(response, response.length, originalId, 0),
      variables(this.key.name, this.key.algorithm, timeSigned, DEFAULT_FUDGE, error, other, this.first)];
    const mac = hmac(this.key, parts);
    this.prior = mac;
    this.first = false;
    const out = appendTsig(response, this.key.name, this.key.algorithm, { timeSigned, fudge: DEFAULT_FUDGE, mac, originalId, error, otherData: other });
    if (out.length > MAX_MESSAGE) throw new Error(`signed message of ${out.length} octets exceeds 65535; leave tsigOverhead() free when packing`);
    return out;
  }
}

export type TsigCheck =
  | { kind: 'unsigned' }
  | { kind: 'signed'; key: TsigKey; signer: TsigSigner }
  | { kind: 'reject'; error: TsigRejection; response: Buffer };

/**
 * Checks the TSIG of a request. `unsigned`: none there; `signed`: verified, answer through the
 * signer; `reject`: send `response` (already built, signed where the RFC says so) and nothing else.
 */
export function checkRequest(keyring: TsigKeyring, msg: Buffer, transport: 'udp' | 'tcp', clock: () => number = nowSeconds): TsigCheck {
  // Responses (QR=1) and runts are never answered; leave them to the handler, which drops them.
  if (msg.length < HEADER_LEN || (msg[2]! & 0x80) !== 0) return { kind: 'unsigned' };
  const found = findTsig(msg);
  if (found.kind === 'none') return { kind: 'unsigned' };
  if (found.kind === 'formerr') return { kind: 'reject', error: 'FORMERR', response: errorResponse(msg, Rcode.FORMERR) };
  const t = found.tsig;
  const now = clock();
  const udpLimit = transport === 'udp' ? Math.max(512, Math.min(found.udpSize ?? 512, 1232)) : undefined;
  const key = keyring.get(t.keyName);
  const unsignedError = (error: number) => appendTsig(errorResponse(msg, Rcode.NOTAUTH), t.keyName, t.algorithm,
    { timeSigned: now, fudge: DEFAULT_FUDGE, mac: Buffer.alloc(0), originalId: t.originalId, error, otherData: Buffer.alloc(0) });
  if (!key || key.algorithm !== t.algorithm) return { kind: 'reject', error: 'BADKEY', response: unsignedError(TsigError.BADKEY) };
  const full = hashLength(key.algorithm);
  if (t.mac.length > full || t.mac.length < Math.max(10, full / 2)) return { kind: 'reject', error: 'FORMERR', response: errorResponse(msg, Rcode.FORMERR) };
  const expected = hmac(key, [unsignedPart(msg, t.start, t.originalId, 1),
    variables(t.keyName, t.algorithm, t.timeSigned, t.fudge, t.error, t.otherData, true)]);
  if (!timingSafeEqual(expected.subarray(0, t.mac.length), t.mac)) return { kind: 'reject', error: 'BADSIG', response: unsignedError(TsigError.BADSIG) };
  const signer = new TsigSigner(key, t.mac, clock, udpLimit);
  if (t.mac.length < full) return { kind: 'reject', error: 'BADTRUNC', response: signer.sign(errorResponse(msg, Rcode.NOTAUTH), TsigError.BADTRUNC) };
  if (Math.abs(now - t.timeSigned) > t.fudge) {
    // BADTIME is signed, carries the request's time and ours in Other Data, so the client can see the skew.
    const ours = Buffer.alloc(6);
    ours.writeUIntBE(now, 0, 6);
    return { kind: 'reject', error: 'BADTIME', response: signer.sign(errorResponse(msg, Rcode.NOTAUTH), TsigError.BADTIME, t.timeSigned, ours) };
  }
  return { kind: 'signed', key, signer };
}

/** Header and question of a request turned into an error response (QR set, opcode and RD kept). */
function errorResponse(msg: Buffer, rcode: number): Buffer {
  let end = HEADER_LEN;
  let qd = 0;
  try {
    if (msg.readUInt16BE(4) === 1) {
      end = readName(msg, HEADER_LEN).end + 4;
      if (end <= msg.length) qd = 1;
      else end = HEADER_LEN;
    }
  } catch {
    end = HEADER_LEN;
  }
  const out = Buffer.alloc(end);
  msg.copy(out, 0, 0, Math.min(end, msg.length));
  out[2] = 0x80 | (msg[2]! & 0x79);
  out[3] = rcode & 0x0f;
  out.writeUInt16BE(qd, 4);
  out.fill(0, 6, 12);
  return out;
}

// ---- client side ----------------------------------------------------------------------------

/** Signs a request (a NOTIFY, a test query); keep `mac` to verify the response. */
export function signRequest(key: TsigKey, msg: Buffer, now: number = nowSeconds(), fudge = DEFAULT_FUDGE): { message: Buffer; mac: Buffer } {
  const originalId = msg.readUInt16BE(0);
  const mac = hmac(key, [msg, variables(key.name, key.algorithm, now, fudge, 0, Buffer.alloc(0), true)]);
  return { message: appendTsig(msg, key.name, key.algorithm, { timeSigned: now, fudge, mac, originalId, error: 0, otherData: Buffer.alloc(0) }), mac };
}

/**
 * Verifies the responses to a signed request, in order (RFC 8945 §5.3.1: every message of ours
 * is signed; unsigned ones in between are allowed by the RFC but refused here).
 */
export class TsigVerifier {
  private prior: Buffer;
  private first = true;

  constructor(private readonly key: TsigKey, requestMac: Buffer, private readonly clock: () => number = nowSeconds) {
    this.prior = requestMac;
  }

  /** Returns null when the message is authentic, else why not. */
  verify(response: Buffer): string | null {
    const found = findTsig(response);
    if (found.kind !== 'tsig') return found.kind === 'none' ? 'response is not signed' : found.reason;
    const t = found.tsig;
    if (t.keyName !== this.key.name || t.algorithm !== this.key.algorithm) return `signed with another key (${t.keyName} ${t.algorithm})`;
    if (t.error !== 0 && t.mac.length === 0) return `server says TSIG error ${t.error}`;
    const expected = hmac(this.key, [withSize(this.prior), unsignedPart(response, t.start, t.originalId, 1),
      variables(t.keyName, t.algorithm, t.timeSigned, t.fudge, t.error, t.otherData, this.first)]);
    if (t.mac.length !== expected.length || !timingSafeEqual(expected, t.mac)) return 'bad MAC';
    this.prior = t.mac;
    this.first = false;
    if (t.error !== 0) return `server says TSIG error ${t.error}`;
    if (Math.abs(this.clock() - t.timeSigned) > t.fudge) return 'time signed is outside the fudge';
    return null;
  }
}
