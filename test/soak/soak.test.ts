// The soak (issue "Hardening": soak and faults, figures not impressions). The namespace cluster of
// test/netns (three nodes with `roamdns agent` and a web server, a client) and `roamdns serve` in a
// fourth namespace probing the VIPs. For the whole run, at the same time:
//   - dnsperf in the client namespace at a steady rate (SOAK_QPS, default 2000 q/s) with a mixed
//     query file (www A health-managed, other names, AAAA, NODATA, NXDOMAIN, SOA, TXT, MX, CNAME);
//   - the zone file is replaced every 3 s and serve gets SIGHUP; every 3rd version is broken and
//     must be refused (old zone kept: /status and the SOA served are checked after each edit);
//   - a health target flaps: every 6 s the web server of one node stops for 3 s;
//   - an agent is killed (SIGKILL, link down) every SOAK_KILL_EVERY s (default 25) and restarted
//     2 s later (again every second while it refuses to start on a broken zone file, as systemd would);
//   - a checking client asks for www A every 50 ms (test/netns/dns-client.mjs) while a poller
//     fetches from every VIP every 20 ms (test/netns/poller.mjs): the poller says which VIP was
//     served when, so an answer holding an unserved VIP beyond the documented window is wrong
//     (analysis.ts; fail-open answers, when_all_down: all with no VIP served, are the policy).
// Memory: serve's RSS, and its V8 heap after a forced full GC through its inspector (serve runs with
// --inspect on the loopback of its namespace), before the load and after it plus a quiet period.
// It prints the figures, writes them as JSON to SOAK_OUT (default $TMPDIR/roamdns-soak-last-run.json;
// nothing is written into the repository) and asserts: nothing lost, no SERVFAIL, no wrong answer
// beyond the window, every broken reload refused and counted, no growth beyond noise, serve still answering.
// Short form in CI (SOAK_SECONDS=60 by default, about 75 s in all; vitest.config.ts runs it after
// every other file, alone); longer by hand: `npm run soak` (SOAK_SECONDS=600). To find a cause:
// SOAK_FAULTS=edits|flaps|kills (a subset), SOAK_KEEP=DIR (every process's output), SOAK_HEAP_EVERY=N.
// Needs root and dnsperf (apt-get install dnsperf). Traffic stays inside the bed's namespaces.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadZone } from '../../server/zone-store.js';
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_MATURE_MS } from '../../failover/options.js';
import type { BedProcess } from '../netns/bed.js';
import { Cluster, NODES, REPO, sleep, VIPS, waitFor } from '../netns/cluster.js';
import {
  BROKEN_KINDS, judgeAnswers, parseClient, parseDnsperf, parsePolls, queryFile, unservedStretches, zoneText,
  type BrokenKind, type DnsperfSummary, type Windows,
} from './analysis.js';

