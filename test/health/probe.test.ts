// Real probes against local servers on 127.0.0.1 (and ::1 when available): status codes, body
// checks, timeouts, huge and trickling bodies, sockets freed, Host/SNI, TLS verification and its
// opt-out, TCP connect. Network rule: every probe here targets 127.0.0.1 or ::1.
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseExpectStatus, probeHttp, probeTcp, ProbeDispatchers } from '../../health/probe.js';
import type { HttpCheck } from '../../health/options.js';
import { closedPort, hasIpv6Loopback, selfSignedCert, startHttp, startHttps, startTcp, type Handler, type LocalServer } from './servers.js';

const POOL = 'www.example.test';
const dispatchers = new ProbeDispatchers();
const timers = new Set<NodeJS.Timeout>();
/** What the target saw, per request path. */
const seen: Array<{ path: string; headers: http.IncomingHttpHeaders; method: string }> = [];
/** Responses that ended early (the client went away) vs finished, for /huge and /trickle. */
const outcomes: string[] = [];

const HUGE_BYTES = 32 * 1024 * 1024;

const routes: Record<string, Handler> = {
  '/ok': (_req, res) => res.end('status: healthy'),
  '/fail': (_req, res) => {
    res.statusCode = 500;
    res.end('broken');
  },
  '/redirect': (_req, res) => {
    res.writeHead(302, { location: '/ok' });
    res.end();
  },
  '/slow': (_req, res) => {
    const t = setTimeout(() => res.end('late'), 2000);
    timers.add(t);
  },
  '/huge': (_req, res) => {
    res.writeHead(200, { 'content-length': HUGE_BYTES });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < HUGE_BYTES && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => outcomes.push(`huge:${res.writableFinished ? 'finished' : 'aborted'}`));
    pump();
  },
  '/trickle': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const t = setInterval(() => {
      if (res.destroyed || ++n > 100) return void (clearInterval(t), res.end());
      res.write('.');
    }, 50);
    timers.add(t);
    res.on('close', () => outcomes.push(`trickle:${res.writableFinished ? 'finished' : 'aborted'}`));
  },
};

const handler: Handler = (req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  seen.push({ path, headers: req.headers, method: req.method ?? '' });
  (routes[path] ?? routes['/ok']!)(req, res);
};

let target: LocalServer;
let tlsTarget: LocalServer;
const sni: string[] = [];
let cert = '';

beforeAll(async () => {
  target = await startHttp(handler);
  const tls = selfSignedCert(POOL);
  cert = tls.cert;
  tlsTarget = await startHttps(tls, handler, sni);
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  await Promise.allSettled([target?.close(), tlsTarget?.close(), dispatchers.close()]);
});

const probe = (check: HttpCheck, timeoutMs = 1000, address = '127.0.0.1') =>
  probeHttp({ address, pool: POOL, check: { port: target.port, ...check } }, { timeoutMs, dispatchers });

/** Polls (bounded) until the target has no open connection left. */
async function drained(server: LocalServer): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const n = await server.connections();
    if (n === 0) return 0;
    await new Promise((r) => setTimeout(r, 20));
  }
  return server.connections();
}

