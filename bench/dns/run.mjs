#!/usr/bin/env node
// @ts-check
// The DNS benchmark of issue 5: roamdns beside NSD, Knot, BIND, a naive dns2 server and Node's
// ceiling, on the same zones and query mix, in the same run. Every server is pinned to one core,
// dnsperf to the other; rounds are interleaved (A, B, C, … then again) and medians reported.
//
//   node bench/dns/run.mjs [--quick] [--rounds N] [--seconds N] [--latency-seconds N] [--rate N]
//                          [--clients N] [--outstanding N] [--only key,key] [--no-large] [--no-build]
//                          [--nice N] [--out DIR] | --report results/DATE.json
//
// Traffic goes to 127.0.0.1 only. Every server started is killed at the end, on failure and on
// Ctrl-C; the temp directory is removed. See README.md for what is measured and how.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { latency, throughput } from './lib/dnsperf.mjs';
import { killAllSync, query, timeCommand, treeCpuSeconds } from './lib/proc.mjs';
import { machine, markdown, summarize } from './lib/report.mjs';
import { bind, knot, knotConfig, nodeScript, nsd, roamdns } from './lib/systems.mjs';
import { exampleZoneHead, LARGE, MIX, ORIGIN, recordCount, SMALL, writeQueries, writeZone } from './lib/zone-gen.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'latency-seconds': { type: 'string' },
    rate: { type: 'string', default: '5000' },
    clients: { type: 'string', default: '8' },
    outstanding: { type: 'string', default: '100' },
    only: { type: 'string' },
    'no-large': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(HERE, 'results') },
    nice: { type: 'string' },
    report: { type: 'string' },
  },
});

/** A bounded number option (an integer unless `fractional`): benchmarks must end. */
function numOpt(/** @type {string | undefined} */ v, /** @type {number} */ dflt, /** @type {number} */ min, /** @type {number} */ max, /** @type {string} */ name, fractional = false) {
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isFinite(n) || (!fractional && !Number.isInteger(n)) || n < min || n > max) throw new Error(`--${name} must be ${fractional ? 'a number' : 'an integer'} in ${min}..${max}`);
  return n;
}

const QUICK = opt.quick;
const ROUNDS = numOpt(opt.rounds, 3, 1, 9, 'rounds');
const SECONDS = numOpt(opt.seconds, QUICK ? 1.5 : 10, 0.5, 120, 'seconds', true);
const LAT_SECONDS = numOpt(opt['latency-seconds'], QUICK ? 1.5 : 8, 0.5, 120, 'latency-seconds', true);
const WARMUP_SECONDS = QUICK ? 0.5 : 1;
const RATE = numOpt(opt.rate, 5000, 100, 100_000, 'rate');
const LOAD = { clients: numOpt(opt.clients, 8, 1, 256, 'clients'), outstanding: numOpt(opt.outstanding, 100, 1, 10_000, 'outstanding'), timeoutS: 2 };
// Opt-in only: a negative niceness takes the cores from whatever else runs on a shared machine.
const NICE = opt.nice === undefined ? undefined : numOpt(opt.nice, 0, -20, 19, 'nice');
const WITH_LARGE = !QUICK && !opt['no-large'];
const ONLY = opt.only?.split(',').map((s) => s.trim()).filter(Boolean);
const [SERVER_CPU, CLIENT_CPU] = os.availableParallelism() >= 2 ? ['0', '1'] : ['0', '0'];
const log = (/** @type {string} */ msg) => process.stderr.write(`[bench/dns] ${msg}\n`);

/** Fails early, with the package to install, when a tool is missing. */
function checkTools() {
  const tools = [['dnsperf', 'dnsperf'], ['/usr/sbin/nsd', 'nsd'], ['/usr/sbin/knotd', 'knot'], ['/usr/sbin/named', 'bind9'], ['taskset', 'util-linux'], ['/usr/bin/time', 'time']];
  const missing = tools.filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0).map(([, pkg]) => pkg);
  if (missing.length) throw new Error(`missing tools; install with: apt-get install ${missing.join(' ')}`);
}

/** Does this roamdns accept dns.workers? Asked of its own config parser, so it follows the code. */
async function supportsWorkers() {
  const { parseConfig } = await import(pathToFileURL(path.join(REPO, 'dist/cli/config.js')).href);
  try { parseConfig('dns: { workers: 2 }\n', 'probe.yaml'); return true; } catch { return false; }
}
/** @type {boolean} */
let WORKERS = false;

