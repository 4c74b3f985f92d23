// The status listener: GET /status (JSON), GET /metrics (Prometheus text), GET / (a short page).
// Binds to loopback unless the operator names another address.
import http from 'node:http';
import type { Registry } from '../server/metrics.js';

export interface StatusSource {
  /** The JSON document served at /status. */
  status(): object;
  registry: Registry;
  /** More Prometheus text appended to /metrics (e.g. the health checker's). */
  extraMetrics?: () => string;
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

function page(doc: object): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html><html><head><meta charset="utf-8"><title>roamdns</title><meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}</style></head>
<body><h1>roamdns</h1><pre>${esc(JSON.stringify(doc, null, 2))}</pre></body></html>`;
}

export function startStatusServer(src: StatusSource, host: string, port: number): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(src.status(), null, 2));
    } else if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(src.registry.render() + (src.extraMetrics?.() ?? ''));
    } else if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(src.status()));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
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
