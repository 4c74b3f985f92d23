// @ts-check
// Worker scaling (issue 5: "throughput grows with cores"), measured on a machine that has too few
// cores to show it plainly: with 2 cores, dnsperf needs one of them, so a second roamdns worker
// finds no idle core to run on (run.mjs's 2-worker row says so). Here each answering process gets
// the same slice of CPU instead of a core: the server's process tree is put in a cgroup whose CPU
// quota is `--share` of a core per worker (1 worker: 0.3 core; 2 workers: 0.6 core, spread over
// both cores), so dnsperf always has more than a core left. If the workers share no bottleneck
// (the socket, the primary, a lock), 2 workers answer about twice what 1 does. NSD with
// server-count 1 and 2 runs the same way beside it, as the reference for what a native
// multi-process server does under the same budget.
//
//   node bench/dns/workers.mjs [--share 0.3] [--rounds 3] [--seconds 10] [--no-build] [--out DIR]
//
// Prints a Markdown table and writes it to DIR/YYYY-MM-DD-workers.md (DIR: bench/dns/results).
//
// Needs root (it creates cgroups: v1 under /sys/fs/cgroup/cpu, or v2 with the cpu controller) and
// dnsperf and nsd. Traffic goes to 127.0.0.1 only; the servers, dnsperf and the cgroups are
// removed at the end, also on failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { throughput } from './lib/dnsperf.mjs';
import { killAllSync, processTree, treeCpuSeconds } from './lib/proc.mjs';
import { machine, median } from './lib/report.mjs';
import { nsd, roamdns } from './lib/systems.mjs';
import { exampleZoneHead, ORIGIN, SMALL, writeQueries, writeZone } from './lib/zone-gen.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const { values: opt } = parseArgs({ options: {
  share: { type: 'string', default: '0.3' }, rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '10' },
  'no-build': { type: 'boolean', default: false }, out: { type: 'string', default: path.join(HERE, 'results') },
} });
const SHARE = Number(opt.share), ROUNDS = Number(opt.rounds), SECONDS = Number(opt.seconds);
if (!(SHARE > 0 && SHARE <= 0.5)) throw new Error('--share: a fraction of a core, 0 < share <= 0.5 (dnsperf needs the rest)');
if (!(ROUNDS >= 1 && SECONDS >= 2)) throw new Error('--rounds >= 1, --seconds >= 2');
const LOAD = { clients: 8, outstanding: 100, timeoutS: 2 };
const log = (/** @type {string} */ m) => process.stderr.write(`[bench/dns workers] ${m}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** A cgroup with a CPU quota: v1 (cpu controller mounted at /sys/fs/cgroup/cpu) or v2. */
function cgroup(/** @type {string} */ name, /** @type {number} */ cores) {
  const period = 100_000;
  const quota = Math.round(cores * period);
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(path.join(v1, 'cpu.cfs_quota_us'))) {
    const dir = path.join(v1, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(period));
    writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
    return { dir, procs: path.join(dir, 'cgroup.procs'), parent: path.join(v1, 'cgroup.procs') };
  }
  const v2 = '/sys/fs/cgroup';
  if (existsSync(path.join(v2, 'cgroup.controllers')) && readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').includes('cpu')) {
    writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+cpu');
    const dir = path.join(v2, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cpu.max'), `${quota} ${period}`);
    return { dir, procs: path.join(dir, 'cgroup.procs'), parent: path.join(v2, 'cgroup.procs') };
  }
  throw new Error('no cgroup CPU controller found (v1 /sys/fs/cgroup/cpu or v2 with cpu): cannot set a CPU quota');
}

/** @type {{ dir: string, procs: string, parent: string }[]} */
const groups = [];
function removeGroups() {
  for (const g of groups.splice(0)) {
    // Anything still in it goes back to the root group first (a cgroup with tasks cannot be removed).
    try { for (const pid of readFileSync(g.procs, 'utf8').split('\n').filter(Boolean)) writeFileSync(g.parent, pid); } catch { /* gone */ }
    try { rmdirSync(g.dir); } catch (e) { log(`cannot remove ${g.dir}: ${/** @type {Error} */ (e).message}`); }
  }
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root: CPU quotas need a cgroup of their own');
  for (const [bin, pkg] of [['dnsperf', 'dnsperf'], ['/usr/sbin/nsd', 'nsd'], ['taskset', 'util-linux']]) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} not found: apt-get install ${pkg}`);
  }
  if (!opt['no-build']) {
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
  }
  const cpus = os.availableParallelism() >= 2 ? '0,1' : '0';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-bench-workers-'));
  process.on('exit', () => { killAllSync(); removeGroups(); rmSync(dir, { recursive: true, force: true }); });
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.once(sig, () => process.exit(130));
  const zoneFile = path.join(dir, `${ORIGIN}.zone`);
  const queryFile = path.join(dir, 'queries.txt');
  await writeZone(zoneFile, await exampleZoneHead(path.join(REPO, 'zones/example.com.zone')), SMALL);
  await writeQueries(queryFile, SMALL, 100_000);
  const systems = [
    { n: 1, system: roamdns({ key: 'roamdns-1', label: 'roamdns, dns.workers 1', workers: 1 }) },
    { n: 2, system: roamdns({ key: 'roamdns-2', label: 'roamdns, dns.workers 2', workers: 2 }) },
    { n: 1, system: nsd('nsd-1', 'NSD, server-count 1', 1) },
    { n: 2, system: nsd('nsd-2', 'NSD, server-count 2', 2) },
  ];
  /** @type {Map<string, { qps: number, cpuCores: number, lost: number }[]>} */
  const rows = new Map(systems.map((s) => [s.system.key, []]));
  const m = machine();
  const t0 = new Date();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { n, system } of systems) {
      const running = await system.start({ repoRoot: REPO, dir, zoneFile, shape: SMALL, serverCpus: cpus });
      const g = cgroup(`roamdns-bench-${process.pid}-${system.key}-${round}`, n * SHARE);
      groups.push(g);
      try {
        // Every process of the server (the primary and its workers, NSD's children) into the quota.
        for (const pid of processTree(running.proc.pid)) writeFileSync(g.procs, String(pid));
        const target = { port: running.port, queryFile, cpus, seconds: SECONDS };
        await throughput({ ...target, seconds: 1 }, LOAD); // warm-up
        const cpu0 = treeCpuSeconds(running.proc.pid);
        const w0 = performance.now();
        const tp = await throughput(target, LOAD);
        const cpuCores = (treeCpuSeconds(running.proc.pid) - cpu0) / ((performance.now() - w0) / 1000);
        rows.get(system.key)?.push({ qps: tp.qps, cpuCores, lost: tp.lost / Math.max(1, tp.sent) });
        log(`round ${round}/${ROUNDS} ${system.label}: ${Math.round(tp.qps)} q/s, server CPU ${cpuCores.toFixed(2)} cores (quota ${(n * SHARE).toFixed(2)}), lost ${tp.lost}`);
      } finally {
        await running.stop();
        removeGroups();
      }
      await sleep(200);
    }
  }
  const med = (/** @type {string} */ key, /** @type {'qps' | 'cpuCores'} */ f) => median((rows.get(key) ?? []).map((r) => r[f]));
  const line = (/** @type {typeof systems[number]} */ s) => {
    const r = rows.get(s.system.key) ?? [];
    return `| ${s.system.label} | ${(s.n * SHARE).toFixed(2)} | ${Math.round(med(s.system.key, 'qps')).toLocaleString('en-US')} | ${med(s.system.key, 'cpuCores').toFixed(2)} | ${r.map((x) => Math.round(x.qps).toLocaleString('en-US')).join(' / ')} | ${(100 * Math.max(...r.map((x) => x.lost))).toFixed(3)} % |`;
  };
  const ratio = (/** @type {string} */ a, /** @type {string} */ b) => med(a, 'qps') / med(b, 'qps');
  const md = [
    `# Worker scaling under a CPU quota, ${t0.toISOString().slice(0, 16)}Z`,
    '',
    `Machine: nproc ${m.nproc}, ${m.cpu}, kernel ${m.kernel}, Node ${process.version}. Server tree in a cgroup with a quota of ${SHARE} core per answering process, on CPUs ${cpus}; dnsperf (unquoted, same CPUs) \`-c ${LOAD.clients} -q ${LOAD.outstanding} -l ${SECONDS}\`; small zone and query mix of run.mjs; ${ROUNDS} interleaved rounds, medians.`,
    '',
    '| server | quota (cores) | q/s | server CPU (cores) | rounds q/s | lost (worst) |',
    '|---|--:|--:|--:|---|--:|',
    ...systems.map(line),
    '',
    `2 ÷ 1: roamdns ${ratio('roamdns-2', 'roamdns-1').toFixed(2)}, NSD ${ratio('nsd-2', 'nsd-1').toFixed(2)}.`,
    '',
  ].join('\n');
  mkdirSync(opt.out, { recursive: true });
  const file = path.join(opt.out, `${t0.toISOString().slice(0, 10)}-workers.md`);
  writeFileSync(file, md);
  process.stdout.write(md);
  log(`written ${path.relative(REPO, file)}`);
}

main().catch((e) => { log(/** @type {Error} */ (e).message); process.exitCode = 1; });