/** The systems of this run, in round order; large-zone entries last. */
async function plan() {
  const one = WORKERS ? 1 : undefined;
  const small = [
    nodeScript('ceiling', 'Node ceiling (node:dgram, prebuilt answer)', 'ceiling.mjs', false),
    // One worker stated outright when the option exists (its default is the number of cores).
    roamdns({ key: 'roamdns', label: 'roamdns', workers: one }),
    roamdns({ key: 'roamdns-pool', label: 'roamdns, www health-managed', pool: true, workers: one }),
    ...(WORKERS && SERVER_CPU !== CLIENT_CPU ? [roamdns({ key: 'roamdns-w2', label: 'roamdns, dns.workers 2 (cores 0-1, shared with dnsperf)', workers: 2, cpus: `${SERVER_CPU},${CLIENT_CPU}` })] : []),
    nsd('nsd', 'NSD'), knot('knot', 'Knot'), bind('bind', 'BIND'),
    nodeScript('dns2', 'naive dns2', 'naive-dns2.mjs', true),
  ].map((system) => ({ system, shape: SMALL }));
  const large = [roamdns({ key: 'roamdns-1m', label: 'roamdns', workers: one }), nsd('nsd-1m', 'NSD'), knot('knot-1m', 'Knot')].map((system) => ({ system, shape: LARGE }));
  return [...small, ...(WITH_LARGE ? large : [])].filter((p) => !ONLY || ONLY.includes(p.system.key));
}

/** One representative query per kind in the mix: rcode and answer count every server must give. */
const SANITY = [
  { name: `www.${ORIGIN}`, type: 'A', rcode: 0, answers: 2 },
  { name: `host1.${ORIGIN}`, type: 'A', rcode: 0, answers: 1 },
  { name: `host0.${ORIGIN}`, type: 'AAAA', rcode: 0, answers: 1 },
  { name: `nx-sanity.${ORIGIN}`, type: 'A', rcode: 3, answers: 0 },
  { name: `alias0.${ORIGIN}`, type: 'A', rcode: 0, answers: 2 },
  { name: ORIGIN, type: 'SOA', rcode: 0, answers: 1 },
];

async function sanity(/** @type {number} */ port) {
  /** @type {string[]} */
  const problems = [];
  for (const s of SANITY) {
    const r = await query(port, s.name, s.type, 1000);
    if (!r) problems.push(`no answer to ${s.name} ${s.type}`);
    else if (r.rcode !== s.rcode || r.answers !== s.answers || !r.aa) {
      problems.push(`${s.name} ${s.type}: rcode ${r.rcode}, ${r.answers} answers, aa ${r.aa} (expected rcode ${s.rcode}, ${s.answers} answers, aa)`);
    }
  }
  return problems;
}

/** Zone checkers on the 1M zone: how long they take and how much memory, as the issue asks. */
function zoneChecks(/** @type {string} */ dir, /** @type {string} */ zoneFile) {
  const knotDir = path.join(dir, 'knotc');
  mkdirSync(knotDir, { recursive: true });
  writeFileSync(path.join(knotDir, 'knot.conf'), knotConfig(knotDir, 1, zoneFile)); // never started: port unused
  const runs = [
    { tool: 'nsd-checkzone', cmd: '/usr/sbin/nsd-checkzone', args: [ORIGIN, zoneFile] },
    { tool: 'knotc zone-check', cmd: '/usr/sbin/knotc', args: ['-c', path.join(knotDir, 'knot.conf'), 'zone-check', ORIGIN] },
    { tool: 'named-checkzone', cmd: 'named-checkzone', args: [ORIGIN, zoneFile] },
    { tool: 'roamdns zone-check', cmd: process.execPath, args: [path.join(REPO, 'dist/cli/main.js'), 'zone-check', zoneFile] },
  ];
  return runs.map((r) => {
    log(`zone check: ${r.tool}`);
    const t = timeCommand(r.cmd, r.args, 300_000);
    return { tool: r.tool, zone: '1M', seconds: t.seconds, maxRssMiB: t.maxRssMiB, ok: t.ok, note: t.tail };
  });
}

