// An address that cannot be bound (another process holds it) ends `serve` and `agent` at once
// with exit 2 and one line naming the setting, the address and the cause. Before, the process
// stayed up after a stack trace (the status API and health timers kept it alive; with workers, a
// worker hung before "ready"; the agent's heartbeat socket outlived a failed API bind), so a
// supervisor saw neither an exit nor a working server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-listen-'));
const zoneFile = path.join(dir, 'listen.test.zone');
writeFileSync(zoneFile, '$ORIGIN listen.test.\n$TTL 60\n@ SOA ns1 h 1 1 1 1 30\n@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.21.2\nwww A 127.0.21.3\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an address already in use', () => {
  for (const workers of [1, 2]) {
    for (const what of ['dns', 'status'] as const) {
      test(`${what}.listen taken, dns.workers ${workers}: exits 2 at once, saying which address and why`, async () => {
        const dgram = await import('node:dgram');
        const net = await import('node:net');
        const { freePort, spawnManaged } = await import('../helpers/roamdns.js');
        const [port, statusPort] = [await freePort(), await freePort()];
        const holder = what === 'dns' ? dgram.createSocket('udp4') : net.createServer();
        await new Promise<void>((r) => (holder instanceof net.Server ? holder.listen(statusPort, '127.0.0.1', r) : holder.bind(port, '127.0.0.1', r)));
        const cfg = path.join(dir, `taken-${what}-${workers}.yaml`);
        writeFileSync(cfg, `zones: [${JSON.stringify(zoneFile)}]\ndns: { listen: [127.0.0.1:${port}], workers: ${workers} }\nstatus: { listen: 127.0.0.1:${statusPort} }\n`);
        const proc = spawnManaged(process.execPath, [path.join(import.meta.dirname, '../../dist/cli/main.js'), 'serve', '--config', cfg], { cwd: dir });
        try {
          const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
          expect(code, proc.output()).toBe(2);
          const taken = what === 'dns' ? `dns.listen [127.0.0.1:${port}]` : `status.listen 127.0.0.1:${statusPort}`;
          expect(proc.output()).toContain(`${cfg}: ${taken}: cannot listen:`);
          expect(proc.output()).toMatch(/EADDRINUSE.*another process holds this port/);
          expect(proc.output()).not.toMatch(/^\s+at /m); // a message, not a stack trace
        } finally {
          await proc.stop();
          holder.close();
        }
      });
    }
  }
});

describe('roamdns agent: an address already in use', () => {
  for (const what of ['listen', 'status_listen'] as const) {
    test(`cluster.${what} taken: exits 2 at once, saying which address and why`, async () => {
      const dgram = await import('node:dgram');
      const net = await import('node:net');
      const { chmodSync } = await import('node:fs');
      const { freePort, spawnManaged } = await import('../helpers/roamdns.js');
      const [hb, api] = [await freePort(), await freePort()];
      const holder = what === 'listen' ? dgram.createSocket('udp4') : net.createServer();
      await new Promise<void>((r) => (holder instanceof net.Server ? holder.listen(api, '127.0.0.1', r) : holder.bind(hb, '127.0.0.1', r)));
      const secret = path.join(dir, `agent-${what}.key`);
      writeFileSync(secret, 'a'.repeat(32));
      chmodSync(secret, 0o600);
      const cfg = path.join(dir, `agent-taken-${what}.yaml`);
      writeFileSync(cfg, [
        `zones: [${JSON.stringify(zoneFile)}]`,
        'cluster:', `  listen: 127.0.0.1:${hb}`, '  nodes:', '    n1: { address: 127.0.0.1 }', '    n2: { address: 127.0.0.2 }',
        `  secret_file: ${JSON.stringify(secret)}`, '  vips_from: [www.listen.test]', '  interface: lo', `  status_listen: 127.0.0.1:${api}`, '',
      ].join('\n'));
      const proc = spawnManaged(process.execPath, [path.join(import.meta.dirname, '../../dist/cli/main.js'), 'agent', '--config', cfg, '--node', 'n1'], { cwd: dir });
      try {
        const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
        expect(code, proc.output()).toBe(2);
        const taken = what === 'listen' ? `cluster.listen 127.0.0.1:${hb}` : `cluster.status_listen 127.0.0.1:${api}`;
        expect(proc.output()).toContain(`${cfg}: ${taken}: cannot listen:`);
        expect(proc.output()).toMatch(/EADDRINUSE.*another process holds this port/);
      } finally {
        await proc.stop();
        holder.close();
      }
    });
  }
});
