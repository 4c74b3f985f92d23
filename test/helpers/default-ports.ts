// The shipped config's fixed ports (5353 DNS, 8053 status): checks they are free and makes the test
// files that start the shipped default (cli.test.ts, readme.test.ts) take turns holding them.
import dgram from 'node:dgram';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Fails with what to do when `port` is taken on 127.0.0.1 (UDP or TCP); `what` says who needs it. */
export async function requireFree(port: number, what: string): Promise<void> {
  const busy = (e: unknown): Error => new Error(`port ${port} on 127.0.0.1 is busy (${(e as NodeJS.ErrnoException).code}): ${what}; ` +
    `stop what holds it (see: ss -lunpt | grep :${port}) and run the test again`);
  const srv = net.createServer();
  await new Promise<void>((res, rej) => { srv.once('error', (e) => rej(busy(e))); srv.listen(port, '127.0.0.1', () => res()); });
  await new Promise<void>((res) => srv.close(() => res()));
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((res, rej) => { udp.once('error', (e) => rej(busy(e))); udp.bind(port, '127.0.0.1', () => res()); }).finally(() => {
    try { udp.close(); } catch { /* never bound */ }
  });
}

/** One test file at a time holds the default ports; returns the release function. */
export async function lockDefaultPorts(): Promise<() => Promise<void>> {
  const lock = path.join(os.tmpdir(), 'roamdns-default-ports.lock');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      return () => rm(lock, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '0'));
    const age = Date.now() - (await stat(lock).then((s) => s.mtimeMs).catch(() => Date.now()));
    let holderAlive = pid > 0;
    if (pid > 0) try { process.kill(pid, 0); } catch { holderAlive = false; }
    if (!holderAlive && (pid > 0 || age > 10_000)) { await rm(lock, { recursive: true, force: true }); continue; }
    if (Date.now() > deadline) throw new Error(`${lock} is held by process ${pid} for over 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