/** Saturating run and fixed-rate run of one server; CPU time of the server tree around the first. */
async function measure(/** @type {import('./lib/systems.mjs').Running} */ running, /** @type {string} */ queryFile) {
  const target = { port: running.port, queryFile, cpus: CLIENT_CPU, nice: NICE };
  const cpu0 = treeCpuSeconds(running.proc.pid);
  const t0 = performance.now();
  const tp = await throughput({ ...target, seconds: SECONDS }, LOAD);
  const cpuSeconds = treeCpuSeconds(running.proc.pid) - cpu0;
  const wallS = (performance.now() - t0) / 1000;
  await sleep(100);
  const lat = await latency({ ...target, seconds: LAT_SECONDS }, RATE);
  await sleep(100);
  return {
    throughput: { ...tp, cpuSeconds, cpuPercent: (100 * cpuSeconds) / wallS, perCpuSecond: cpuSeconds > 0 ? tp.completed / cpuSeconds : NaN },
    latency: lat,
  };
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The order of one round: each 1M entry right after its small-zone counterpart (`roamdns-1m`
 * after `roamdns`), so the two runs a ratio compares are next to each other in time (the
 * machine's speed drifts over minutes); every other round backwards, so drift within a round
 * favours neither side of a pair.
 * @template {{ entry: { key: string } }} T
 * @param {T[]} live @param {number} round
 */
function measuringOrder(live, round) {
  /** @type {T[]} */
  const order = [];
  for (const l of live) {
    if (l.entry.key.endsWith('-1m') && live.some((x) => `${x.entry.key}-1m` === l.entry.key)) continue;
    order.push(l);
    const big = live.find((x) => x.entry.key === `${l.entry.key}-1m`);
    if (big) order.push(big);
  }
  return round % 2 ? order : order.reverse();
}

/** --report FILE.json: renders a saved run again (after a change to the report), no measuring. */
function rerender(/** @type {string} */ file) {
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const md = markdown(results);
  writeFileSync(file.replace(/\.json$/, '.md'), md);
  process.stdout.write(md);
}

async function main() {
  if (opt.report) return rerender(opt.report);
  checkTools();
  const started = new Date();
  if (!opt['no-build']) {
    log('building roamdns (npx tsc -p tsconfig.json)');
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`build failed (use --no-build to run the existing dist/):\n${b.stdout}${b.stderr}`);
  }
  WORKERS = await supportsWorkers();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-bench-dns-'));
  // Whatever ends the run, the servers die and the temp dir goes.
  process.on('exit', () => { killAllSync(); rmSync(dir, { recursive: true, force: true }); });
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.once(sig, () => { log(`${sig}: stopping`); process.exit(130); });

  const m = machine();
  const head = await exampleZoneHead(path.join(REPO, 'zones/example.com.zone'));
  /** @type {Record<string, { zoneFile: string, queryFile: string, records: number }>} */
  const zones = {};
  for (const shape of WITH_LARGE ? [SMALL, LARGE] : [SMALL]) {
    const zdir = path.join(dir, `zone-${shape.key}`);
    mkdirSync(zdir);
    const zoneFile = path.join(zdir, `${ORIGIN}.zone`); // roamdns takes the origin from the file name
    const queryFile = path.join(zdir, 'queries.txt');
    log(`writing the ${shape.key} zone (${recordCount(shape).toLocaleString('en-US')} generated records) and its queries`);
    await writeZone(zoneFile, head, shape);
    await writeQueries(queryFile, shape, shape === LARGE ? 200_000 : 100_000);
    zones[shape.key] = { zoneFile, queryFile, records: recordCount(shape) + 9 };
  }
  const checks = WITH_LARGE ? zoneChecks(dir, /** @type {{ zoneFile: string }} */ (zones.large).zoneFile) : [];

  /** @type {{ entry: import('./lib/report.mjs').Entry, running: import('./lib/systems.mjs').Running, queryFile: string }[]} */
  const live = [];
  try {
    for (const { system, shape } of await plan()) {
      const z = /** @type {{ zoneFile: string, queryFile: string, records: number }} */ (zones[shape.key]);
      log(`starting ${system.label} (${shape.key} zone)`);
      const running = await system.start({ repoRoot: REPO, dir, zoneFile: z.zoneFile, shape, serverCpus: SERVER_CPU, nice: NICE });
      const problems = system.key === 'ceiling' ? [] : await sanity(running.port);
      log(`  ready in ${(running.readyMs / 1000).toFixed(2)} s, PSS ${running.memory.pssMiB.toFixed(1)} MiB${problems.length ? `; answers differ: ${problems.join('; ')}` : ''}`);
      live.push({
        running, queryFile: z.queryFile,
        entry: { key: system.key, label: system.label, zone: shape === LARGE ? 'large' : 'small', kind: system.kind, readyS: running.readyMs / 1000,
          pssMiB: running.memory.pssMiB, rssMiB: running.memory.rssMiB, records: z.records, problems, rounds: [] },
      });
    }
    // Warm-up: JIT and caches, not recorded.
    for (const l of live) await throughput({ port: l.running.port, queryFile: l.queryFile, cpus: CLIENT_CPU, nice: NICE, seconds: WARMUP_SECONDS }, LOAD);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const l of measuringOrder(live, round)) {
        const r = await measure(l.running, l.queryFile);
        l.entry.rounds.push(r);
        const codes = Object.keys(r.throughput.rcodes).filter((c) => c !== 'NOERROR' && c !== 'NXDOMAIN');
        if (codes.length && !l.entry.problems.some((p) => p.startsWith('rcodes'))) l.entry.problems.push(`rcodes ${codes.join(', ')} in the replies`);
        log(`round ${round}/${ROUNDS} ${l.entry.label} (${l.entry.zone}): ${Math.round(r.throughput.qps)} q/s, ${Math.round(r.throughput.perCpuSecond)} q/CPU-s, ` +
          `server CPU ${Math.round(r.throughput.cpuPercent)} %, lost ${r.throughput.lost}; @${RATE}: mean ${r.latency.meanMs.toFixed(3)} ms, p99 ${r.latency.p99Ms.toFixed(3)} ms`);
      }
    }
  } finally {
    for (const l of live) await l.running.stop();
  }

  const entries = live.map((l) => l.entry);
  const notes = [];
  if (!WORKERS) notes.push('dns.workers is not in the config schema of this roamdns (cli/config.ts): the 2-worker row is skipped.');
  if (SERVER_CPU === CLIENT_CPU) notes.push('Fewer than 2 CPUs: servers and dnsperf share CPU 0, numbers are not comparable with 2-CPU runs.');
  const results = {
    started: started.toISOString(), finished: new Date().toISOString(), mode: QUICK ? 'quick' : 'full',
    machine: { ...m, loadavgEnd: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') },
    conditions: conditions(zones),
    entries, checks, notes,
  };
  const md = markdown(results);
  mkdirSync(opt.out, { recursive: true });
  const base = path.join(opt.out, `${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.json`, JSON.stringify({ ...results, medians: entries.map((e) => ({ key: e.key, zone: e.zone, ...summarize(e) })) }, null, 2) + '\n');
  process.stdout.write(md);
  log(`written ${path.relative(REPO, base)}.md and .json`);
}

