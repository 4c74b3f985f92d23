// UDP and TCP listeners (RFC 1035 §4.2, RFC 7766): every listen address gets both.
// TCP: length-prefixed messages, pipelined answers, idle timeout, a connection cap,
// and clients that stop reading are cut off so they cannot stall anyone else.
import dgram from 'node:dgram';
import net from 'node:net';
import { axfrMessages, type AddressList } from './axfr.js';
import { handleMessage, type HandlerContext } from './handler.js';
import { Rcode } from './wire.js';
import { renderError } from './response.js';
import type { RateLimiter } from './rrl.js';
import { checkRequest, tsigOverhead, type TsigCheck, type TsigKeyring } from './tsig.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface DnsServerOptions {
  listen: ListenAddress[];
  transferAllow: AddressList;
  tcpIdleTimeoutMs: number;
  tcpMaxConnections: number;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error?(obj: object, msg: string): void };
  /** Response rate limiting for UDP (undefined: off). */
  rrl?: RateLimiter;
  /** TSIG keys; with transferKeys, AXFR/IXFR also need a request signed with one of them. */
  tsig?: { keyring: TsigKeyring; transferKeys?: readonly string[] };
}

const UNSIGNED: TsigCheck = { kind: 'unsigned' };

export interface DnsServer {
  /** The addresses really bound (port 0 resolved). */
  addresses: ListenAddress[];
  close(): Promise<void>;
}

/** Most a client may leave unread on its socket before we drop it (a slow reader). */
const MAX_PENDING_WRITE = 256 * 1024;

