// Response Rate Limiting for UDP answers, as BIND (rate-limit), Knot (rrl) and NSD do it: a spoofed
// flood that uses us to amplify traffic towards a victim gets only occasional truncated replies, while
// real resolvers, which retry over TCP when they see TC=1, are still answered.
//
// One account per (client prefix, response token): IPv4 /24 and IPv6 /56 by default, so one host
// cannot dodge the limit by walking its neighbours' addresses. Tokens, after BIND:
//   answer    qname + qtype          every non-empty NOERROR answer for the same question
//   nodata    zone (SOA owner)       NOERROR with an empty answer
//   referral  delegation point       NOERROR, NS in authority, no answer
//   nxdomain  zone (SOA owner)       so random-subdomain floods share one account
//   error     -                      every other rcode (REFUSED, FORMERR ...) shares one account
//
// Account arithmetic (BIND's rrl.c debit_rrl_entry), per account, `rate` = the category's limit:
//   on each response:  balance = min(rate, balance + rate × seconds since last)   (refill)
//                      balance -= 1; balance >= 0 -> send
//                      else limited; balance = max(balance, -window × rate)
//   an account idle for more than `window` seconds starts afresh (balance = rate)
//   a limited response slips (sent as TC=1 with no records) if it is the 1st, (1+slip)th ... of
//   the account's limited ones; the others are dropped. slip 0: drop all; slip 1: slip all.
// Limited responses are charged too, down to the floor: unlike a plain token bucket, a source that
// keeps asking faster than the rate gets no full answer at all (only slips) until its average over
// the window falls below the rate, and a flood that stops is forgiven at most `window` seconds
// later. Traffic below the rate is never touched. TCP is never limited (a TCP client is not spoofed).
import { randomInt } from 'node:crypto';
import { readName, HEADER_LEN } from './wire.js';
import { labelsToKey as labelsKey } from './name.js';
import { RRType } from './rr.js';

export interface Clock {
  now(): number;
}
const systemClock: Clock = { now: () => Date.now() };

/** `dns.rrl` in roamdns.yaml (YAML keys are these names). */
export interface RrlOptions {
  /** Identical non-error responses (answer, nodata, referral) per second per prefix; 0 = unlimited. */
  responses_per_second: number;
  /** NXDOMAIN responses per second per prefix and zone; default: responses_per_second. */
  nxdomains_per_second: number;
  /** Error responses (REFUSED, FORMERR, SERVFAIL ...) per second per prefix; default: responses_per_second. */
  errors_per_second: number;
  /** The 1st and then every slip-th limited response is sent truncated (TC=1), the others dropped; 0 = drop all. */
  slip: number;
  /** Seconds a flood is remembered: the debt floor is -window × rate, and idle accounts reset after it. */
  window: number;
  ipv4_prefix_length: number;
  ipv6_prefix_length: number;
  /** Accounts kept at most (a fixed table, allocated up front: 21 bytes each). */
  max_entries: number;
  /** Clients never limited (CIDR). Loopback cannot be spoofed from outside (the kernel drops martians). */
  exempt: readonly string[];
}

/**
 * Defaults. 50 identical responses per second per /24 is more than a resolver farm needs: a
 * resolver asks the same question once per TTL, so even 256 caches behind one /24 re-asking a
 * 10-second TTL (roamdns's degraded_ttl) make 25.6/s; real clients that are limited anyway get
 * every other answer as TC=1 and retry over TCP. NSD ships 200 (per source and type); BIND's
 * examples use 5-15 and, like Knot, it has no default. Window 15 s and slip 2 are BIND's defaults.
 * 100 000 accounts are a 2.1 MB table.
 */
export const RRL_DEFAULTS: Readonly<RrlOptions> = Object.freeze({
  responses_per_second: 50,
  nxdomains_per_second: 50,
  errors_per_second: 50,
  slip: 2,
  window: 15,
  ipv4_prefix_length: 24,
  ipv6_prefix_length: 56,
  max_entries: 100_000,
  exempt: ['127.0.0.0/8', '::1/128'],
});

export type RrlAction = 'send' | 'slip' | 'drop';
export type TokenCategory = 'answer' | 'nodata' | 'referral' | 'nxdomain' | 'error';

