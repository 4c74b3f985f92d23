// Probes: one health check of the service on a VIP, HTTP(S) through undici or a TCP connect.
// A failed probe is data (`{ ok: false, reason }`), never an exception (STYLE.md, as Caddy's
// health checks). Every response body is consumed or destroyed so its socket is freed, and each
// probe asks for `Connection: close`: it measures a fresh connect each time (as a client sees
// it) and no idle keep-alive sockets pile up between probes.
import net from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import type { HttpCheck, ResolvedCheck } from './options.js';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  reason?: string;
  /** The HTTP status, when a response arrived. */
  status?: number;
}

export interface HttpTarget {
  /** The VIP: IPv4, or IPv6 with or without brackets. */
  address: string;
  /** The pool name: the default Host header and SNI name. */
  pool: string;
  check: HttpCheck;
}

export interface ProbeOptions {
  /** Default 500. */
  timeoutMs?: number;
  /** Where agents come from; default: one process-wide set. */
  dispatchers?: ProbeDispatchers;
  /** Monotonic milliseconds for latency; default performance.now. */
  now?: () => number;
}

export const DEFAULT_EXPECT_STATUS: readonly string[] = ['200-399'];
const DEFAULT_MAX_BODY_BYTES = 65_536;

/**
 * One undici Agent per distinct TLS setting and timeout (a handful per process). Few connections
 * per origin: the checker keeps at most one probe in flight per VIP.
 */
export class ProbeDispatchers {
  private readonly agents = new Map<string, Agent>();

  get(tlsVerify: boolean, ca: string | undefined, timeoutMs: number): Dispatcher {
    const key = `${tlsVerify}|${timeoutMs}|${ca ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent({
        connections: 4,
        pipelining: 1,
        keepAliveTimeout: 1000,
        keepAliveMaxTimeout: 1000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connect: { timeout: timeoutMs, rejectUnauthorized: tlsVerify, ...(ca ? { ca } : {}) },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    const all = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(all.map((a) => a.destroy().catch(() => undefined)));
  }
}

export const defaultDispatchers = new ProbeDispatchers();

/** Parses `expect_status` into inclusive ranges; throws an Error naming the bad entry. */
export function parseExpectStatus(list: ReadonlyArray<number | string>): Array<[number, number]> {
  if (list.length === 0) throw new Error('expect_status: empty list (expected codes such as 200, "200-299" or "2xx")');
  return list.map((item) => {
    const text = String(item).trim();
    let m: RegExpExecArray | null;
    let range: [number, number] | undefined;
    if ((m = /^(\d{3})$/.exec(text))) range = [Number(m[1]), Number(m[1])];
    else if ((m = /^(\d{3})-(\d{3})$/.exec(text))) range = [Number(m[1]), Number(m[2])];
    else if ((m = /^([1-5])xx$/i.exec(text))) range = [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
    if (!range || range[0] < 100 || range[1] > 599 || range[0] > range[1]) {
      throw new Error(`expect_status: ${JSON.stringify(item)} is not a status code, range ("200-299") or class ("2xx") within 100..599`);
    }
    return range;
  });
}

/** `[::1]` and `::1` both become the URL host `[::1]`. */
function urlHost(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return net.isIPv6(bare) ? `[${bare}]` : bare;
}

/** A short, stable reason from whatever undici or the socket threw. */
function describeError(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout after ${timeoutMs}ms`;
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
    return `timeout after ${timeoutMs}ms (${e.code})`;
  }
  const code = e.code ?? e.cause?.code ?? 'ERROR';
  const message = (e.message || e.cause?.message || String(err)).split('\n')[0]!.slice(0, 200);
  return `${code}: ${message}`;
}

/** Reads the body up to `limit` bytes looking for `needle`; always leaves the body consumed or destroyed. */
async function bodyContains(body: Dispatcher.ResponseData['body'], needle: string, limit: number): Promise<boolean> {
  let seen = '';
  let bytes = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      bytes += buf.length;
      seen += buf.toString('utf8');
      if (seen.includes(needle)) return true;
      if (bytes >= limit) return false;
      // Only the tail can still complete a match that straddles chunks.
      if (seen.length > needle.length) seen = seen.slice(-needle.length);
    }
    return false;
  } finally {
    if (!body.destroyed) body.destroy();
  }
}