/** Parses "127.0.0.1:53", "[::1]:53" or ":53". */
export function parseListen(text: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (!m) throw new Error(`'${text}' is not HOST:PORT (IPv6 as [ADDR]:PORT)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`'${text}': port must be 0..65535`);
  const host = m[1] || '0.0.0.0';
  if (net.isIP(host) === 0) throw new Error(`'${text}': '${host}' is not an IP address`);
  return { host, port };
}

/** Why a socket could not be bound, for an operator: the system's words, and what to do about the usual ones. */
export function listenFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const hint = e.code === 'EADDRINUSE' ? ' (another process holds this port: `ss -lntup` shows which)'
    : e.code === 'EACCES' ? ' (a port below 1024 needs root or CAP_NET_BIND_SERVICE)'
      : e.code === 'EADDRNOTAVAIL' ? ' (no interface of this host has that address)' : '';
  return `cannot listen: ${e.message}${hint}`;
}

/**
 * Receive buffer asked for each UDP socket. With the kernel's default (net.core.rmem_default,
 * 208 KiB; each small datagram is charged ~2 KiB of it) about 100 queries wait: at 2,000 q/s a
 * process not scheduled for 50 ms (a busy 2-core machine) lost queries in the soak (test/soak).
 * The kernel caps the request at net.core.rmem_max and doubles it: 8 MiB where rmem_max is 4 MiB,
 * and still twice the default where it is left at 208 KiB.
 */
const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

function bindUdp(ctx: HandlerContext, opts: DnsServerOptions, addr: ListenAddress): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: net.isIPv6(addr.host) ? 'udp6' : 'udp4', reuseAddr: false, recvBufferSize: UDP_RECEIVE_BUFFER });
  sock.on('message', (msg, rinfo) => {
    // A message with no records after the question has no TSIG to check (RFC 8945 §4.2: the last record).
    const t = opts.tsig && !(msg.length >= 12 && (msg[6]! | msg[7]! | msg[8]! | msg[9]! | msg[10]! | msg[11]!) === 0) ? checkRequest(opts.tsig.keyring, msg, 'udp') : UNSIGNED;
    const out = t.kind === 'reject' ? { kind: 'reply' as const, bytes: t.response } : handleMessage(ctx, msg, 'udp');
    if (out.kind !== 'reply') return;
    // Rate limit first, sign after: a slip (TC=1) to a signed query is signed too.
    const bytes = opts.rrl ? opts.rrl.limit(rinfo.address, out.bytes) : out.bytes;
    if (bytes) sock.send(t.kind === 'signed' ? t.signer.sign(bytes) : bytes, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(addr.port, addr.host, () => {
      sock.off('error', reject);
      sock.on('error', (err) => ctx.metrics.dropped.inc({ reason: `udp-error-${(err as NodeJS.ErrnoException).code ?? 'unknown'}` }));
      resolve(sock);
    });
  });
}

function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

function serveConnection(ctx: HandlerContext, opts: DnsServerOptions, conn: net.Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  // tcp_idle_timeout is "no complete query for this long". The socket timeout alone is reset by
  // every byte, so a client trickling a message (slowloris) would hold its slot for ever: a message
  // must also arrive whole within the timeout of the previous one (or of its first byte).
  let readDeadline: NodeJS.Timeout | undefined;
  const cut = (reason: string) => {
    if (conn.destroyed) return;
    ctx.metrics.tcpRejected.inc({ reason });
    conn.destroy();
  };
  conn.setNoDelay(true);
  conn.setTimeout(opts.tcpIdleTimeoutMs, () => cut(!streaming && pending.length ? 'read-timeout' : 'idle-timeout'));
  conn.once('close', () => clearTimeout(readDeadline));
  const send = (msg: Buffer) => {
    if (conn.destroyed) return;
    conn.write(frame(msg));
    if (conn.writableLength > MAX_PENDING_WRITE) cut('slow-reader');
  };
  // A zone transfer streams with back-pressure (it may be far larger than MAX_PENDING_WRITE);
  // reading pauses meanwhile, and queued queries are answered after it.
  let streaming = false;
  const stream = async (messages: Buffer[], sign: (m: Buffer) => Buffer) => {
    streaming = true;
    conn.pause();
    for (const m of messages) {
      if (conn.destroyed) return;
      if (!conn.write(frame(sign(m)))) await new Promise((r) => { conn.once('drain', r); conn.once('close', r); });
    }
    streaming = false;
    conn.resume();
    work();
  };
  const work = () => {
    let progressed = false;
    while (!streaming && !conn.destroyed && pending.length >= 2) {
      const len = pending.readUInt16BE(0);
      if (pending.length < 2 + len) break;
      const msg = pending.subarray(2, 2 + len);
      pending = pending.subarray(2 + len);
      progressed = true;
      const t = opts.tsig ? checkRequest(opts.tsig.keyring, msg, 'tcp') : UNSIGNED;
      if (t.kind === 'reject') { send(t.response); continue; }
      const sign = (m: Buffer) => (t.kind === 'signed' ? t.signer.sign(m) : m);
      const out = handleMessage(ctx, msg, 'tcp');
      if (out.kind === 'reply') send(sign(out.bytes));
      else if (out.kind === 'axfr') {
        const keys = opts.tsig?.transferKeys;
        const keyOk = !keys || (t.kind === 'signed' && keys.includes(t.key.name));
        const allowed = opts.transferAllow.has(conn.remoteAddress ?? '') && keyOk;
        let transfer: ReturnType<typeof axfrMessages>;
        try {
          transfer = axfrMessages(ctx.zones(), out.query, allowed, t.kind === 'signed' ? tsigOverhead(t.key) : 0);
        } catch (err) {
          // A bug, not the client's fault: answer SERVFAIL, keep the process and the connection.
          (opts.log.error ?? opts.log.warn).call(opts.log, { err: (err as Error).message, client: conn.remoteAddress, zone: out.query.qkey }, 'bug: zone transfer failed');
          ctx.metrics.axfr.inc({ result: 'error' });
          send(sign(renderError({ ...out.query, rcode: Rcode.SERVFAIL }, 'tcp')));
          continue;
        }
        const { rcode, messages } = transfer;
        ctx.metrics.axfr.inc({ result: rcode === Rcode.NOERROR ? 'ok' : rcode === Rcode.REFUSED ? 'refused' : 'notauth' });
        if (rcode !== Rcode.NOERROR) opts.log.info({ client: conn.remoteAddress, zone: out.query.qkey, rcode }, 'zone transfer refused');
        stream(messages, sign).catch((err: unknown) => {
          (opts.log.error ?? opts.log.warn).call(opts.log, { err: (err as Error).message, client: conn.remoteAddress }, 'bug: zone transfer stream failed; connection closed');
          conn.destroy();
        });
      }
    }
    if (streaming || conn.destroyed || pending.length === 0) {
      clearTimeout(readDeadline);
      readDeadline = undefined;
    } else if (!readDeadline || progressed) {
      clearTimeout(readDeadline);
      readDeadline = setTimeout(() => cut('read-timeout'), opts.tcpIdleTimeoutMs);
    }
  };
  conn.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    work();
  });
  conn.on('error', () => conn.destroy());
}

function bindTcp(ctx: HandlerContext, opts: DnsServerOptions, addr: ListenAddress, conns: Set<net.Socket>): Promise<net.Server> {
  const server = net.createServer({ pauseOnConnect: false });
  server.on('connection', (conn) => {
    if (conns.size >= opts.tcpMaxConnections) {
      ctx.metrics.tcpRejected.inc({ reason: 'too-many-connections' });
      conn.destroy();
      return;
    }
    conns.add(conn);
    ctx.metrics.tcpConnections.inc({}, 1);
    conn.once('close', () => {
      conns.delete(conn);
      ctx.metrics.tcpConnections.inc({}, -1);
    });
    serveConnection(ctx, opts, conn);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A connection flood fills the accept queue between event-loop turns: a deeper backlog (the kernel caps it at somaxconn) keeps SYNs from waiting 1 s for a retry.
    server.listen({ port: addr.port, host: addr.host, ipv6Only: net.isIPv6(addr.host), backlog: 4096 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Binds UDP and TCP on every address. With port 0 the TCP port follows the UDP one. */
export async function startDnsServer(ctx: HandlerContext, opts: DnsServerOptions): Promise<DnsServer> {
  const udps: dgram.Socket[] = [];
  const tcps: net.Server[] = [];
  const addresses: ListenAddress[] = [];
  const conns = new Set<net.Socket>();
  try {
    for (const addr of opts.listen) {
      // Port 0: the kernel picks a UDP port, which may be taken for TCP; then pick again.
      for (let attempt = 1; ; attempt++) {
        const u = await bindUdp(ctx, opts, addr);
        const port = u.address().port;
        try {
          tcps.push(await bindTcp(ctx, opts, { host: addr.host, port }, conns));
        } catch (err) {
          u.close();
          if (addr.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
          continue;
        }
        udps.push(u);
        addresses.push({ host: addr.host, port });
        break;
      }
    }
  } catch (err) {
    for (const u of udps) u.close();
    for (const t of tcps) t.close();
    throw err;
  }
  return {
    addresses,
    async close() {
      for (const u of udps) u.close();
      const closed = Promise.all(tcps.map((t) => new Promise<void>((r) => t.close(() => r()))));
      for (const c of conns) c.destroy();
      await closed;
    },
  };
}
