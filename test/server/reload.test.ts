// Reload without a gap (issue 2): while clients query continuously, the zone file is replaced and
// reloaded with SIGHUP 20 times, once with a broken file. No query may fail or time out, no answer
// may mix two versions of the zone or go back to an older one, the broken file must never be
// served (the previous version keeps serving, /status and /metrics show the error with file:line),
// and a later good file is served again. Also: reload on a file change alone, and the warning for
// a changed zone whose SOA serial did not grow.
//
// Version N of the zone carries N everywhere: SOA serial N, three TXT "vN x" at v, an MX with
// preference N whose target's address ends in .N, and a CNAME to tN whose TXT says "vN". Each
// answer checked below holds two or more of these, so a mixed zone shows up as a disagreement.
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTempDir, query, startRoamdns, type DnsResponse, type RoamdnsServer } from '../helpers/roamdns.js';

const ORIGIN = 'reload.test.';
const RELOADS = 20;
const BROKEN_AT = 10; // the 10th reload writes a broken file (it would have been version 11)
const BROKEN_LINE = 14;
const FILLER = 1500; // records that make each load take a while, so queries arrive during it
const UDP_CLIENTS = 6;

/** The zone text of version `version` with SOA serial `serial`; `broken` puts a bad address on BROKEN_LINE. */
function zoneText(version: number, serial = version, broken = false): string {
  const n = version;
  const lines = [
    `; reload test zone, version ${n}`, `$ORIGIN ${ORIGIN}`, '$TTL 60',
    `@ IN SOA ns1 hostmaster ${serial} 3600 600 86400 60`, '@ NS ns1', 'ns1 A 192.0.2.1',
    `v TXT "v${n} a"`, `v TXT "v${n} b"`, `v TXT "v${n} c"`,
    `mx MX ${n} host`, `host A 198.51.100.${n}`, `c CNAME t${n}`, `t${n} TXT "v${n}"`,
    broken ? 'bad A 999.1.1.1' : '; (the broken version has a bad address on this line)',
  ];
  for (let i = 0; i < FILLER; i++) lines.push(`f${i} A 192.0.2.${(i % 250) + 1}`);
  return lines.join('\n') + '\n';
}

/** The one version an answer belongs to, or a description of what is wrong with it. */
type Verdict = { version: number } | { error: string };
const CHECKS: { qname: string; qtype: string; verdict(r: DnsResponse): Verdict }[] = [
  {
    qname: 'v.reload.test', qtype: 'TXT', verdict(r) {
      const m = r.answer.map((a) => /^"v(\d+) ([abc])"$/.exec(a.rdata));
      const versions = new Set(m.map((x) => x?.[1]));
      const letters = m.map((x) => x?.[2]).sort().join('');
      if (r.rcodeName !== 'NOERROR' || m.some((x) => !x) || versions.size !== 1 || letters !== 'abc') return { error: 'TXT set' };
      return { version: Number([...versions][0]) };
    },
  },
  {
    qname: 'mx.reload.test', qtype: 'MX', verdict(r) {
      const pref = /^(\d+) host\.reload\.test\.$/.exec(r.answer[0]?.rdata ?? '')?.[1];
      const addr = /^198\.51\.100\.(\d+)$/.exec(r.additional.find((a) => a.type === 'A')?.rdata ?? '')?.[1];
      if (r.rcodeName !== 'NOERROR' || r.answer.length !== 1 || !pref || pref !== addr) return { error: `MX ${pref} with glue .${addr}` };
      return { version: Number(pref) };
    },
  },
  {
    qname: 'c.reload.test', qtype: 'TXT', verdict(r) {
      const target = /^t(\d+)\.reload\.test\.$/.exec(r.answer.find((a) => a.type === 'CNAME')?.rdata ?? '')?.[1];
      const txt = /^"v(\d+)"$/.exec(r.answer.find((a) => a.type === 'TXT')?.rdata ?? '')?.[1];
      if (r.rcodeName !== 'NOERROR' || r.answer.length !== 2 || !target || target !== txt) return { error: `CNAME to t${target}, TXT v${txt}` };
      return { version: Number(target) };
    },
  },
  {
    qname: 'reload.test', qtype: 'SOA', verdict(r) {
      const serial = r.answer.length === 1 ? r.answer[0]!.rdata.split(' ')[2] : undefined;
      return r.rcodeName === 'NOERROR' && serial ? { version: Number(serial) } : { error: 'SOA' };
    },
  },
  {
    qname: 'nothing.reload.test', qtype: 'A', verdict(r) {
      const serial = r.authority.find((a) => a.type === 'SOA')?.rdata.split(' ')[2];
      return r.rcodeName === 'NXDOMAIN' && serial ? { version: Number(serial) } : { error: `${r.rcodeName} without SOA` };
    },
  },
];

