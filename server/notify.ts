// NOTIFY sender (RFC 1996): when a reload changes a zone's serial, tell the configured secondaries
// at once, so they pull the new version now instead of at their next SOA refresh.
//
// Per (zone, secondary), RFC 1996 §3.6 and §4.7:
//   send NOTIFY (opcode 4, AA, question <zone> SOA, our SOA in the answer as a hint, §3.7)
//   wait timeoutMs, 2×, 4× ... ; resend the same message (same ID) each time, `tries` sends in all
//   a response with that ID, QR=1, opcode NOTIFY, from that address and port:
//     NOERROR       -> acked: done
//     other rcode   -> rejected: done (the secondary answered; asking again will not change its mind)
//   no response after the last wait -> timeout
//   a newer serial for the same zone and secondary replaces a pending one (superseded)
// With a TSIG key the NOTIFY is signed and a response must verify; one that does not is ignored
// (it may be forged), unless it carries a TSIG error (BADKEY, BADSIG, BADTIME): then rejected.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { keyToLabels, labelsToKey as labelsKey } from './name.js';
import { nameToWire, RRType } from './rr.js';
import { findTsig, signRequest, TsigVerifier, type TsigKey } from './tsig.js';
import { HEADER_LEN, Opcode, readName } from './wire.js';
import type { ZoneSet } from './zone.js';

export interface NotifyTarget {
  host: string;
  port: number;
}

export interface NotifyOptions {
  targets: readonly NotifyTarget[];
  /** Sends per secondary, the first included; default 5. */
  tries?: number;
  /** Wait for a response to the first send, doubled after each; default 1000 (1+2+4+8+16 s in all). */
  timeoutMs?: number;
  /** Sign every NOTIFY with this key and require signed responses. */
  tsig?: TsigKey;
  /**
   * Wait this long before the first send; default 0. With DNS workers that reload after the process
   * that notifies, a secondary asking at once could still be answered the old serial and give up.
   */
  delayMs?: number;
}

