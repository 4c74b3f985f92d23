// Local servers for the real-socket health tests: HTTP(S) targets and fake agents, all bound to
// 127.0.0.1 (or ::1) on port 0. Network rule: nothing here listens on or talks to any other address.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface LocalServer {
  host: string;
  port: number;
  /** Connections open right now (server side). */
  connections(): Promise<number>;
  close(): Promise<void>;
}

function wrap(server: net.Server, host: string): Promise<LocalServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        host,
        port,
        connections: () => new Promise((r) => server.getConnections((_e, n) => r(n ?? 0))),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export function startHttp(handler: Handler, host = '127.0.0.1'): Promise<LocalServer> {
  return wrap(http.createServer(handler), host);
}

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** A throw-away self-signed certificate for `name`, made with Debian's openssl. */
export function selfSignedCert(name: string): TlsMaterial {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1',
      '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
    ], { stdio: 'pipe' });
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An HTTPS target; `sni` collects the server names clients asked for. */
export async function startHttps(tls: TlsMaterial, handler: Handler, sni: string[]): Promise<LocalServer> {
  const server = https.createServer({ key: tls.key, cert: tls.cert }, handler);
  server.on('secureConnection', (s: TLSSocket) => sni.push(String(s.servername)));
  return wrap(server, '127.0.0.1');
}

/** A bare TCP listener that accepts and closes. */
export function startTcp(): Promise<LocalServer> {
  return wrap(net.createServer((s) => s.destroy()), '127.0.0.1');
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = await startTcp();
  await s.close();
  return s.port;
}

/** Whether this host can listen on ::1 (IPv6 may be disabled in a container). */
export async function hasIpv6Loopback(): Promise<boolean> {
  try {
    const s = await wrap(net.createServer(), '::1');
    await s.close();
    return true;
  } catch {
    return false;
  }
}