function describeRanges(ranges: ReadonlyArray<[number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

/** Judges a response by status and body; always leaves the body consumed or destroyed. */
async function judge(res: Dispatcher.ResponseData, check: HttpCheck, ranges: ReadonlyArray<[number, number]>, signal: AbortSignal): Promise<string | undefined> {
  const statusOk = ranges.some(([lo, hi]) => res.statusCode >= lo && res.statusCode <= hi);
  if (!statusOk || check.body_contains === undefined) {
    // dump() reads at most `limit` bytes, then destroys the stream (and so the socket).
    await res.body.dump({ signal, limit: DEFAULT_MAX_BODY_BYTES });
    return statusOk ? undefined : `status ${res.statusCode} not in ${describeRanges(ranges)}`;
  }
  const found = await bodyContains(res.body, check.body_contains, check.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES);
  return found ? undefined : `body does not contain ${JSON.stringify(check.body_contains)}`;
}

/** One HTTP(S) probe of `target`. Never throws. */
export async function probeHttp(target: HttpTarget, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const now = opts.now ?? (() => performance.now());
  const timeoutMs = opts.timeoutMs ?? 500;
  const started = now();
  let status: number | undefined;
  const result = (reason?: string): ProbeResult => ({
    ok: reason === undefined,
    latencyMs: Math.max(0, Math.round(now() - started)),
    ...(reason !== undefined ? { reason } : {}),
    ...(status !== undefined ? { status } : {}),
  });
  const check = target.check;
  let ranges: Array<[number, number]>;
  try {
    ranges = parseExpectStatus(check.expect_status ?? DEFAULT_EXPECT_STATUS);
  } catch (err) {
    return result(`config: ${(err as Error).message}`);
  }
  const scheme = check.scheme ?? 'http';
  const url = `${scheme}://${urlHost(target.address)}:${check.port ?? (scheme === 'https' ? 443 : 80)}${check.path ?? '/'}`;
  const dispatcher = (opts.dispatchers ?? defaultDispatchers).get(check.tls_verify ?? true, check.ca, timeoutMs);
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error(`timeout after ${timeoutMs}ms`));
  }, timeoutMs);
  try {
    // The Host header also sets the TLS SNI name (undici derives servername from it).
    const res = await request(url, {
      method: (check.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: { host: check.host ?? target.pool, 'user-agent': 'roamdns-health' },
      dispatcher,
      signal: abort.signal,
      reset: true,
    });
    status = res.statusCode;
    return result(await judge(res, check, ranges, abort.signal));
  } catch (err) {
    return result(describeError(err, timedOut, timeoutMs));
  } finally {
    clearTimeout(timer);
  }
}

/** One TCP connect probe: passes when the three-way handshake completes in time. Never throws. */
export function probeTcp(address: string, port: number, timeoutMs = 500, opts: Pick<ProbeOptions, 'now'> = {}): Promise<ProbeResult> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const host = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return new Promise((resolve) => {
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (ok: boolean, reason?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, latencyMs: Math.max(0, Math.round(now() - started)), ...(reason !== undefined ? { reason } : {}) });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs}ms`), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, `${err.code ?? 'ERROR'}: ${err.message}`));
  });
}

/** How the checker calls a probe: per pool, VIP and resolved check. */
export type ProbeFn = (pool: string, vip: string, check: ResolvedCheck) => Promise<ProbeResult>;

/** The real probes: HTTP through undici, or TCP connect. */
export function realProbe(dispatchers?: ProbeDispatchers): ProbeFn {
  return (pool, vip, check) =>
    check.kind === 'tcp'
      ? probeTcp(vip, check.tcpPort, check.timeoutMs)
      : probeHttp({ address: vip, pool, check: check.http }, { timeoutMs: check.timeoutMs, ...(dispatchers ? { dispatchers } : {}) });
}