/** How NOTIFY leaves and responses come back; a real UDP socket by default, a fake in tests. */
export interface NotifyTransport {
  send(msg: Buffer, target: NotifyTarget): void;
  onMessage(handler: (msg: Buffer, from: { address: string; port: number }) => void): void;
  close(): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface NotifyResult {
  zone: string;
  serial: number;
  target: string;
  result: 'acked' | 'rejected' | 'timeout' | 'superseded';
  tries: number;
  /** The secondary's rcode (rejected), or its reason in words (TSIG trouble). */
  rcode?: number;
  reason?: string;
}

interface Logger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** An SOA to carry in the answer section: TTL and uncompressed RDATA, as the zone model keeps it. */
export interface SoaHint {
  ttlSeconds: number;
  rdata: Buffer;
}

interface Pending {
  id: number;
  zone: string;
  serial: number;
  target: NotifyTarget;
  message: Buffer;
  verifier?: TsigVerifier;
  tries: number;
  timer: unknown;
  done: (r: NotifyResult) => void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Notifier {
  private readonly pending = new Map<string, Pending>(); // `${zone} ${host}:${port}`
  private readonly byId = new Map<number, Pending>();
  private readonly tries: number;
  private readonly timeoutMs: number;
  private readonly transport: NotifyTransport;
  private readonly timers: Timers;
  private readonly log?: Logger;
  private readonly onResult?: (r: NotifyResult) => void;
  private lastSerials: Map<string, number> | undefined;

  constructor(
    private readonly opts: NotifyOptions,
    deps: { transport?: NotifyTransport; timers?: Timers; log?: Logger; onResult?: (r: NotifyResult) => void } = {},
  ) {
    this.tries = opts.tries ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    if (!Number.isInteger(this.tries) || this.tries < 1 || this.tries > 20) throw new RangeError(`notify tries: ${this.tries} is not 1..20`);
    this.transport = deps.transport ?? udpTransport();
    this.timers = deps.timers ?? realTimers;
    this.log = deps.log;
    this.onResult = deps.onResult;
    this.transport.onMessage((msg, from) => this.receive(msg, from));
  }

  /**
   * Notifies every target that `zone` (an origin, "example.com.") is now at `serial`. Resolves,
   * never rejects, once each target has acked, refused, timed out or been superseded.
   */
  notify(zone: string, serial: number, soa?: SoaHint): Promise<NotifyResult[]> {
    const origin = labelsKey(keyToLabels(zone.endsWith('.') ? zone : zone + '.'));
    return Promise.all(this.opts.targets.map((target) => new Promise<NotifyResult>((resolve) => {
      const key = `${origin} ${target.host}:${target.port}`;
      const old = this.pending.get(key);
      if (old) this.finish(old, { result: 'superseded' });
      const id = this.freeId();
      let message = notifyMessage(id, origin, soa);
      let verifier: TsigVerifier | undefined;
      if (this.opts.tsig) {
        const signed = signRequest(this.opts.tsig, message);
        message = signed.message;
        verifier = new TsigVerifier(this.opts.tsig, signed.mac);
      }
      const p: Pending = { id, zone: origin, serial, target, message, verifier, tries: 0, timer: undefined, done: resolve };
      this.pending.set(key, p);
      this.byId.set(id, p);
      if (this.opts.delayMs) p.timer = this.timers.setTimeout(() => this.attempt(p), this.opts.delayMs);
      else this.attempt(p);
    })));
  }

  /**
   * For the reload path: call with every new zone set (ZoneStore.onSwap). The first call only
   * learns the serials; later calls notify each zone whose serial differs from the one before.
   */
  zonesLoaded(zones: ZoneSet): void {
    const first = this.lastSerials === undefined;
    const next = new Map<string, number>();
    for (const z of zones.zones.values()) {
      next.set(z.origin, z.serial);
      if (!first && this.lastSerials!.get(z.origin) !== z.serial) {
        void this.notify(z.origin, z.serial, { ttlSeconds: z.soa.ttlSeconds, rdata: z.soa.rdatas[0]! });
      }
    }
    this.lastSerials = next;
  }

  /** Stops every retry (pending notifications end as timeout) and closes the socket. */
  close(): void {
    for (const p of [...this.pending.values()]) this.finish(p, { result: 'timeout', reason: 'notifier closed' });
    this.transport.close();
  }

  private attempt(p: Pending): void {
    p.tries++;
    this.transport.send(p.message, p.target);
    const waitMs = this.timeoutMs * 2 ** (p.tries - 1);
    p.timer = this.timers.setTimeout(() => {
      if (p.tries < this.tries) this.attempt(p);
      else this.finish(p, { result: 'timeout' });
    }, waitMs);
  }

  private receive(msg: Buffer, from: { address: string; port: number }): void {
    if (msg.length < HEADER_LEN) return;
    const p = this.byId.get(msg.readUInt16BE(0));
    if (!p || (msg[2]! & 0x80) === 0 || ((msg[2]! >> 3) & 0x0f) !== Opcode.NOTIFY) return;
    if (!sameHost(from.address, p.target.host) || from.port !== p.target.port || !asksFor(msg, p.zone)) return;
    if (p.verifier) {
      const problem = p.verifier.verify(msg);
      if (problem !== null) {
        const found = findTsig(msg);
        // A TSIG error from the secondary is an answer; any other failure may be a forgery: keep waiting.
        if (found.kind === 'tsig' && found.tsig.error !== 0) this.finish(p, { result: 'rejected', rcode: msg[3]! & 0x0f, reason: problem });
        return;
      }
    }
    const rcode = msg[3]! & 0x0f;
    this.finish(p, rcode === 0 ? { result: 'acked' } : { result: 'rejected', rcode });
  }

  private finish(p: Pending, outcome: Pick<NotifyResult, 'result' | 'rcode' | 'reason'>): void {
    this.timers.clearTimeout(p.timer);
    this.byId.delete(p.id);
    const key = `${p.zone} ${p.target.host}:${p.target.port}`;
    if (this.pending.get(key) === p) this.pending.delete(key);
    const r: NotifyResult = { zone: p.zone, serial: p.serial, target: `${p.target.host}:${p.target.port}`, tries: p.tries, ...outcome };
    if (r.result === 'timeout' || r.result === 'rejected') this.log?.warn(r, 'NOTIFY not acknowledged by secondary');
    else this.log?.debug?.(r, 'NOTIFY done');
    this.onResult?.(r);
    p.done(r);
  }

  private freeId(): number {
    for (;;) {
      const id = randomInt(0x10000);
      if (!this.byId.has(id)) return id;
    }
  }
}

/** A NOTIFY message: opcode 4, AA, one question (zone SOA IN), the SOA in the answer if given. */
export function notifyMessage(id: number, zone: string, soa?: SoaHint): Buffer {
  const name = nameToWire(keyToLabels(zone));
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE((Opcode.NOTIFY << 11) | 0x0400, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(soa ? 1 : 0, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(RRType.SOA, 0);
  q.writeUInt16BE(1, 2);
  if (!soa) return Buffer.concat([header, name, q]);
  const rr = Buffer.alloc(10);
  rr.writeUInt16BE(RRType.SOA, 0);
  rr.writeUInt16BE(1, 2);
  rr.writeUInt32BE(soa.ttlSeconds >>> 0, 4);
  rr.writeUInt16BE(soa.rdata.length, 8);
  return Buffer.concat([header, name, q, name, rr, soa.rdata]);
}

/** Does the response's question (if it has one) name our zone? Case-insensitive (RFC 4343). */
function asksFor(msg: Buffer, zone: string): boolean {
  if (msg.readUInt16BE(4) === 0) return true;
  try {
    return labelsKey(readName(msg, HEADER_LEN).labels) === zone;
  } catch {
    return false;
  }
}

function sameHost(a: string, b: string): boolean {
  const strip = (x: string) => x.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').toLowerCase();
  return strip(a) === strip(b);
}

/**
 * The real transport: one unref'd UDP socket per address family, bound to `source` when given
 * (secondaries accept NOTIFY from their primary's address, so send from the address they know).
 */
export function udpTransport(source?: { ipv4?: string; ipv6?: string }): NotifyTransport {
  const sockets = new Map<4 | 6, dgram.Socket>();
  const handlers: ((msg: Buffer, from: { address: string; port: number }) => void)[] = [];
  const socketFor = (family: 4 | 6): dgram.Socket => {
    let s = sockets.get(family);
    if (!s) {
      s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
      s.on('message', (msg, rinfo) => { for (const h of handlers) h(msg, rinfo); });
      s.on('error', () => { /* a send error is retried like a loss */ });
      s.bind({ port: 0, address: family === 4 ? source?.ipv4 : source?.ipv6 });
      s.unref();
      sockets.set(family, s);
    }
    return s;
  };
  return {
    send(msg, target) {
      const family = net.isIPv6(target.host) ? 6 : 4;
      socketFor(family).send(msg, target.port, target.host);
    },
    onMessage(h) {
      handlers.push(h);
    },
    close() {
      for (const s of sockets.values()) s.close();
      sockets.clear();
    },
  };
}