describe('probeHttp', () => {
  test('200 passes, with status and latency', async () => {
    const r = await probe({ path: '/ok' });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.reason).toBeUndefined();
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.latencyMs).toBeLessThan(1000);
  });

  test.each([
    { name: '500 fails by default', path: '/fail', expect_status: undefined, ok: false, reason: 'status 500 not in 200-399' },
    { name: '302 passes by default (200-399)', path: '/redirect', expect_status: undefined, ok: true, reason: undefined },
    { name: '302 fails with 2xx', path: '/redirect', expect_status: ['2xx'], ok: false, reason: 'status 302 not in 200-299' },
    { name: '500 passes when listed', path: '/fail', expect_status: [200, 500], ok: true, reason: undefined },
    { name: '200 fails with a list without it', path: '/ok', expect_status: ['204', '300-301'], ok: false, reason: 'status 200 not in 204,300-301' },
  ])('$name', async ({ path, expect_status, ok, reason }) => {
    const r = await probe({ path, ...(expect_status ? { expect_status } : {}) });
    expect(r.ok).toBe(ok);
    expect(r.reason).toBe(reason);
  });

  test('body_contains: found passes, missing fails', async () => {
    expect(await probe({ path: '/ok', body_contains: 'healthy' })).toMatchObject({ ok: true, status: 200 });
    expect(await probe({ path: '/ok', body_contains: 'sick' })).toMatchObject({ ok: false, status: 200, reason: 'body does not contain "sick"' });
  });

  test('sends Host = the pool name by default, or the configured host; Connection: close; the method', async () => {
    seen.length = 0;
    await probe({ path: '/ok' });
    await probe({ path: '/ok', host: 'other.example.test', method: 'HEAD' });
    expect(seen.map((s) => [s.headers.host, s.method, s.headers.connection])).toEqual([
      [POOL, 'GET', 'close'],
      ['other.example.test', 'HEAD', 'close'],
    ]);
    expect(seen[0]!.headers['user-agent']).toBe('roamdns-health');
  });

  test('a slow target counts as down: the timeout is honoured', async () => {
    const started = performance.now();
    const r = await probe({ path: '/slow' }, 200);
    const took = performance.now() - started;
    expect(r).toMatchObject({ ok: false, reason: 'timeout after 200ms' });
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(1500);
  });

  test('a huge body is not read to the end: the response is cut and the socket freed', async () => {
    outcomes.length = 0;
    const r = await probe({ path: '/huge' }, 2000);
    expect(r).toMatchObject({ ok: true, status: 200 });
    const r2 = await probe({ path: '/huge', body_contains: 'needle', max_body_bytes: 100_000 }, 2000);
    expect(r2).toMatchObject({ ok: false, reason: 'body does not contain "needle"' });
    expect(await drained(target)).toBe(0);
    expect(outcomes).toEqual(['huge:aborted', 'huge:aborted']);
  });

  test('a trickling body is bounded by the timeout too', async () => {
    outcomes.length = 0;
    const started = performance.now();
    const r = await probe({ path: '/trickle', body_contains: 'never' }, 300);
    expect(r).toMatchObject({ ok: false });
    expect(r.reason).toMatch(/^timeout after 300ms/);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await drained(target)).toBe(0);
    expect(outcomes).toEqual(['trickle:aborted']);
  });

  test('no connection is left open after many probes (bodies always consumed)', async () => {
    for (let i = 0; i < 25; i++) {
      await probe({ path: i % 3 === 0 ? '/fail' : '/ok', ...(i % 2 ? { body_contains: 'healthy' } : {}) });
    }
    expect(await drained(target)).toBe(0);
  });

  test('a closed port fails with the reason, never throws', async () => {
    const port = await closedPort();
    const r = await probeHttp({ address: '127.0.0.1', pool: POOL, check: { port } }, { timeoutMs: 1000, dispatchers });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/ECONNREFUSED/);
  });

  test('a bad expect_status is a failed probe, not an exception', async () => {
    const r = await probe({ path: '/ok', expect_status: ['abc'] });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^config: expect_status: "abc"/);
  });

  test('IPv6 VIPs are probed in brackets (::1)', async (ctx) => {
    if (!(await hasIpv6Loopback())) return ctx.skip();
    const v6 = await startHttp(handler, '::1');
    try {
      expect(await probeHttp({ address: '::1', pool: POOL, check: { port: v6.port, path: '/ok' } }, { dispatchers })).toMatchObject({ ok: true });
      expect(await probeHttp({ address: '[::1]', pool: POOL, check: { port: v6.port, path: '/ok' } }, { dispatchers })).toMatchObject({ ok: true });
    } finally {
      await v6.close();
    }
  });
});

describe('probeHttp over TLS', () => {
  const tlsProbe = (check: HttpCheck) =>
    probeHttp({ address: '127.0.0.1', pool: POOL, check: { scheme: 'https', port: tlsTarget.port, path: '/ok', ...check } }, { timeoutMs: 2000, dispatchers });

  test('verification is on by default: a self-signed certificate fails', async () => {
    const r = await tlsProbe({});
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/SELF_SIGNED|self-signed/i);
  });

  test('tls_verify: false accepts it; SNI is the Host name', async () => {
    sni.length = 0;
    expect(await tlsProbe({ tls_verify: false })).toMatchObject({ ok: true, status: 200 });
    expect(sni).toEqual([POOL]);
  });

  test('with the CA trusted, the name is still checked against the Host', async () => {
    expect(await tlsProbe({ ca: cert })).toMatchObject({ ok: true, status: 200 });
    const wrong = await tlsProbe({ ca: cert, host: 'wrong.example.test' });
    expect(wrong.ok).toBe(false);
    expect(wrong.reason).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(await drained(tlsTarget)).toBe(0);
  });
});

describe('probeTcp', () => {
  let listener: LocalServer;
  beforeAll(async () => {
    listener = await startTcp();
  });
  afterAll(async () => {
    await listener?.close();
  });

  test('a listener passes', async () => {
    const r = await probeTcp('127.0.0.1', listener.port, 1000);
    expect(r.ok).toBe(true);
    expect(r.reason).toBeUndefined();
  });

  test('a closed port fails with ECONNREFUSED', async () => {
    const r = await probeTcp('127.0.0.1', await closedPort(), 1000);
    expect(r).toMatchObject({ ok: false });
    expect(r.reason).toMatch(/^ECONNREFUSED/);
  });
});

describe('parseExpectStatus', () => {
  test.each([
    [[200], [[200, 200]]],
    [['200-399'], [[200, 399]]],
    [['2xx', 404], [[200, 299], [404, 404]]],
  ])('%j', (input, out) => expect(parseExpectStatus(input)).toEqual(out));

  test.each([[[]], [['6xx']], [['399-200']], [[99]], [['20']], [['abc']]])('%j is refused', (input) => {
    expect(() => parseExpectStatus(input)).toThrow(/expect_status/);
  });
});