/** Clients that query without pause, each answer checked against the versions published so far. */
class LoadClients {
  maxSeen = 1;
  queries = 0;
  readonly failures: string[] = [];
  readonly published = new Set<number>([1]);
  readonly seen = new Map<number, number>();
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(private readonly port: number) {}

  start(): void {
    const hardStop = Date.now() + 60_000; // bounded even if the test body never stops us
    const worker = async (w: number, transport: 'udp' | 'tcp'): Promise<void> => {
      for (let i = w; !this.stopped && Date.now() < hardStop && this.queries < 400_000; i++) {
        const check = CHECKS[i % CHECKS.length]!;
        const floor = this.maxSeen;
        this.queries++;
        try {
          const r = await query(this.port, check.qname, check.qtype, { transport, timeoutMs: 2000 });
          const v = check.verdict(r);
          if ('error' in v) { this.fail(`${transport} ${check.qname} ${check.qtype}: mixed or broken answer (${v.error}): ${JSON.stringify([r.answer, r.authority, r.additional])}`); continue; }
          if (v.version < floor) this.fail(`${transport} ${check.qname} ${check.qtype}: version ${v.version} after version ${floor} had been served`);
          if (!this.published.has(v.version)) this.fail(`${transport} ${check.qname} ${check.qtype}: version ${v.version} was never published as a good file`);
          this.seen.set(v.version, (this.seen.get(v.version) ?? 0) + 1);
          if (v.version > this.maxSeen) this.maxSeen = v.version;
        } catch (e) {
          this.fail(`${transport} ${check.qname} ${check.qtype}: ${(e as Error).message}`);
        }
      }
    };
    this.running = [...Array.from({ length: UDP_CLIENTS }, (_, w) => worker(w, 'udp')), worker(UDP_CLIENTS, 'tcp')];
  }