/** The conditions paragraph of the report: everything needed to repeat the run. */
function conditions(/** @type {Record<string, { records: number }>} */ zones) {
  return [
    `Servers pinned with \`taskset -c ${SERVER_CPU}\`, dnsperf with \`taskset -c ${CLIENT_CPU}\`${NICE === undefined ? '' : `, both under \`nice -n ${NICE}\``}; UDP over 127.0.0.1, no EDNS (dnsperf's default), RD set.`,
    `Throughput: \`dnsperf -c ${LOAD.clients} -q ${LOAD.outstanding} -t ${LOAD.timeoutS} -l ${SECONDS}\`. q per server CPU-s = answered queries ÷ CPU seconds (user + system, /proc) the server's process tree used during the run; server CPU = that ÷ wall time.`,
    `Latency: \`dnsperf -Q ${RATE} -c 1 -q 100 -t 2 -l ${LAT_SECONDS} -v\`; mean and p99 over every answered query's latency as printed by \`-v\` (dnsperf 2.10 has no percentile output).`,
    `${ROUNDS} interleaved rounds (every server once, each 1M server right after its small-zone run; odd rounds in table order, even rounds backwards); a ${WARMUP_SECONDS} s warm-up run per server first; medians of the rounds; a target's "paired" ratio is the median over rounds of that round's ratio. Lost = lost ÷ sent over all runs.`,
    `Zones: small = zones/example.com.zone (www on loopback VIPs 127.0.0.201-202) + 1,000 names (900 hosts A, 225 AAAA, 100 CNAME): ${zones.small?.records.toLocaleString('en-US')} records` +
      (zones.large ? `; 1M = the same + 800,000 A, 100,000 AAAA, 100,000 CNAME: ${zones.large.records.toLocaleString('en-US')} records.` : '.'),
    `Query mix (100,000-line file for small, 200,000 for 1M, names drawn from the zone in use): ${MIX.map((x) => `${x.percent} % ${x.what}`).join('; ')}.`,
    'NSD and BIND run with minimal responses (Knot and roamdns give them by default), NSD with rate limiting off; one worker each (NSD server-count 1, Knot udp-workers 1, BIND -n 1).',
    'Memory is the PSS of the server process tree after the zone loaded (shared pages counted once); ready = spawn until the zone\'s last record is answered.',
  ];
}

main().catch((err) => { log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`); process.exitCode = 1; });
