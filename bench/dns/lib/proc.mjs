// @ts-check
// Processes, ports and probes for the benchmark: every server runs in its own process group so
// that one kill reaches its forks (NSD forks a server and xfrd), every group is remembered so an
// exit or a signal kills what is left, and readiness is a real DNS answer on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';

const HOST = '127.0.0.1';

/** @typedef {{ label: string, pid: number, exited: boolean, exitCode: number | null, output(): string, stop(): Promise<void> }} Proc */

/** Process groups still alive; killed on exit, whatever the cause. */
const live = new Set(/** @type {number[]} */ ([]));

/** Remembers a process group leader (spawned detached) for killAllSync; forget it once it exited. */
export const remember = (/** @type {number} */ pgid) => { live.add(pgid); };
export const forget = (/** @type {number} */ pgid) => { live.delete(pgid); };

/** Kills every remembered process group at once (for exit handlers, which cannot wait). */
export function killAllSync() {
  for (const pgid of live) { try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ } }
  live.clear();
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The command line that runs `cmd` pinned to `cpus` (taskset) and, when asked, at niceness `nice`.
 * @param {string} cmd @param {string[]} args @param {string | undefined} cpus @param {number | undefined} nice
 * @returns {[string, string[]]}
 */
export function pinned(cmd, args, cpus, nice) {
  const argv = cpus ? ['taskset', '-c', cpus, cmd, ...args] : [cmd, ...args];
  if (nice !== undefined) argv.unshift('nice', '-n', String(nice));
  return [/** @type {string} */ (argv[0]), argv.slice(1)];
}

/**
 * Starts `cmd` in its own process group, pinned with taskset when `cpus` is given.
 * @param {string} label @param {string} cmd @param {string[]} args
 * @param {{ cwd?: string, cpus?: string, nice?: number, env?: NodeJS.ProcessEnv }} [opts]
 * @returns {Proc}
 */
export function startProcess(label, cmd, args, opts = {}) {
  const [file, argv] = pinned(cmd, args, opts.cpus, opts.nice);
  const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${label}: cannot start ${cmd}`);
  const pid = child.pid;
  live.add(pid);
  let out = '';
  const keep = (/** @type {Buffer} */ b) => { out = (out + b.toString()).slice(-20000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  /** @type {Proc} */
  const proc = {
    label, pid, exited: false, exitCode: null,
    output: () => out,
    async stop() {
      if (!live.has(pid)) return;
      try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 50 && !proc.exited; i++) await sleep(100);
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      live.delete(pid);
    },
  };
  child.on('exit', (code) => { proc.exited = true; proc.exitCode = code; });
  return proc;
}

/** A port free for both UDP and TCP on 127.0.0.1 (the servers listen on both). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, HOST, () => { const a = /** @type {net.AddressInfo} */ (s.address()); s.close(() => resolve(a.port)); });
    });
    const ok = await new Promise((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, HOST, () => u.close(() => resolve(true)));
    });
    if (ok) return /** @type {number} */ (port);
  }
}

const TYPES = /** @type {Record<string, number>} */ ({ A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28 });

/** @typedef {{ rcode: number, aa: boolean, answers: number, authority: number, additional: number, size: number }} Reply */

/**
 * One UDP query (no EDNS, RD set like dnsperf's); resolves null on timeout.
 * @param {number} port @param {string} name @param {string} type @param {number} [timeoutMs]
 * @returns {Promise<Reply | null>}
 */
export function query(port, name, type, timeoutMs = 500) {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const id = Math.floor(Math.random() * 0x10000);
  const msg = Buffer.concat([
    Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0, 0, /** @type {number} */ (TYPES[type]), 0, 1]),
  ]);
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const done = (/** @type {Reply | null} */ r) => { clearTimeout(timer); sock.close(); resolve(r); };
    const timer = setTimeout(() => done(null), timeoutMs);
    sock.on('error', () => done(null));
    sock.on('message', (m) => {
      if (m.length < 12 || m.readUInt16BE(0) !== id) return;
      done({ rcode: m[3] & 15, aa: (m[2] & 4) !== 0, answers: m.readUInt16BE(6), authority: m.readUInt16BE(8), additional: m.readUInt16BE(10), size: m.length });
    });
    sock.send(msg, port, HOST);
  });
}

/**
 * Polls until `name type` has a NOERROR answer with records; fails fast when the process dies.
 * Returns the milliseconds waited.
 * @param {Proc} proc @param {number} port @param {string} name @param {string} type @param {number} timeoutMs
 */
export async function waitForAnswer(proc, port, name, type, timeoutMs) {
  const t0 = performance.now();
  for (;;) {
    if (proc.exited) throw new Error(`${proc.label} exited (code ${proc.exitCode}) before answering:\n${proc.output().slice(-3000)}`);
    const r = await query(port, name, type, 300);
    if (r && r.rcode === 0 && r.answers > 0) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${proc.label}: no answer for ${name} ${type} within ${timeoutMs} ms:\n${proc.output().slice(-3000)}`);
    await sleep(r ? 100 : 50);
  }
}

/** Every pid in the tree rooted at `pid` (from /proc's parent links). */
export function processTree(/** @type {number} */ pid) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch { /* exited meanwhile */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(/** @type {number} */ (out[i])) ?? []));
  return out;
}

/**
 * Memory of a server's process tree in MiB: PSS (shared pages counted once, so NSD's forked
 * children do not double its zone) and the sum of RSS, from /proc/PID/smaps_rollup.
 * @param {number} pid
 */
export function treeMemory(pid) {
  let pssKb = 0;
  let rssKb = 0;
  for (const p of processTree(pid)) {
    try {
      const text = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
      rssKb += Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    } catch { /* exited meanwhile */ }
  }
  return { pssMiB: pssKb / 1024, rssMiB: rssKb / 1024 };
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on Linux). */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU seconds (user + system) used so far by the live processes of a server's tree, all threads
 * included. The difference over a run is the CPU time the server really got, whatever the
 * neighbours on a shared machine took.
 * @param {number} pid
 */
export function treeCpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15: utime, stime
    } catch { /* exited meanwhile */ }
  }
  return ticks / TICKS;
}

/**
 * Runs a command under `/usr/bin/time -v`: wall time and maximum resident set size.
 * @param {string} cmd @param {string[]} args @param {number} timeoutMs
 */
export function timeCommand(cmd, args, timeoutMs) {
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const err = r.stderr ?? '';
  const wall = /Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)/.exec(err);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  const maxRssMiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? NaN) / 1024;
  const tail = (r.stdout + err).split('\n').filter((l) => l && !/^\t/.test(l)).slice(-3).join(' | ');
  return { ok: r.status === 0, seconds, maxRssMiB, tail };
}
