// @ts-check
// The servers under test, each started on 127.0.0.1 at its own port, pinned to the server core,
// serving the benchmark zone from a throw-away directory. Every config keeps the server
// authoritative-only (no recursion, no NOTIFY, no IPv6 listener) and, for the native servers,
// asks for minimal responses so that every server sends the answer section only: what differs
// between them is the work per query, not the size of the reply.
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, startProcess, treeMemory, waitForAnswer } from './proc.mjs';
import { ORIGIN, WWW_VIPS } from './zone-gen.mjs';

/**
 * @typedef {import('./zone-gen.mjs').ZoneShape} ZoneShape
 * @typedef {import('./proc.mjs').Proc} Proc
 * @typedef {{ repoRoot: string, dir: string, zoneFile: string, shape: ZoneShape, serverCpus: string, nice?: number }} StartContext
 * @typedef {{ port: number, proc: Proc, readyMs: number, memory: { pssMiB: number, rssMiB: number }, stop(): Promise<void> }} Running
 * @typedef {{ key: string, label: string, kind: 'roamdns' | 'native' | 'node', cpus?: string,
 *   start(ctx: StartContext): Promise<Running> }} System
 */

const q = (/** @type {string} */ s) => JSON.stringify(s);
/** The last record written to a zone: answering it means the whole file is loaded. */
const lastName = (/** @type {ZoneShape} */ s) => `alias${s.aliases - 1}.${ORIGIN}`;

/**
 * Starts a process in `dir`, waits for the zone's last name to answer, records readiness time
 * (spawn to first answer: zone load included) and the memory of its process tree.
 * @param {StartContext} ctx @param {string} label @param {number} port @param {string} cmd @param {string[]} args
 * @param {{ cpus?: string, timeoutMs?: number, extraReady?: () => Promise<void>, cleanup?: () => Promise<void> }} [opts]
 * @returns {Promise<Running>}
 */
async function launch(ctx, label, port, cmd, args, opts = {}) {
  const t0 = performance.now();
  const proc = startProcess(label, cmd, args, { cwd: ctx.dir, cpus: opts.cpus ?? ctx.serverCpus, nice: ctx.nice });
  const stop = async () => { await proc.stop(); await opts.cleanup?.(); };
  try {
    await waitForAnswer(proc, port, lastName(ctx.shape), 'A', opts.timeoutMs ?? 600_000);
    const readyMs = performance.now() - t0;
    await opts.extraReady?.();
    return { port, proc, readyMs, memory: treeMemory(proc.pid), stop };
  } catch (e) { await stop(); throw e; }
}

/**
 * roamdns serve; `pool` makes www health-managed (TCP probe of each loopback VIP, answered by a
 * listener this process opens), `workers` sets dns.workers when the config supports it.
 * @param {{ key: string, label: string, pool?: boolean, workers?: number, cpus?: string }} v
 * @returns {System}
 */
export function roamdns(v) {
  return {
    key: v.key, label: v.label, kind: 'roamdns', cpus: v.cpus,
    async start(ctx) {
      const [port, statusPort, probePort] = [await freePort(), await freePort(), await freePort()];
      /** @type {net.Server[]} */
      const listeners = [];
      const lines = [
        `zones: [${q(ctx.zoneFile)}]`,
        `dns: { listen: [127.0.0.1:${port}]${v.workers ? `, workers: ${v.workers}` : ''} }`,
        `status: { listen: 127.0.0.1:${statusPort} }`,
        'log: { level: warn }',
      ];
      if (v.pool) {
        for (const vip of WWW_VIPS) {
          const l = net.createServer((s) => s.destroy());
          listeners.push(l);
          await new Promise((resolve, reject) => { l.once('error', reject); l.listen(probePort, vip, () => resolve(undefined)); });
        }
        lines.push('pools:', `  www.${ORIGIN}:`, `    check: { tcp: { port: ${probePort} }, interval: 1s, timeout: 500ms }`);
      }
      const config = path.join(ctx.dir, `${v.key}.yaml`);
      await writeFile(config, lines.join('\n') + '\n');
      const closeListeners = async () => { for (const l of listeners) await new Promise((r) => l.close(() => r(undefined))); };
      // With a pool, ready means every VIP is up and served (probes pass `rise` times).
      const extraReady = v.pool ? () => waitForServedVips(statusPort, 30_000) : undefined;
      return launch(ctx, v.label, port, process.execPath, [path.join(ctx.repoRoot, 'dist/cli/main.js'), 'serve', '--config', config],
        { cpus: v.cpus, extraReady, cleanup: closeListeners });
    },
  };
}

