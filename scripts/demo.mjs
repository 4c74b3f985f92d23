#!/usr/bin/env node
// `npm run demo`: health-aware answers on one machine. Starts `roamdns serve` with its own zone
// (www.demo.example = 127.0.0.2, .3, .4) on 127.0.0.1:5354, the status page on 127.0.0.1:8055, and
// three HTTP servers on 127.0.0.2-4 port 8080 standing in for the VIPs; 127.0.0.3 stops and starts
// every 10 s, so the answers and the status page change. Everything stays on 127.0.0.0/8 (loopback
// on Linux). Runs until Ctrl-C (or SIGTERM), then stops the server and the targets and exits 0.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const DNS = { host: '127.0.0.1', port: 5354 };
const STATUS = { host: '127.0.0.1', port: 8055 };
const NAME = 'www.demo.example';
const VIPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const TARGET_PORT = 8080;
const FLAPPING = '127.0.0.3';
const FLAP_EVERY_MS = 10_000;

export const ZONE = `; The demo zone: three VIPs for www, all on loopback.
$ORIGIN demo.example.
$TTL 30
@    IN SOA ns1 hostmaster 1 3600 600 86400 30
@    IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   127.0.0.2
www  IN A   127.0.0.3
www  IN A   127.0.0.4
`;

export const CONFIG = `# The demo config (npm run demo): its own zone and ports, every address on loopback.
zones: [demo.example.zone]
dns:
  listen: [127.0.0.1:5354]
  workers: 1   # one answering process: successive answers rotate strictly, as the demo shows
status:
  listen: 127.0.0.1:8055
pools:
  www.demo.example:
    check: { http: { port: 8080, path: /healthz }, interval: 1s, timeout: 500ms, rise: 2, fall: 3 }
    when_all_down: all
    degraded_ttl: 5
`;

const say = (msg) => process.stdout.write(`[demo ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** One stand-in VIP: answers /healthz with 200 and anything else with a greeting naming itself. */
function target(address) {
  let server;
  const start = () => new Promise((resolve, reject) => {
    server = http.createServer((req, res) => {
      req.resume();
      const body = req.url === '/healthz' ? 'ok\n' : `hello from ${address} (a roamdns demo target standing in for a VIP)\n`;
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(body);
    });
    server.once('error', (err) => reject(new Error(`cannot listen on ${address}:${TARGET_PORT}: ${err.code ?? err.message}` +
      (err.code === 'EADDRINUSE' ? ` (see what holds it: ss -ltnp 'sport = :${TARGET_PORT}')` : ''))));
    server.listen(TARGET_PORT, address, () => resolve());
  });
  const stop = () => new Promise((resolve) => {
    if (!server?.listening) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return { address, start, stop, get up() { return !!server?.listening; } };
}

/** The current answer for www.demo.example, through the roamdns being demonstrated. */
async function answer() {
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([`${DNS.host}:${DNS.port}`]);
  const rrs = await r.resolve4(NAME, { ttl: true });
  return `${rrs.map((x) => x.address).sort().join(' ')}  (TTL ${Math.min(...rrs.map((x) => x.ttl))})`;
}

async function main() {
  if (!existsSync(CLI)) {
    process.stderr.write(`demo: ${CLI} not found: build first (npm run build)\n`);
    return 1;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'roamdns-demo-'));
  const configPath = path.join(dir, 'roamdns.yaml');
  await writeFile(path.join(dir, 'demo.example.zone'), ZONE);
  await writeFile(configPath, CONFIG);
  const targets = VIPS.map(target);
  let child, flapper, watcher;
  let stopping = false;
  const shutdown = async (why) => {
    if (stopping) return;
    stopping = true;
    clearInterval(flapper);
    clearTimeout(watcher);
    if (why) say(`${why}: stopping`);
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(killer);
    }
    await Promise.all(targets.map((t) => t.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  let exitCode = 0;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, () => void shutdown(sig).then(finish));
  try {
    for (const t of targets) await t.start();
  } catch (err) {
    process.stderr.write(`demo: ${err.message}\n`);
    await shutdown();
    return 1;
  }
  // Its own process group: Ctrl-C reaches only this script, which stops the server exactly once.
  // setpriv's parent-death signal stops it too if this script is killed outright.
  const wrap = existsSync('/usr/bin/setpriv');
  const args = [CLI, 'serve', '--config', configPath];
  child = spawn(wrap ? '/usr/bin/setpriv' : process.execPath, wrap ? ['--pdeathsig', 'KILL', '--', process.execPath, ...args] : args,
    { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`demo: roamdns serve exited (${signal ?? `code ${code}`}); is 127.0.0.1:${DNS.port} or :${STATUS.port} in use?\n`);
    exitCode = 1;
    void shutdown().then(finish);
  });
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });

  let last = '';
  for (let i = 0; i < 100 && !stopping && !last; i++) { // at most ~10 s until the first answer
    last = await answer().catch(() => '');
    if (!last) await new Promise((r) => setTimeout(r, 100));
  }
  if (!stopping) {
    process.stdout.write(`
roamdns demo: health-aware round-robin DNS, all on this machine (127.0.0.x)

  ${NAME} has three VIPs: ${VIPS.join(', ')}; HTTP servers on port ${TARGET_PORT} stand in for them.
  ${FLAPPING} stops and starts every ${FLAP_EVERY_MS / 1000} s: watch it leave the answer (in about 3 s:
  fall 3 x interval 1s) and come back (rise 2).

Try, in another terminal:
  dig @${DNS.host} -p ${DNS.port} ${NAME}
  open http://${STATUS.host}:${STATUS.port}/        the status page (JSON: /status, Prometheus: /metrics)
  node dist/cli/main.js status --config ${configPath}
  node dist/cli/main.js check --config ${configPath}

Ctrl-C stops everything.

`);
    say(`${NAME} -> ${last || 'no answer yet'}`);
  }
  flapper = setInterval(() => {
    const t = targets.find((x) => x.address === FLAPPING);
    if (t.up) void t.stop().then(() => say(`${FLAPPING}:${TARGET_PORT} stopped; its VIP leaves the answer after 3 failed probes`));
    else void t.start().then(() => say(`${FLAPPING}:${TARGET_PORT} started again; its VIP returns after 2 passing probes`), (e) => say(e.message));
  }, FLAP_EVERY_MS);
  // Prints the answer whenever it changes; one query at a time, every 500 ms.
  const watch = () => void answer().catch(() => 'no answer').then((a) => {
    if (stopping) return;
    if (a !== last) say(`${NAME} -> ${a}`);
    last = a;
    watcher = setTimeout(watch, 500);
  });
  watch();
  await done;
  return exitCode;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(`demo: ${err.stack ?? err}\n`); process.exitCode = 1; });
}
