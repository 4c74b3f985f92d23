// The node's own service check against servers on 127.0.0.1 (port 0), and the rise/fall thresholds.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpProbe, RiseFall, tcpProbe } from '../../failover/service-check.js';

let http: Server;
let base = '';
const hung: Array<() => void> = [];

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    if (req.url === '/ok') { res.end('www1\n'); return; }
    if (req.url === '/big') { res.end('x'.repeat(1_000_000)); return; }
    if (req.url === '/fail') { res.statusCode = 503; res.end('down'); return; }
    hung.push(() => res.end()); // /hang: never answers until the end
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const h of hung) h();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

describe('service probes', () => {
  it('HTTP 200 passes, and the body is consumed', async () => {
    expect(await httpProbe(`${base}/ok`, 1000)()).toMatchObject({ ok: true, reason: 'ok' });
    expect(await httpProbe(`${base}/big`, 2000)()).toMatchObject({ ok: true });
  });

  it('HTTP 503 fails with the status as the reason', async () => {
    expect(await httpProbe(`${base}/fail`, 1000)()).toEqual(expect.objectContaining({ ok: false, reason: 'status 503' }));
  });

  it('a hanging server fails with "timeout", as data', async () => {
    expect(await httpProbe(`${base}/hang`, 100)()).toMatchObject({ ok: false, reason: 'timeout' });
  });

  it('a closed port fails with ECONNREFUSED', async () => {
    const s = createTcpServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    expect(await httpProbe(`http://127.0.0.1:${port}/`, 1000)()).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
    expect(await tcpProbe('127.0.0.1', port, 1000)()).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
  });

  it('TCP connect passes against a listening port', async () => {
    const s = createTcpServer((c) => c.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    expect(await tcpProbe('127.0.0.1', (s.address() as AddressInfo).port, 1000)()).toMatchObject({ ok: true, reason: 'ok' });
    await new Promise((r) => s.close(r));
  });
});

describe('rise/fall', () => {
  const pass = { ok: true, reason: 'ok' };
  const fail = { ok: false, reason: 'status 503' };

  it('unknown → healthy after rise passes, → unhealthy after fall failures, and back', () => {
    const rf = new RiseFall(2, 3);
    expect(rf.health).toBe('unknown');
    expect(rf.push(pass)).toBe(false);
    expect(rf.push(pass)).toBe(true);
    expect(rf.health).toBe('healthy');
    rf.push(fail); rf.push(fail);
    expect(rf.health).toBe('healthy');
    rf.push(pass); // streak broken
    rf.push(fail); rf.push(fail);
    expect(rf.push(fail)).toBe(true);
    expect(rf.health).toBe('unhealthy');
    expect(rf.lastReason).toBe('status 503');
    rf.push(pass);
    expect(rf.push(pass)).toBe(true);
    expect(rf.health).toBe('healthy');
  });

  it('refuses thresholds below 1', () => {
    expect(() => new RiseFall(0, 1)).toThrow(RangeError);
  });
});