export interface RrlCounters {
  /** Responses limited, by what was done with them. */
  slipped: number;
  dropped: number;
  /** Live accounts pushed out of the table by new ones. */
  evicted: number;
}

/** Slots per set of the account table: a new account replaces an empty, expired or least recently used one of its set. */
const WAYS = 4;

/**
 * The account table is set-associative and fixed-size, like a CPU cache: an account lives in one
 * of the WAYS slots of the set its key hashes to, identified there by a second 32-bit hash of
 * the key. Memory is allocated once (no per-query garbage); both hashes are seeded at random per
 * process so nobody can aim collisions at a victim's account.
 */
export class RateLimiter {
  readonly opts: Readonly<RrlOptions>;
  readonly counters: RrlCounters = { slipped: 0, dropped: 0, evicted: 0 };
  private readonly exempt: Cidr[];
  private readonly ways: number;
  private readonly sets: number;
  private readonly tag: Uint32Array; // 0 = empty slot
  private readonly balance: Float64Array;
  private readonly lastMs: Float64Array;
  private readonly slipCount: Uint8Array;
  private readonly seeds = [randomInt(0x7fffffff), randomInt(0x7fffffff)] as const;
  private used = 0;

  /** `onLimited` is told of every limited response (for Prometheus counters). */
  constructor(
    opts: Partial<RrlOptions> = {},
    private readonly clock: Clock = systemClock,
    private readonly onLimited?: (action: 'slip' | 'drop', category: TokenCategory) => void,
  ) {
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<RrlOptions>;
    const rps = given.responses_per_second ?? RRL_DEFAULTS.responses_per_second;
    this.opts = Object.freeze({ ...RRL_DEFAULTS, nxdomains_per_second: rps, errors_per_second: rps, ...given });
    const o = this.opts;
    const ranges = [['responses_per_second', 0, 1e6], ['nxdomains_per_second', 0, 1e6], ['errors_per_second', 0, 1e6],
      ['slip', 0, 10], ['window', 1, 3600], ['ipv4_prefix_length', 0, 32], ['ipv6_prefix_length', 0, 128], ['max_entries', 1, 1e8]] as const;
    for (const [k, min, max] of ranges) {
      const v = o[k];
      if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`rrl.${k}: ${v} is not a whole number in ${min}..${max}`);
    }
    this.exempt = o.exempt.map(parseCidr);
    this.ways = Math.min(WAYS, o.max_entries);
    this.sets = Math.floor(o.max_entries / this.ways);
    const slots = this.sets * this.ways;
    this.tag = new Uint32Array(slots);
    this.balance = new Float64Array(slots);
    this.lastMs = new Float64Array(slots);
    this.slipCount = new Uint8Array(slots);
  }

  /** Slots holding an account (live or expired). */
  get size(): number {
    return this.used;
  }

  /** False when every limit is 0 (RRL off). */
  get enabled(): boolean {
    return this.opts.responses_per_second > 0 || this.opts.nxdomains_per_second > 0 || this.opts.errors_per_second > 0;
  }

  isExempt(clientAddress: string): boolean {
    return this.accountAddress(clientAddress) === null;
  }

  /**
   * What to do with one UDP response of `tokenKey` (from responseToken) to `clientAddress`.
   * Exempt clients, unparsable addresses and categories whose limit is 0 are always sent.
   * `nowMs` defaults to the clock's time.
   */
  decide(clientAddress: string, tokenKey: string, nowMs: number = this.clock.now()): RrlAction {
    const a = this.accountAddress(clientAddress);
    return a === null ? 'send' : this.charge(a, tokenKey, nowMs);
  }

  /**
   * The UDP send path in one call: the response as is, its slip, or null (drop). Exempt clients
   * are checked before the response is parsed.
   */
  limit(clientAddress: string, response: Buffer, nowMs?: number): Buffer | null {
    if (!this.enabled) return response;
    const a = this.accountAddress(clientAddress);
    if (a === null) return response;
    const token = responseToken(response);
    if (token === undefined) return response;
    const action = this.charge(a, token, nowMs ?? this.clock.now());
    if (action === 'send') return response;
    return action === 'slip' ? slipResponse(response) ?? null : null;
  }

  /** Recent clients: their parsed address, or null when exempt or unparsable (parsing costs more than answering). */
  private readonly clients = new Map<string, Address | null>();

  private accountAddress(clientAddress: string): Address | null {
    let a = this.clients.get(clientAddress);
    if (a !== undefined) return a;
    const parsed = parseAddress(clientAddress);
    a = parsed === undefined || this.exempt.some((c) => inCidr(parsed, c)) ? null : parsed;
    if (this.clients.size >= 4096) this.clients.clear();
    this.clients.set(clientAddress, a);
    return a;
  }

  private charge(a: Address, tokenKey: string, nowMs: number): RrlAction {
    const category = categoryOf(tokenKey);
    const rate = this.rateFor(category);
    if (rate <= 0) return 'send';
    const windowMs = this.opts.window * 1000;
    const i = this.slot(a, tokenKey, rate, nowMs, windowMs);
    const age = nowMs - this.lastMs[i]!;
    if (age > windowMs) { this.balance[i] = rate; this.slipCount[i] = 0; }
    else if (age > 0) this.balance[i] = Math.min(rate, this.balance[i]! + (rate * age) / 1000);
    if (age > 0) this.lastMs[i] = nowMs; // a clock that steps back counts as no time passing
    const b = this.balance[i]! - 1;
    if (b >= 0) { this.balance[i] = b; return 'send'; }
    this.balance[i] = Math.max(b, -this.opts.window * rate);
    let action: 'slip' | 'drop' = 'drop';
    const slip = this.opts.slip;
    if (slip > 0) {
      if (this.slipCount[i] === 0) action = 'slip';
      this.slipCount[i] = (this.slipCount[i]! + 1) % slip;
    }
    if (action === 'slip') this.counters.slipped++;
    else this.counters.dropped++;
    this.onLimited?.(action, category);
    return action;
  }

  /** The slot of the account (prefix of `a`, token); a new account starts full, as of `nowMs`. */
  private slot(a: Address, tokenKey: string, rate: number, nowMs: number, windowMs: number): number {
    const [h1, h2] = hashAccount(a, this.opts.ipv4_prefix_length, this.opts.ipv6_prefix_length, tokenKey, this.seeds);
    const tag = h2 === 0 ? 1 : h2;
    const base = (h1 % this.sets) * this.ways;
    // Replace an empty slot, else an expired one (forgetting it changes nothing), else the least recently used.
    const rank = (j: number) => (this.tag[j] === 0 ? -2 : nowMs - this.lastMs[j]! > windowMs ? -1 : this.lastMs[j]!);
    let victim = base;
    for (let i = base; i < base + this.ways; i++) {
      if (this.tag[i] === tag) return i;
      if (rank(i) < rank(victim)) victim = i;
    }
    if (this.tag[victim] === 0) this.used++;
    else if (nowMs - this.lastMs[victim]! <= windowMs) this.counters.evicted++;
    this.tag[victim] = tag;
    this.balance[victim] = rate;
    this.lastMs[victim] = nowMs;
    this.slipCount[victim] = 0;
    return victim;
  }

  private rateFor(category: TokenCategory): number {
    if (category === 'nxdomain') return this.opts.nxdomains_per_second;
    if (category === 'error') return this.opts.errors_per_second;
    return this.opts.responses_per_second;
  }
}