  private fail(msg: string): void {
    if (this.failures.length < 30) this.failures.push(msg);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface LogLine { level: number; msg: string; [k: string]: unknown }
const logLines = (s: RoamdnsServer): LogLine[] =>
  s.proc.output().split('\n').filter((l) => l.startsWith('{')).flatMap((l) => { try { return [JSON.parse(l) as LogLine]; } catch { return []; } });
/** The first log line matching `pred`, waiting for it: the log pipe may trail the DNS answers. */
async function waitForLog(s: RoamdnsServer, what: string, pred: (l: LogLine) => boolean): Promise<LogLine> {
  let hit: LogLine | undefined;
  await until(`${what} in the log`, () => (hit = logLines(s).find(pred)) !== undefined, 3000).catch((e: Error) => {
    throw new Error(`${e.message}; it ends with:\n${s.proc.output().slice(-2000)}`);
  });
  return hit!;
}

describe('zone reload under load', () => {
  let server: RoamdnsServer;
  let dir: string;
  let zoneFile: string;
  let load: LoadClients;

  /** Replaces the zone file in one rename, as `git checkout` and editors do. */
  const publish = async (text: string): Promise<void> => {
    const tmp = path.join(dir, '.reload.test.zone.tmp'); // not *.zone: never loaded itself
    await writeFile(tmp, text);
    await rename(tmp, zoneFile);
  };
  const status = async (): Promise<{ origin: string; serial: number | null; lastResult: string; lastError: string | null; lastAttemptAt: string }> => {
    const doc = await (await fetch(`http://127.0.0.1:${server.statusPort}/status`)).json() as { zones: { origin: string; serial: number | null; lastResult: string; lastError: string | null; lastAttemptAt: string }[] };
    const z = doc.zones.find((x) => x.origin === ORIGIN);
    if (!z) throw new Error(`/status has no zone ${ORIGIN}: ${JSON.stringify(doc)}`);
    return z;
  };
  const metric = async (re: RegExp): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${server.statusPort}/metrics`)).text();
    return text.split('\n').filter((l) => re.test(l)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  };
  const servedSerial = async (): Promise<number> => {
    const r = await query(server.port, ORIGIN, 'SOA', { timeoutMs: 1000 });
    return Number(r.answer[0]?.rdata.split(' ')[2]);
  };

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-reload');
    zoneFile = path.join(dir, 'reload.test.zone');
    await writeFile(zoneFile, zoneText(1));
    server = await startRoamdns({ zones: dir, readyZone: ORIGIN });
    load = new LoadClients(server.port);
  });

  afterAll(async () => {
    await load?.stop();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test(`${RELOADS} SIGHUP reloads while ${UDP_CLIENTS} UDP clients and 1 TCP client query without pause; one file is broken`, async () => {
    const started = Date.now();
    load.start();
    await until('the first answers', () => load.seen.size > 0);
    for (let i = 1; i <= RELOADS; i++) {
      const version = i + 1;
      if (i === BROKEN_AT) {
        const before = await status();
        await publish(zoneText(version, version, true));
        process.kill(server.proc.child.pid!, 'SIGHUP');
        await until('/status to show the failed reload', async () => (await status()).lastAttemptAt !== before.lastAttemptAt);
        await sleep(400); // the folder watch's own reload of the same broken file (300 ms debounce) happens too
        const st = await status();
        expect(st.lastResult).toBe('error');
        expect(st.lastError).toContain(`reload.test.zone:${BROKEN_LINE}:`);
        expect(st.serial, 'the previous version is still the one served').toBe(version - 1);
        expect(await servedSerial()).toBe(version - 1);
        expect(load.maxSeen).toBe(version - 1);
        continue;
      }
      load.published.add(version);
      await publish(zoneText(version));
      process.kill(server.proc.child.pid!, 'SIGHUP');
      await until(`version ${version} to be served`, () => load.maxSeen >= version);
      await sleep(400); // serve each version for a while; lets the watch's debounced reload (a no-op) pass
    }
    await load.stop();
    const took = Date.now() - started;
    console.info(`reload under load: ${load.queries} queries in ${took} ms over ${RELOADS} reloads; answers per version ${JSON.stringify(Object.fromEntries(load.seen))}`);

    expect(load.failures, `queries that failed, timed out or saw a mixed/old/broken zone:\n${load.failures.join('\n')}`).toEqual([]);
    expect(load.maxSeen).toBe(RELOADS + 1);
    // Every good version was served, and the broken one never was.
    for (let v = 1; v <= RELOADS + 1; v++) if (v !== BROKEN_AT + 1) expect(load.seen.get(v) ?? 0, `answers from version ${v}`).toBeGreaterThan(0);
    expect(load.seen.has(BROKEN_AT + 1)).toBe(false);

    const st = await status();
    expect(st.lastResult).toBe('ok');
    expect(st.serial).toBe(RELOADS + 1);
    expect(await metric(/^roamdns_zone_reloads_total\{(?=.*result="error")(?=.*zone="reload\.test\.")/)).toBeGreaterThanOrEqual(1);
    expect(await metric(/^roamdns_zone_reloads_total\{(?=.*result="ok")(?=.*zone="reload\.test\.")/)).toBeGreaterThanOrEqual(RELOADS);
    expect(await metric(/^roamdns_zone_serial\{zone="reload\.test\."\}/)).toBe(RELOADS + 1);

    const logs = logLines(server);
    const failed = logs.filter((l) => l.msg === 'zone reload failed, still serving the previous version');
    console.info(`broken file: ${failed.length} error log line(s): ${failed.map((l) => String(l.first)).join(' | ')}`);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(String(failed[0]!.first)).toContain(`reload.test.zone:${BROKEN_LINE}:`);
    // Each good version was loaded by its SIGHUP (the watch's reload comes 300 ms later and finds nothing new).
    const bySighup = new Set(logs.filter((l) => l.msg === 'zone reloaded' && l.reason === 'SIGHUP').map((l) => Number(l.serial)));
    for (let v = 2; v <= RELOADS + 1; v++) if (v !== BROKEN_AT + 1) expect(bySighup.has(v), `version ${v} loaded on SIGHUP`).toBe(true);
  }, 90_000);

  test('a changed file is reloaded without SIGHUP (folder watch)', async () => {
    const version = RELOADS + 2;
    await publish(zoneText(version));
    await until(`serial ${version} after the file change`, async () => (await servedSerial()) === version, 10_000);
    const log = await waitForLog(server, `'zone reloaded' of serial ${version}`, (l) => l.msg === 'zone reloaded' && Number(l.serial) === version);
    expect(log.reason).toBe('file change');
  }, 20_000);

  test('a changed zone whose SOA serial did not grow is served, with a warning', async () => {
    const serial = RELOADS + 2; // same serial as the version just served
    await publish(zoneText(serial + 1, serial));
    process.kill(server.proc.child.pid!, 'SIGHUP');
    await until('the new content', async () => (await query(server.port, 'v.reload.test', 'TXT', { timeoutMs: 1000 })).answer.some((a) => a.rdata === `"v${serial + 1} a"`));
    const warn = await waitForLog(server, 'the serial warning', (l) => l.msg.startsWith('zone changed but its SOA serial did not grow'));
    expect(warn.level).toBe(40); // pino warn
    expect([warn.old, warn.new]).toEqual([serial, serial]);
  }, 20_000);
});
