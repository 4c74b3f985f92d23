// @ts-check
// Reload under load (issue 5): roamdns serves the 1,000,000-record zone, dnsperf sends a fixed
// rate with every answer's latency recorded (-v), and in the middle of the run the zone file is
// rewritten with a new serial and roamdns gets SIGHUP. Reports: queries sent, lost, latency
// p50/p99/max over the whole run and the longest stretch with no answer, beside the same run
// without a reload. Pinned like run.mjs (server core 0, dnsperf core 1); 127.0.0.1 only.
//
//   node bench/dns/reload.mjs [--rate 5000] [--seconds 40] [--hosts 800000] [--no-build]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latency } from './lib/dnsperf.mjs';
import { killAllSync } from './lib/proc.mjs';
import { roamdns } from './lib/systems.mjs';
import { exampleZoneHead, LARGE, ORIGIN, writeQueries, writeZone } from './lib/zone-gen.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const { values: opt } = parseArgs({ options: {
  rate: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '40' }, hosts: { type: 'string', default: String(LARGE.hosts) },
  'no-build': { type: 'boolean', default: false },
} });
const RATE = Number(opt.rate), SECONDS = Number(opt.seconds);
const shape = { ...LARGE, hosts: Number(opt.hosts), aliases: Math.round(Number(opt.hosts) / 8) };
const log = (/** @type {string} */ m) => process.stderr.write(`[bench/dns reload] ${m}\n`);

async function main() {
  if (!opt['no-build']) {
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
    if (b.status !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-bench-reload-'));
  process.on('exit', () => { killAllSync(); rmSync(dir, { recursive: true, force: true }); });
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.once(sig, () => process.exit(130));
  const zoneFile = path.join(dir, `${ORIGIN}.zone`);
  const queryFile = path.join(dir, 'queries.txt');
  const head = await exampleZoneHead(path.join(REPO, 'zones/example.com.zone'));
  const serialOf = (/** @type {string} */ h) => Number(/SOA[^(]*\(\s*(\d+)/.exec(h)?.[1] ?? /SOA\s+\S+\s+\S+\s+(\d+)/.exec(h)?.[1]);
  const serial = serialOf(head);
  if (!Number.isFinite(serial)) throw new Error('cannot find the SOA serial in zones/example.com.zone');
  log(`writing ${shape.hosts.toLocaleString('en-US')} hosts and the queries`);
  await writeZone(zoneFile, head, shape);
  await writeQueries(queryFile, shape, 200_000);
  const sys = roamdns({ key: 'roamdns', label: 'roamdns', workers: 1 }); // one process: the stall is the answering process's
  const running = await sys.start({ repoRoot: REPO, dir, zoneFile, shape, serverCpus: '0' });
  log(`ready in ${(running.readyMs / 1000).toFixed(1)} s`);
  try {
    const target = { port: running.port, queryFile, cpus: '1', seconds: SECONDS };
    log(`run 1: ${RATE} q/s for ${SECONDS} s, no reload`);
    const quiet = await latency(target, RATE);
    log(`run 2: ${RATE} q/s for ${SECONDS} s, the zone rewritten with serial ${serial + 1} and SIGHUP after 3 s`);
    const t0 = Date.now();
    let swappedS = NaN;
    const reload = (async () => {
      await new Promise((r) => setTimeout(r, 3000));
      await writeZone(zoneFile, head.replace(String(serial), String(serial + 1)), shape);
      const sent = Date.now();
      process.kill(running.proc.pid, 'SIGHUP');
      for (;;) {
        const dig = spawnSync('dig', ['+short', '+time=1', '+tries=1', '@127.0.0.1', '-p', String(running.port), ORIGIN, 'SOA'], { encoding: 'utf8', timeout: 3000 });
        if ((dig.stdout ?? '').includes(String(serial + 1))) { swappedS = (Date.now() - sent) / 1000; return; }
        if (Date.now() - t0 > SECONDS * 1000) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const loaded = await latency(target, RATE);
    await reload;
    const row = (/** @type {string} */ what, /** @type {any} */ r) => `| ${what} | ${r.sent} | ${r.completed} | ${r.lost} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.maxMs.toFixed(1)} |`;
    process.stdout.write([
      `Reload under load: roamdns, ${(shape.hosts + Math.ceil(shape.hosts / shape.aaaaEvery) + shape.aliases + 9).toLocaleString('en-US')} records, dnsperf -Q ${RATE} -c 1 -q 100 for ${SECONDS} s, server on CPU 0, dnsperf on CPU 1.`,
      `The new serial was served ${Number.isFinite(swappedS) ? `${swappedS.toFixed(1)} s` : 'NOT within the run'} after SIGHUP.`,
      '',
      '| run | sent | answered | lost | p50 ms | p99 ms | max ms |',
      '|---|--:|--:|--:|--:|--:|--:|',
      row('no reload', quiet), row('reload at 3 s', loaded), '',
      'Each second of the run with the reload (by the order of the answers, so roughly): p99 / max ms.',
      '',
      loaded.seconds.map((/** @type {any} */ x) => `${x.second}s ${x.p99Ms.toFixed(1)}/${x.maxMs.toFixed(1)}`).join(' · '), '',
    ].join('\n'));
  } finally {
    await running.stop();
  }
}

main().catch((e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exit(1); });
