// The status listener: GET /status (JSON), GET /metrics (Prometheus text), GET / (the status page).
// Binds to loopback unless the operator names another address. With status.token_file set, every
// request must carry `Authorization: Bearer <token>` (RFC 6750 §2.1); anything else gets 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { readSecret, SecretError } from '../failover/secret.js';
import type { Registry } from '../server/metrics.js';
import { renderStatusPage, STATUS_PAGE_CSP, type StatusDocument } from './status-page.js';

export interface StatusSource {
  /** The JSON document served at /status (and rendered at /). */
  status(): StatusDocument;
  registry: Registry;
  /** More Prometheus text appended to /metrics (e.g. the health checker's). */
  extraMetrics?: () => string;
  /** Replaces the registry's text, e.g. with the counters of every DNS worker merged. */
  metricsText?: () => Promise<string>;
}

export interface StatusServerOptions {
  /** The bearer token from status.token_file; when set, every request must present it. */
  token?: Buffer;
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

/** The shortest token accepted: guessing 16 random characters over the network is hopeless. */
export const MIN_TOKEN_CHARS = 16;

export class StatusTokenError extends Error {
  readonly code: string;
  constructor(code: string, readonly path: string, message: string, options?: { cause?: unknown }) {
    super(`status.token_file ${path}: ${message}`, options);
    this.name = 'StatusTokenError';
    this.code = code;
  }
}

/**
 * Reads the bearer token: the same rules as the cluster secret (a regular file, owner-only mode,
 * not empty, one trailing newline dropped), plus what an HTTP header can carry (RFC 6750 b64token:
 * visible ASCII, no spaces) and a minimum length. Throws StatusTokenError; never logs the token.
 */
export function readStatusToken(path: string): Buffer {
  let token: Buffer;
  try {
    token = readSecret(path);
  } catch (err) {
    if (!(err instanceof SecretError)) throw err;
    const prefix = `cluster.secret_file ${path}: `;
    throw new StatusTokenError(err.code, path, err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message, { cause: err });
  }
  if (!/^[\x21-\x7e]+$/.test(token.toString('latin1'))) {
    throw new StatusTokenError('ETOKEN_CHARS', path, 'holds spaces, control or non-ASCII characters, which an Authorization header cannot carry; use e.g.: head -c 32 /dev/urandom | base64 > FILE');
  }
  if (token.length < MIN_TOKEN_CHARS) {
    throw new StatusTokenError('ETOKEN_SHORT', path, `is ${token.length} characters, at least ${MIN_TOKEN_CHARS} are needed; use e.g.: head -c 32 /dev/urandom | base64 > FILE`);
  }
  return token;
}

export const tokenDigestOf = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();
const digest = tokenDigestOf;

/**
 * Whether `header` is `Bearer <token>`. The presented token and ours are compared as SHA-256
 * digests with timingSafeEqual, so the time taken says nothing about how much of it matched,
 * nor about its length. The scheme name is case-insensitive (RFC 7235 §2.1).
 */
export function bearerMatches(header: string | undefined, tokenDigest: Buffer): boolean {
  const m = /^bearer +(\S+) *$/i.exec(header ?? '');
  const same = timingSafeEqual(digest(m?.[1] ?? ''), tokenDigest);
  return m !== null && same;
}

function send(res: http.ServerResponse, head: boolean, code: number, headers: Record<string, string>, body: string): void {
  res.writeHead(code, { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(head ? undefined : body);
}

export function startStatusServer(src: StatusSource, host: string, port: number, opts: StatusServerOptions = {}): Promise<StatusServer> {
  const tokenDigest = opts.token ? digest(opts.token) : undefined;
  const denied = tokenDigest ? src.registry.counter('roamdns_status_unauthorized_total', 'Status API requests refused for a missing or wrong bearer token') : undefined;
  const server = http.createServer((req, res) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (tokenDigest && !bearerMatches(req.headers.authorization, tokenDigest)) {
      denied!.inc();
      // RFC 6750 §3: the challenge; invalid_token when one was presented.
      const challenge = req.headers.authorization ? 'Bearer realm="roamdns", error="invalid_token"' : 'Bearer realm="roamdns"';
      send(res, head, 401, { 'www-authenticate': challenge, 'content-type': 'text/plain' }, 'unauthorized: send Authorization: Bearer <the token in status.token_file>\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/status') {
      send(res, head, 200, { 'content-type': 'application/json' }, JSON.stringify(src.status(), null, 2));
    } else if (url.pathname === '/metrics') {
      const base = src.metricsText ? src.metricsText() : Promise.resolve(src.registry.render());
      void base.then((text) => send(res, head, 200, { 'content-type': 'text/plain; version=0.0.4' }, text + (src.extraMetrics?.() ?? '')));
    } else if (url.pathname === '/') {
      send(res, head, 200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': STATUS_PAGE_CSP, 'referrer-policy': 'no-referrer' }, renderStatusPage(src.status()));
    } else {
      send(res, head, 404, { 'content-type': 'text/plain' }, 'not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