async function waitForServedVips(/** @type {number} */ statusPort, /** @type {number} */ timeoutMs) {
  const t0 = performance.now();
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${statusPort}/status`);
      const doc = /** @type {any} */ (await res.json());
      const vips = doc?.pools?.[`www.${ORIGIN}`]?.vips ?? [];
      if (vips.length === WWW_VIPS.length && vips.every((/** @type {any} */ x) => x.served === true)) return;
    } catch { /* not yet */ }
    if (performance.now() - t0 > timeoutMs) throw new Error(`roamdns pool: VIPs not served within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** NSD 4 in the foreground: `serverCount` server processes (1 unless said), no database file, no privilege drop. */
export const nsd = (/** @type {string} */ key, /** @type {string} */ label, serverCount = 1) => /** @type {System} */ ({
  key, label, kind: 'native',
  async start(ctx) {
    const port = await freePort();
    const dir = path.join(ctx.dir, key);
    await mkdir(dir, { recursive: true });
    const conf = [
      'server:', `    ip-address: 127.0.0.1@${port}`, `    server-count: ${serverCount}`, '    do-ip6: no',
      '    minimal-responses: yes', '    rrl-ratelimit: 0', '    rrl-whitelist-ratelimit: 0', '    verbosity: 1', `    zonesdir: ${q(dir)}`, '    database: ""',
      '    username: ""', '    chroot: ""', `    pidfile: ${q(path.join(dir, 'nsd.pid'))}`,
      `    xfrdfile: ${q(path.join(dir, 'xfrd.state'))}`, `    zonelistfile: ${q(path.join(dir, 'zone.list'))}`,
      'remote-control:', '    control-enable: no',
      'zone:', `    name: ${q(ORIGIN)}`, `    zonefile: ${q(ctx.zoneFile)}`,
    ].join('\n') + '\n';
    await writeFile(path.join(dir, 'nsd.conf'), conf);
    return launch(ctx, label, port, '/usr/sbin/nsd', ['-d', '-c', path.join(dir, 'nsd.conf')]);
  },
});

/** The Knot config for a zone (also used by `knotc zone-check`). */
export function knotConfig(/** @type {string} */ dir, /** @type {number} */ port, /** @type {string} */ zoneFile) {
  return [
    'server:', `    rundir: ${q(dir)}`, `    listen: 127.0.0.1@${port}`,
    '    udp-workers: 1', '    tcp-workers: 1', '    background-workers: 1',
    'log:', '  - target: stderr', '    any: warning',
    'database:', `    storage: ${q(dir)}`,
    'template:', '  - id: default', `    storage: ${q(dir)}`,
    '    zonefile-sync: -1', '    journal-content: none', '    semantic-checks: off',
    'zone:', `  - domain: ${q(ORIGIN)}`, `    file: ${q(zoneFile)}`,
  ].join('\n') + '\n';
}

/** Knot DNS: one UDP worker (one core), zone from the file, no journal. */
export const knot = (/** @type {string} */ key, /** @type {string} */ label) => /** @type {System} */ ({
  key, label, kind: 'native',
  async start(ctx) {
    const port = await freePort();
    const dir = path.join(ctx.dir, key);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'knot.conf'), knotConfig(dir, port, ctx.zoneFile));
    return launch(ctx, label, port, '/usr/sbin/knotd', ['-c', path.join(dir, 'knot.conf')]);
  },
});

/** BIND 9 in the foreground with one worker thread (`-n 1`), as in test/helpers/reference.ts. */
export const bind = (/** @type {string} */ key, /** @type {string} */ label) => /** @type {System} */ ({
  key, label, kind: 'native',
  async start(ctx) {
    const port = await freePort();
    const dir = path.join(ctx.dir, key);
    await mkdir(dir, { recursive: true });
    const conf = [
      'options {', `  directory ${q(dir)};`, `  pid-file ${q(path.join(dir, 'named.pid'))};`,
      `  session-keyfile ${q(path.join(dir, 'session.key'))};`, `  managed-keys-directory ${q(dir)};`,
      `  listen-on port ${port} { 127.0.0.1; };`, '  listen-on-v6 { none; };', '  recursion no;',
      '  allow-query { any; };', '  notify no;', '  dnssec-validation no;', '  minimal-responses yes;',
      '  querylog no;', '};', 'controls { };',
      `zone ${q(ORIGIN + '.')} { type primary; file ${q(ctx.zoneFile)}; };`,
    ].join('\n') + '\n';
    await writeFile(path.join(dir, 'named.conf'), conf);
    return launch(ctx, label, port, '/usr/sbin/named', ['-g', '-4', '-n', '1', '-c', path.join(dir, 'named.conf')]);
  },
});

/** A Node script from bench/dns/servers (the naive dns2 server or the ceiling). */
export const nodeScript = (/** @type {string} */ key, /** @type {string} */ label, /** @type {string} */ script, /** @type {boolean} */ withZone) => /** @type {System} */ ({
  key, label, kind: 'node',
  async start(ctx) {
    const port = await freePort();
    const args = [path.join(ctx.repoRoot, 'bench/dns/servers', script), String(port), ...(withZone ? [ctx.zoneFile] : [])];
    return launch(ctx, label, port, process.execPath, args);
  },
});