function categoryOf(tokenKey: string): TokenCategory {
  const sp = tokenKey.indexOf(' ');
  const c = sp < 0 ? tokenKey : tokenKey.slice(0, sp);
  return c === 'nxdomain' || c === 'error' || c === 'nodata' || c === 'referral' ? c : 'answer';
}

// ---- addresses and prefixes -------------------------------------------------------------

/** An IPv4 address as one 32-bit number, or IPv6 as eight 16-bit groups. */
type Address = number | number[];
interface Cidr { addr: Address; bits: number }

/** Parses an address as the socket reports it (IPv4-mapped IPv6 counts as IPv4); undefined if it is none. */
export function parseAddress(text: string): Address | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4;
  if (text.length > 7 && /^::ffff:/i.test(text)) {
    const m = parseIpv4(text.slice(7));
    if (m !== undefined) return m;
  }
  return parseIpv6(text);
}

/** Dotted quad to a 32-bit number, by hand: this runs for every UDP response. */
function parseIpv4(s: string): number | undefined {
  let n = 0, part = -1, dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || ++dots > 3) return undefined;
      n = n * 256 + part;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + c - 48;
      if (part > 255) return undefined;
    } else return undefined;
  }
  return dots === 3 && part >= 0 ? n * 256 + part : undefined;
}