function envInt(name: string, dflt: number, min: number, max: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in ${min}..${max} (got ${v})`);
  return n;
}

/** dnsperf's run (-l): every fault happens inside it. */
const SECONDS = envInt('SOAK_SECONDS', 60, 30, 7200);
const QPS = envInt('SOAK_QPS', 2000, 100, 20_000);
const KILL_EVERY_S = envInt('SOAK_KILL_EVERY', 25, 10, 3600);
/** Which faults run (comma-separated; default all): edits, flaps, kills. Fewer only to find the cause of a failure. */
const FAULTS = new Set((process.env.SOAK_FAULTS ?? 'edits,flaps,kills').split(',').map((f) => f.trim()).filter(Boolean));
const EDIT_EVERY_MS = 3000;
const FLAP_DOWN_MS = 3000, FLAP_UP_MS = 3000;
const LINK_DOWN_MS = 2000;
/** serve's probes: small fall/rise so that flaps are seen (as in system.test.ts). */
const CHECK = { intervalMs: 200, timeoutMs: 100, rise: 2, fall: 2, jitterMs: 20 };
/**
 * The documented windows. Detection: a VIP that stops being served fails `fall` probes, each
 * started interval + jitter after the previous one, the last one taking up to the timeout.
 * Failover (node crash): dead_after for a survivor to take the VIP, plus detection (README).
 */
const DETECTION_MS = CHECK.fall * (CHECK.intervalMs + CHECK.jitterMs) + CHECK.timeoutMs;
const WINDOWS: Windows = {
  detectionMs: DETECTION_MS,
  failoverMs: DEFAULT_DEAD_AFTER_MS + DETECTION_MS,
  slackMs: envInt('SOAK_SLACK_MS', 300, 0, 5000),
  riseMs: CHECK.rise * (CHECK.intervalMs + CHECK.jitterMs) + CHECK.timeoutMs,
};
const DEGRADED_TTL = 5;
/**
 * Memory growth bounds, measured after a forced full GC (over serve's inspector) so that garbage
 * V8 has not collected yet (RSS climbs ~40 MiB under load, then plateaus) is not taken for a leak:
 * serve's RSS and its V8 heap at the end vs before the load.
 */
const RSS_NOISE_MIB = 30;
const HEAP_NOISE_MIB = 4;
/**
 * SOAK_HEAP_EVERY=N: also a forced-GC heap sample every N s during the load, for the trend of a
 * long run. Off by default: each one stops serve for 100-200 ms (inspector attach + full GC),
 * which would be the run's max latency.
 */
const HEAP_EVERY_MS = envInt('SOAK_HEAP_EVERY', 0, 0, 3600) * 1000;
const DNS = '198.51.100.53';
const OUT = process.env.SOAK_OUT || path.join(os.tmpdir(), 'roamdns-soak-last-run.json');
/** When set, a folder that receives every process's raw output (poller, client, serve, agents, dnsperf). */
const KEEP = process.env.SOAK_KEEP;
/** serve runs with --inspect on this port, on the loopback of its namespace, so the soak can force a GC and read the heap. */
const INSPECT_PORT = 9229;

const execFileP = promisify(execFile);
let c: Cluster;
let serve: BedProcess;
let client: BedProcess;
let poller: BedProcess;
let dnsperf: ChildProcess | undefined;
let tmp: string;

/** Runs a command inside a bed namespace without blocking the event loop. */
async function inNs(host: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', c.bed.host(host).ns, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}
const FETCH = 'fetch("http://127.0.0.1:8053/" + process.argv[1]).then(async (r) => process.stdout.write(await r.text()))';
const serveStatus = async () => JSON.parse(await inNs('dns', [process.execPath, '-e', FETCH, 'status'])) as { zones: { origin: string; serial: number | null; lastResult: string; lastError: string | null }[] };
const serveMetrics = () => inNs('dns', [process.execPath, '-e', FETCH, 'metrics']);
/** A metric's value from Prometheus text: the sum over the series whose labels contain every `labels` pair. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const l of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(l);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
/** The SOA serial DNS serves now, asked from the client namespace with dig. */
async function servedSerial(): Promise<number | undefined> {
  const out = await inNs('client', ['dig', '+short', '+time=1', '+tries=2', `@${DNS}`, 'example.com', 'SOA']).catch(() => '');
  const f = out.trim().split(/\s+/);
  return f.length >= 3 ? Number(f[2]) : undefined;
}

/** Asks serve over its inspector (test/soak/inspector.mjs, on the loopback of serve's namespace). */
async function inspect(action: 'heap' | 'lag-start' | 'lag-read'): Promise<unknown> {
  return JSON.parse(await inNs('dns', [process.execPath, '--experimental-websocket', '--no-warnings', path.join(REPO, 'test/soak/inspector.mjs'), String(INSPECT_PORT), action], 20_000));
}
/** serve's V8 heap after a forced full GC. */
const heapAfterGcMiB = async () => (await inspect('heap') as { usedSize: number }).usedSize / 2 ** 20;
/** The UDP counters of a namespace's kernel (/proc/net/snmp): receive-buffer overflows show up here. */
async function udpCounters(host: string): Promise<Record<string, number>> {
  const lines = (await inNs(host, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
  const [keys, values] = lines.map((l) => l.split(/\s+/).slice(1));
  return Object.fromEntries(keys!.map((k, i) => [k, Number(values![i])]));
}
/** Prints `<epoch ms> <count>` whenever the namespace's UDP RcvbufErrors grows (polled every 20 ms); stops after argv[1] ms. */
const RCVBUF_WATCH = `const fs = require('fs'); const end = Date.now() + Number(process.argv[1]); let last;
const read = () => { const l = fs.readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((x) => x.startsWith('Udp:')); const k = l[0].split(' '), v = l[1].split(' '); return Number(v[k.indexOf('RcvbufErrors')]); };
const tick = () => { const n = read(); if (last !== undefined && n > last) console.log(Date.now() + ' ' + (n - last)); last = n; if (Date.now() < end) setTimeout(tick, 20); };
tick();`;
const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]).filter(([, v]) => v !== 0));

/** The node process behind a bed process (`ip netns exec` execs it, so normally the same pid). */
function nodePid(pid: number): number {
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'ip') return pid;
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number).filter(Boolean);
  return kids[0] ?? pid;
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
/** CPU seconds (user + system, with reaped children) from /proc/<pid>/stat. */
function cpuOf(pid: number | 'self'): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0; // gone
  }
}
/** CPU seconds used so far by this test process, its reaped children and everything alive in the bed. */
function bedCpuSeconds(): number {
  let total = cpuOf('self');
  for (const h of c.bed.hosts.values()) {
    const pids = execFileSync('ip', ['netns', 'pids', h.ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
    for (const p of pids) total += cpuOf(Number(p));
  }
  return total;
}

const parseOverflows = (text: string): [number, number][] => text.split('\n').map((l) => l.split(' ').map(Number)).filter((x): x is [number, number] => x.length === 2 && x.every(Number.isFinite));

function requireDnsperf(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsperf']).status !== 0) {
    throw new Error('dnsperf not found: the soak drives load with it; apt-get install dnsperf (test/run.sh installs it as root)');
  }
}

const zoneFile = () => path.join(c.dir, 'example.com.zone');
/** Replaces the zone file as git does (a new file renamed over the old), never half-written. */
function writeZone(text: string): void {
  const tmpFile = path.join(c.dir, '.example.com.zone.soak-tmp');
  writeFileSync(tmpFile, text);
  renameSync(tmpFile, zoneFile());
}

/** Runs dnsperf in the client namespace, in its own process group; resolves with its report. */
function runDnsperf(qfile: string): Promise<{ summary: DnsperfSummary; text: string; code: number | null }> {
  const args = ['-s', DNS, '-d', qfile, '-l', String(SECONDS), '-Q', String(QPS), '-c', '2', '-q', '200', '-t', '2', '-S', '10'];
  const child = spawn('ip', ['netns', 'exec', c.bed.host('client').ns, 'dnsperf', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  dnsperf = child;
  let text = '';
  child.stdout!.on('data', (d) => { text += d; });
  child.stderr!.on('data', (d) => { text += d; });
  const kill = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, (SECONDS + 30) * 1000);
  return new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(kill);
    dnsperf = undefined;
    resolve({ summary: parseDnsperf(text), text, code });
  }));
}

beforeAll(async () => {
  requireDnsperf();
  // Every zone version the soak writes is checked with serve's own loader first: good ones load, broken ones fail.
  tmp = mkdtempSync(path.join(os.tmpdir(), 'roamdns-soak-'));
  const probe = path.join(tmp, 'example.com.zone');
  writeFileSync(probe, zoneText(VIPS, 2, 2));
  expect(loadZone(probe).zone, loadZone(probe).problems.map((p) => p.message).join('; ')).toBeDefined();
  for (const kind of BROKEN_KINDS) {
    writeFileSync(probe, zoneText(VIPS, 3, 3, kind));
    expect(loadZone(probe).zone, `a ${kind} zone must not load`).toBeUndefined();
  }
  writeFileSync(path.join(tmp, 'queries.txt'), queryFile());

  c = new Cluster({
    extraHosts: [{ name: 'dns', address: DNS }],
    topYaml: [
      // The client is exempt from response rate limiting: dnsperf is one client at 2000 q/s.
      `dns: { listen: ["0.0.0.0:53"], rrl: { exempt: ["127.0.0.0/8", "::1/128", "198.51.100.100/32"] } }`,
      'status: { listen: 127.0.0.1:8053 }',
      'pools:',
      '  www.example.com:',
      `    check: { http: { port: 80, path: /healthz }, interval: ${CHECK.intervalMs}ms, timeout: ${CHECK.timeoutMs}ms, rise: ${CHECK.rise}, fall: ${CHECK.fall}, jitter: ${CHECK.jitterMs}ms }`,
      '    when_all_down: all',
      `    degraded_ttl: ${DEGRADED_TTL}`,
    ].join('\n'),
  });
  writeZone(zoneText(VIPS, 100, 0));
  for (const n of NODES) c.startWeb(n);
  for (const n of NODES) c.startAgent(n);
  const runMs = (SECONDS + 120) * 1000;
  poller = c.bed.spawn('client', [process.execPath, path.join(REPO, 'test/netns/poller.mjs'), VIPS.join(','), '20', String(runMs), '100']);
  await waitFor(() => c.singleHolders() && Object.values(c.counts()).every((n) => n === 1), 20_000, 'the cluster to converge');
  serve = c.bed.spawn('dns', [process.execPath, `--inspect=127.0.0.1:${INSPECT_PORT}`, path.join(REPO, 'dist/cli/main.js'), 'serve', '--config', c.config]);
  client = c.bed.spawn('client', [process.execPath, path.join(REPO, 'test/netns/dns-client.mjs'), DNS, 'www.example.com', '50', String(runMs)]);
  const last = () => parseClient(client.output()).answers.pop();
  await waitFor(() => last()?.vips.length === 3, 15_000, 'every VIP in the answer', () => serve.output().slice(-3000));
}, 60_000);

afterAll(async () => {
  if (dnsperf?.pid) try { process.kill(-dnsperf.pid, 'SIGKILL'); } catch { /* gone */ }
  await c?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('soak: steady DNS load while the zone reloads, health targets flap and agents crash', () => {
  test(`${SECONDS} s at ${QPS} q/s: nothing lost, no SERVFAIL, no wrong answer beyond the window, no growth`, async () => {
    const servePid = nodePid(serve.child.pid!);
    const events: { t: number; kind: string; node?: string; detail?: string }[] = [];
    const edits: { k: number; kind: BrokenKind | 'good'; serial: number; expect: number; statusSerial: number | null | undefined; lastResult: string | undefined; dnsSerial: number | undefined; ok: boolean }[] = [];
    const memory: { t: number; rssMiB: number }[] = [];
    const flapping = new Set<string>(), killed = new Set<string>();
    let flaps = 0, kills = 0, agentStartsRefused = 0;

    const heapStart = await heapAfterGcMiB();
    const udp0 = { dns: await udpCounters('dns'), client: await udpCounters('client') };
    await inspect('lag-start');
    // When the kernel drops a datagram for serve (its receive buffer full), and how many.
    const overflows = c.bed.spawn('dns', [process.execPath, '-e', RCVBUF_WATCH, String((SECONDS + 5) * 1000)]);
    const rssStart = rssMiB(servePid);
    const cpu0 = bedCpuSeconds(), serveCpu0 = cpuOf(servePid);
    const t0 = Date.now();
    const until = t0 + SECONDS * 1000;
    const perf = runDnsperf(path.join(tmp, 'queries.txt'));

    const heapSamples: { t: number; heapMiB: number }[] = [];
    const sampleMemory = async () => {
      let nextHeap = t0 + HEAP_EVERY_MS;
      while (Date.now() < until) {
        memory.push({ t: Date.now() - t0, rssMiB: rssMiB(servePid) });
        if (HEAP_EVERY_MS > 0 && Date.now() >= nextHeap && Date.now() + 5000 < until) {
          nextHeap += HEAP_EVERY_MS;
          heapSamples.push({ t: Date.now() - t0, heapMiB: await heapAfterGcMiB() });
        }
        await sleep(1000);
      }
    };

    // Every 3 s a new zone version and SIGHUP; every 3rd one broken. 600 ms later: what /status and DNS say.
    let lastGood = 100;
    const editLoop = async () => {
      await sleep(1500);
      for (let k = 1; Date.now() + 1500 < until; k++) {
        const started = Date.now();
        const kind = k % 3 === 0 ? BROKEN_KINDS[(k / 3 - 1) % BROKEN_KINDS.length]! : 'good';
        const serial = 100 + k;
        writeZone(zoneText(VIPS, serial, k, kind === 'good' ? undefined : kind));
        serve.child.kill('SIGHUP');
        events.push({ t: Date.now(), kind: 'edit', detail: `${kind} serial ${serial}` });
        if (kind === 'good') lastGood = serial;
        await sleep(600);
        const [doc, dnsSerial] = await Promise.all([serveStatus().catch(() => undefined), servedSerial()]);
        const z = doc?.zones.find((x) => x.origin === 'example.com.');
        const wantResult = kind === 'good' ? 'ok' : 'error';
        edits.push({ k, kind, serial, expect: lastGood, statusSerial: z?.serial, lastResult: z?.lastResult, dnsSerial, ok: z?.serial === lastGood && z?.lastResult === wantResult && dnsSerial === lastGood });
        await sleep(Math.max(0, EDIT_EVERY_MS - (Date.now() - started)));
      }
    };

    // A health target flaps: one node's web server stops for 3 s, then 3 s up; the next node after.
    const flapLoop = async () => {
      await sleep(3000);
      for (let i = 0; Date.now() + FLAP_DOWN_MS + FLAP_UP_MS < until; i++) {
        const node = [0, 1, 2].map((d) => NODES[(i + d) % NODES.length]!).find((n) => !killed.has(n));
        if (!node) { await sleep(500); continue; }
        flapping.add(node);
        events.push({ t: Date.now(), kind: 'web-stop', node });
        await c.web.get(node)!.stop();
        flaps++;
        await sleep(FLAP_DOWN_MS);
        c.startWeb(node);
        events.push({ t: Date.now(), kind: 'web-start', node });
        flapping.delete(node);
        await sleep(FLAP_UP_MS);
      }
    };

    // An agent crashes (SIGKILL, link down as a dead machine), comes back 2 s later; one every KILL_EVERY_S.
    const recoveryMs = LINK_DOWN_MS + DEFAULT_MATURE_MS + 4000;
    const killLoop = async () => {
      for (let n = 0, at = t0 + 15_000; at + recoveryMs < until; n++, at += KILL_EVERY_S * 1000) {
        await sleep(Math.max(0, at - Date.now()));
        const node = [2, 0, 1].map((d) => NODES[(n + d) % NODES.length]!).find((x) => !flapping.has(x))!;
        killed.add(node);
        c.agents.get(node)!.child.kill('SIGKILL');
        c.bed.link(node, false);
        events.push({ t: Date.now(), kind: 'kill', node });
        kills++;
        await sleep(LINK_DOWN_MS);
        c.bed.link(node, true);
        // As systemd's Restart=on-failure (RestartSec=1) would: an agent refuses to start while the
        // zone file is broken (every 3rd edit), so it is started again until it stays up.
        for (let attempt = 0; ; attempt++) {
          const agent = c.startAgent(node);
          events.push({ t: Date.now(), kind: 'agent-start', node, detail: attempt ? `attempt ${attempt + 1}` : undefined });
          const code = await Promise.race([agent.exited, sleep(2500).then(() => 'running' as const)]);
          if (code === 'running' || Date.now() > until) break;
          agentStartsRefused++;
          events.push({ t: Date.now(), kind: 'agent-exit', node, detail: `code ${code}: ${agent.output().split('\n').find((l) => l.startsWith('roamdns agent:')) ?? ''}` });
          await sleep(1000);
        }
        await sleep(DEFAULT_MATURE_MS); // no flap on it before it has its VIPs back
        killed.delete(node);
      }
    };

    let rssWarm = NaN;
    const warm = (async () => { await sleep(Math.min(10_000, SECONDS * 150)); rssWarm = rssMiB(servePid); })();
    const maybe = (name: string, loop: () => Promise<void>) => (FAULTS.has(name) ? loop() : Promise.resolve());
    const [run] = await Promise.all([perf, sampleMemory(), maybe('edits', editLoop), maybe('flaps', flapLoop), maybe('kills', killLoop), warm]);
    const loadEnd = Date.now();
    const rssEnd = rssMiB(servePid);
    const cpuSeconds = bedCpuSeconds() - cpu0, serveCpuSeconds = cpuOf(servePid) - serveCpu0;

    // Quiet: no load, no faults. Then serve must answer every VIP again, and the last good zone.
    await sleep(5000);
    const rssQuiet = rssMiB(servePid);
    const heapEnd = await heapAfterGcMiB();
    const rssAfterGc = rssMiB(servePid);
    const stalls = (await inspect('lag-read') as [number, number, number][]).filter(([t]) => t >= t0 && t <= loadEnd);
    const udp = { dns: diff(udp0.dns, await udpCounters('dns')), client: diff(udp0.client, await udpCounters('client')) };
    const lastAnswer = () => parseClient(client.output()).answers.pop();
    await waitFor(() => lastAnswer()?.vips.length === 3 && lastAnswer()?.ttl === 60, 15_000, 'every VIP back in the answer', () => JSON.stringify(lastAnswer()));
    const finalSerial = await servedSerial();
    const metricsText = await serveMetrics();
    const analysedTo = Date.now();

    // Wrong answers: from the client's answers and the poller's view of which VIP was served when.
    const polls = parsePolls(poller.output()).filter((p) => p.t >= t0 - 2000);
    const stretches = unservedStretches(polls, VIPS).filter((s) => s.end === undefined || s.end >= t0);
    const { answers, fetches } = parseClient(client.output());
    const during = answers.filter((a) => a.t >= t0 && a.t <= analysedTo);
    const judged = judgeAnswers(during, stretches, events.filter((e) => e.kind === 'kill').map((e) => e.t), WINDOWS, { vips: VIPS, ttl: DEGRADED_TTL });
    const rel = (t: number) => ((t - t0) / 1000).toFixed(2);

    const brokenEdits = edits.filter((e) => e.kind !== 'good').length;
    const figures = {
      finishedAt: new Date().toISOString(),
      seconds: SECONDS, targetQps: QPS,
      dnsperf: { ...run.summary, exitCode: run.code },
      checker: {
        answers: judged.answers,
        timeouts: during.filter((a) => a.rcode === 'timeout').length,
        notNoerror: during.filter((a) => a.rcode !== '0' && a.rcode !== 'timeout').length,
        failOpenAnswers: judged.failOpen,
        failOpenUnexcused: judged.failOpenUnexcused,
        answersWithUnservedVip: judged.withUnserved,
        withinWindow: judged.withinWindow,
        wrong: judged.wrong.length,
        windowMs: { healthDetection: WINDOWS.detectionMs, failover: WINDOWS.failoverMs, rise: WINDOWS.riseMs, slack: WINDOWS.slackMs },
        maxPublishedUnservedMs: judged.maxPublishedUnservedMs,
        unservedStretches: judged.stretches,
        fetchesAfterAnswerFailed: fetches.filter((f) => f.t >= t0 && !f.ok).length,
        fetches: fetches.filter((f) => f.t >= t0).length,
        polls: polls.filter((p) => p.t >= t0).length,
      },
      memoryMiB: {
        start: +rssStart.toFixed(1), warm: +rssWarm.toFixed(1), end: +rssEnd.toFixed(1), afterQuiet: +rssQuiet.toFixed(1),
        peak: +Math.max(...memory.map((m) => m.rssMiB), rssEnd).toFixed(1), afterGc: +rssAfterGc.toFixed(1),
        heapAfterGcStart: +heapStart.toFixed(2), heapAfterGcEnd: +heapEnd.toFixed(2),
        heapAfterGcDuring: heapSamples.map((h) => `${(h.t / 1000).toFixed(0)}s ${h.heapMiB.toFixed(2)}`),
      },
      udpCounters: udp,
      receiveBufferOverflows: parseOverflows(overflows.output()).map(([t, n]) => `${rel(t)} ${n}`),
      eventLoopStalls: {
        over20ms: stalls.length, maxMs: Math.max(0, ...stalls.map(([, ms]) => ms)),
        longest: [...stalls].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([t, ms, cpu]) => `${rel(t)} ${ms} ms (CPU ${cpu} ms)`),
      },
      reloads: {
        edits: edits.length, good: edits.length - brokenEdits, broken: brokenEdits,
        checkFailures: edits.filter((e) => !e.ok).length,
        metricOk: metric(metricsText, 'roamdns_zone_reloads_total', { result: 'ok', zone: 'example.com.' }),
        metricError: metric(metricsText, 'roamdns_zone_reloads_total', { result: 'error', zone: 'example.com.' }),
        finalSerial, lastGood,
      },
      flaps, agentKills: kills, agentStartsRefused,
      serve: {
        servfail: metric(metricsText, 'roamdns_dns_queries_total', { rcode: 'SERVFAIL' }),
        internalErrors: metric(metricsText, 'roamdns_dns_internal_errors_total'),
        dropped: metric(metricsText, 'roamdns_dns_dropped_total'),
        udpQueries: metric(metricsText, 'roamdns_dns_queries_total', { transport: 'udp' }),
        vipStateChanges: metric(metricsText, 'roamdns_vip_state_changes_total'),
        cpuSeconds: +serveCpuSeconds.toFixed(1),
      },
      cpu: { bedSeconds: +cpuSeconds.toFixed(1), wallSeconds: +((loadEnd - t0) / 1000).toFixed(1), cores: +(cpuSeconds / ((loadEnd - t0) / 1000)).toFixed(2) },
      wrongAnswers: judged.wrong.slice(0, 20).map((w) => ({ at: rel(w.t), vip: w.vip, ageMs: w.ageMs, allowedMs: w.allowedMs, cause: w.cause, unserved: `${rel(w.stretch.onset)}..${w.stretch.end ? rel(w.stretch.end) : 'end'}`, reasons: w.stretch.reasons })),
      failedEditChecks: edits.filter((e) => !e.ok),
      events: events.map((e) => `${rel(e.t)} ${e.kind}${e.node ? ` ${e.node}` : ''}${e.detail ? ` ${e.detail}` : ''}`),
      memorySamples: memory.filter((_, i) => i % 5 === 0).map((m) => `${(m.t / 1000).toFixed(0)}s ${m.rssMiB.toFixed(1)}`),
    };
    writeFileSync(OUT, JSON.stringify(figures, null, 2) + '\n');
    if (KEEP) {
      mkdirSync(KEEP, { recursive: true });
      const keep: [string, string][] = [['poller', poller.output()], ['client', client.output()], ['serve', serve.output()], ['dnsperf', run.text],
        ...[...c.agents].map(([n, a]): [string, string] => [`agent-${n}`, a.output()])];
      for (const [name, text] of keep) writeFileSync(path.join(KEEP, `${name}.log`), text);
      writeFileSync(path.join(KEEP, 't0'), String(t0));
    }
    const s = run.summary;
    console.log([
      `soak: ${SECONDS} s at ${QPS} q/s (figures in ${OUT})`,
      `  dnsperf: sent ${s.sent}, answered ${s.completed}, lost ${s.lost}, rcodes ${JSON.stringify(s.rcodes)}, ${s.qps.toFixed(0)} q/s, latency mean ${s.meanLatencyMs.toFixed(3)} ms, max ${s.maxLatencyMs.toFixed(1)} ms`,
      `  checker: ${judged.answers} www answers, ${figures.checker.timeouts} timeouts (200 ms), ${judged.withUnserved} held a VIP unserved at that moment, ${judged.withinWindow} of them within the window, ${judged.wrong.length} wrong; ` +
        `${judged.failOpen} fail-open answers (every VIP, TTL ${DEGRADED_TTL}: when_all_down all, no VIP served)${judged.failOpenUnexcused ? `, ${judged.failOpenUnexcused} of them while a VIP was served` : ''}; ` +
        `longest published-while-unserved: ${judged.maxPublishedUnservedMs.other} ms after a service failure (window ${WINDOWS.detectionMs}+${WINDOWS.slackMs} ms), ${judged.maxPublishedUnservedMs.kill} ms after a node crash (window ${WINDOWS.failoverMs}+${WINDOWS.slackMs} ms)`,
      `  faults: ${edits.length} reloads (${brokenEdits} broken; metrics ok ${figures.reloads.metricOk}, error ${figures.reloads.metricError}; ${figures.reloads.checkFailures} failed checks), ${flaps} health flaps, ${kills} agent kills (${agentStartsRefused} restarts refused: zone file broken at that moment)`,
      `  memory (serve RSS MiB): start ${figures.memoryMiB.start}, warm ${figures.memoryMiB.warm}, end ${figures.memoryMiB.end}, after quiet ${figures.memoryMiB.afterQuiet}, after a forced GC ${figures.memoryMiB.afterGc}, peak ${figures.memoryMiB.peak}; ` +
        `V8 heap after a forced GC: start ${figures.memoryMiB.heapAfterGcStart}, during ${JSON.stringify(figures.memoryMiB.heapAfterGcDuring)}, end ${figures.memoryMiB.heapAfterGcEnd}`,
      `  UDP counters (kernel, during the run): dns ${JSON.stringify(udp.dns)}, client ${JSON.stringify(udp.client)}; receive buffer overflows at ${JSON.stringify(figures.receiveBufferOverflows)}`,
      `  serve's event loop: ${figures.eventLoopStalls.over20ms} stalls over 20 ms, longest ${figures.eventLoopStalls.maxMs} ms: ${figures.eventLoopStalls.longest.slice(0, 5).join(', ')}`,
      `  serve: SERVFAIL ${figures.serve.servfail}, internal errors ${figures.serve.internalErrors}, dropped ${figures.serve.dropped}, CPU ${figures.serve.cpuSeconds} s; whole bed ${figures.cpu.bedSeconds} CPU s in ${figures.cpu.wallSeconds} s (${figures.cpu.cores} cores)`,
      ...(judged.wrong.length ? ['  wrong answers:', ...figures.wrongAnswers.map((w) => `    ${JSON.stringify(w)}`)] : []),
      ...(figures.failedEditChecks.length ? ['  failed reload checks:', ...figures.failedEditChecks.map((e) => `    ${JSON.stringify(e)}`)] : []),
    ].join('\n'));

    const detail = JSON.stringify(figures, null, 1).slice(0, 6000);
    expect(run.code, `dnsperf exited ${run.code}:\n${run.text.slice(-2000)}`).toBe(0);
    expect(s.sent, `dnsperf could not keep its rate (${s.sent} sent)`).toBeGreaterThanOrEqual(0.9 * QPS * SECONDS);
    expect(s.lost, detail).toBe(0);
    expect(s.rcodes.SERVFAIL ?? 0, detail).toBe(0);
    expect(figures.serve.servfail + figures.serve.internalErrors, detail).toBe(0);
    expect(judged.wrong, detail).toEqual([]);
    expect(figures.checker.notNoerror, detail).toBe(0);
    expect(figures.failedEditChecks, detail).toEqual([]);
    expect(brokenEdits).toBeGreaterThan(0);
    expect(figures.reloads.metricError, 'every broken reload counted').toBeGreaterThanOrEqual(brokenEdits);
    expect(finalSerial).toBe(lastGood);
    expect(flaps).toBeGreaterThan(0);
    expect(kills).toBeGreaterThan(0);
    expect(rssAfterGc - rssStart, `serve's RSS grew from ${rssStart.toFixed(1)} to ${rssAfterGc.toFixed(1)} MiB (after a forced GC)`).toBeLessThan(RSS_NOISE_MIB);
    expect(heapEnd - heapStart, `serve's V8 heap grew from ${heapStart.toFixed(2)} to ${heapEnd.toFixed(2)} MiB (after a forced GC)`).toBeLessThan(HEAP_NOISE_MIB);
    expect(serve.child.exitCode).toBeNull();
  }, (SECONDS + 120) * 1000);
});