function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const a = parseAddress(addr ?? '');
  if (a === undefined) throw new RangeError(`rrl.exempt: '${text}' is not an address or CIDR prefix`);
  const max = typeof a === 'number' ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new RangeError(`rrl.exempt: '${text}': prefix length must be 0..${max}`);
  return { addr: a, bits };
}

function inCidr(a: Address, c: Cidr): boolean {
  if (typeof a !== typeof c.addr) return false;
  return samePrefix(a, c.addr, c.bits);
}

function maskV4(n: number, bits: number): number {
  return bits === 0 ? 0 : (n & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
}

function maskGroup(g: number, bitsLeft: number): number {
  return bitsLeft >= 16 ? g : bitsLeft <= 0 ? 0 : g & ((0xffff << (16 - bitsLeft)) & 0xffff);
}

function samePrefix(a: Address, b: Address, bits: number): boolean {
  if (typeof a === 'number') return maskV4(a, bits) === maskV4(b as number, bits);
  const g = b as number[];
  for (let i = 0; i < 8; i++) if (maskGroup(a[i]!, bits - i * 16) !== maskGroup(g[i]!, bits - i * 16)) return false;
  return true;
}

/** A readable key of the prefix a client is accounted under (for tests and logs). */
export function prefixKey(address: string, v4Bits: number, v6Bits: number): string | undefined {
  const a = parseAddress(address);
  if (a === undefined) return undefined;
  if (typeof a === 'number') return `${[24, 16, 8, 0].map((s) => (maskV4(a, v4Bits) >>> s) & 255).join('.')}/${v4Bits}`;
  return `${a.map((g, i) => maskGroup(g, v6Bits - i * 16).toString(16)).join(':')}/${v6Bits}`;
}

/** The eight 16-bit groups of an IPv6 address text (`::`, an IPv4 tail and a `%zone` allowed), or undefined. */
function parseIpv6(text: string): number[] | undefined {
  const pct = text.indexOf('%');
  const s = pct < 0 ? text : text.slice(0, pct);
  let tail: number[] = [];
  let body = s;
  if (s.includes('.')) {
    const colon = s.lastIndexOf(':');
    const v4 = parseIpv4(s.slice(colon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >>> 16, v4 & 0xffff];
    const head = s.slice(0, colon + 1);
    body = head.endsWith('::') ? head : head.slice(0, -1);
  }
  const gap = body.indexOf('::');
  if (gap >= 0 && body.indexOf('::', gap + 1) >= 0) return undefined;
  const left = groups(gap < 0 ? body : body.slice(0, gap));
  const right = gap < 0 ? [] : groups(body.slice(gap + 2));
  if (!left || !right) return undefined;
  const fill = 8 - tail.length - left.length - right.length;
  if (gap < 0 ? fill !== 0 : fill < 1) return undefined;
  const out = left;
  for (let i = 0; i < fill; i++) out.push(0);
  return out.concat(right, tail);
}

/** "a:b:c" to [0xa, 0xb, 0xc]; "" to []. */
function groups(s: string): number[] | undefined {
  const out: number[] = [];
  if (s === '') return out;
  let g = 0, digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 58;
    if (c === 58) {
      if (digits === 0) return undefined;
      out.push(g);
      g = 0;
      digits = 0;
      continue;
    }
    const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (v < 0 || ++digits > 4) return undefined;
    g = g * 16 + v;
  }
  return out;
}

/** Two independent seeded 32-bit hashes (FNV-1a steps, murmur3 finaliser) of (masked prefix, token). */
function hashAccount(a: Address, v4Bits: number, v6Bits: number, token: string, seeds: readonly [number, number]): [number, number] {
  let h1 = seeds[0] ^ 0x811c9dc5, h2 = seeds[1] ^ 0x01000193;
  const mix = (x: number) => {
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ x, 0x5bd1e995);
  };
  if (typeof a === 'number') { mix(4); mix(maskV4(a, v4Bits)); mix(v4Bits); }
  else { mix(6); for (let i = 0; i < 8; i++) mix(maskGroup(a[i]!, v6Bits - i * 16)); mix(v6Bits); }
  for (let i = 0; i < token.length; i++) mix(token.charCodeAt(i));
  return [fmix(h1), fmix(h2)];
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The token of a response (see the table at the top), read from its bytes, so that it works the
 * same for the fast path's prebuilt answers and the general path. Undefined for anything that is
 * not a response we could parse (those are never limited).
 */
export function responseToken(response: Buffer): string | undefined {
  try {
    if (response.length < HEADER_LEN || (response[2]! & 0x80) === 0) return undefined;
    const rcode = response[3]! & 0x0f;
    if (rcode !== 0 && rcode !== 3) return 'error';
    if (response.readUInt16BE(4) !== 1) return undefined;
    const q = readName(response, HEADER_LEN);
    const qname = labelsKey(q.labels);
    const qtype = response.readUInt16BE(q.end);
    const an = response.readUInt16BE(6), ns = response.readUInt16BE(8);
    if (rcode === 0 && an > 0) return `answer ${qname}/${qtype}`;
    // Walk past the answer section (an NXDOMAIN may follow a CNAME) to the authority section.
    let off = q.end + 4;
    for (let i = 0; i < an; i++) {
      const n = readName(response, off);
      off = n.end + 10 + response.readUInt16BE(n.end + 8);
    }
    let soaOwner: string | undefined, nsOwner: string | undefined;
    for (let i = 0; i < ns; i++) {
      const n = readName(response, off);
      const type = response.readUInt16BE(n.end);
      if (type === RRType.SOA) soaOwner ??= labelsKey(n.labels);
      else if (type === RRType.NS) nsOwner ??= labelsKey(n.labels);
      off = n.end + 10 + response.readUInt16BE(n.end + 8);
    }
    if (rcode === 3) return `nxdomain ${soaOwner ?? qname}`;
    if (nsOwner && !soaOwner && (response[2]! & 0x04) === 0) return `referral ${nsOwner}`;
    return `nodata ${soaOwner ?? qname}`;
  } catch {
    return undefined;
  }
}

/**
 * A truncated copy of a response (or query): header and question, QR=1 and TC=1, no records
 * but the OPT (so EDNS clients keep their buffer size), rcode NOERROR and AA clear: it says only
 * "ask again over TCP" (RFC 2181 §9, RFC 7766 §5). Undefined when the message has no parsable question.
 */
export function slipResponse(msg: Buffer): Buffer | undefined {
  try {
    if (msg.length < HEADER_LEN || msg.readUInt16BE(4) !== 1) return undefined;
    const qEnd = readName(msg, HEADER_LEN).end + 4;
    if (qEnd > msg.length) return undefined;
    const opt = findOpt(msg, qEnd);
    const out = Buffer.alloc(qEnd + (opt ? opt.length : 0));
    msg.copy(out, 0, 0, qEnd);
    // QR, opcode and RD/CD kept; AA, RA, AD and the rcode cleared; TC set.
    out[2] = (msg[2]! & 0x79) | 0x80 | 0x02;
    out[3] = msg[3]! & 0x10;
    out.writeUInt16BE(0, 6);
    out.writeUInt16BE(0, 8);
    out.writeUInt16BE(opt ? 1 : 0, 10);
    if (opt) {
      opt.copy(out, qEnd);
      out[qEnd + 5] = 0; // extended rcode bits: NOERROR
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The OPT record (RFC 6891) of a message as bytes, if it has one in the additional section. */
function findOpt(msg: Buffer, off: number): Buffer | undefined {
  const counts = msg.readUInt16BE(6) + msg.readUInt16BE(8);
  const ar = msg.readUInt16BE(10);
  for (let i = 0; i < counts + ar; i++) {
    const n = readName(msg, off);
    const end = n.end + 10 + msg.readUInt16BE(n.end + 8);
    if (end > msg.length) return undefined;
    if (i >= counts && msg.readUInt16BE(n.end) === RRType.OPT && n.labels.length === 0) return msg.subarray(off, end);
    off = end;
  }
  return undefined;
}
