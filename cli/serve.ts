// `roamdns serve`: loads the zones, answers DNS on every dns.listen address, serves the status API,
// reloads on SIGHUP and on changes in the zones folder, stops cleanly on SIGTERM/SIGINT.
import os from 'node:os';
import { AnswerCache } from '../server/answer-cache.js';
import { AddressList } from '../server/axfr.js';
import { listenFailure, parseListen, startDnsServer } from '../server/dns-server.js';
import { dnsNotifier, dnsSecurity } from './dns-security.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import { vipText } from '../server/pool-overlay.js';
import { RRType } from '../server/rr.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { createLogger } from './logger.js';
import { HealthRuntime, nameKey, poolsWithoutAddresses } from './health-wiring.js';
import type { PoolAnswerView, StatusDocument } from './status-page.js';
import { readStatusToken, startStatusServer, StatusTokenError } from './status-server.js';
import { dnsListenFailure, isDnsWorker, runDnsWorker, WorkerPool } from './serve-workers.js';
import { clusterPlanView } from './plan.js';
import { dropPrivileges, PrivilegeError } from './privileges.js';

/** What DNS answers for a pool name now, read from the overlay the answer path uses (A and AAAA). */
function poolAnswer(health: HealthRuntime, name: string): PoolAnswerView | undefined {
  const answers = [RRType.A, RRType.AAAA].map((t) => health.overlay().get(nameKey(name), t)).filter((a) => a !== undefined);
  if (answers.length === 0) return undefined;
  const sets = answers.flatMap((a) => (a.kind === 'rrset' ? [a] : []));
  if (sets.length === 0) return { kind: 'nodata', vips: [], ttl: null, degraded: true, perResponse: null };
  return {
    kind: 'vips',
    vips: sets.flatMap((a) => a.rrset.rdatas.map((r) => vipText(a.rrset.type, r))),
    ttl: Math.min(...sets.map((a) => a.rrset.ttlSeconds)),
    degraded: sets.some((a) => a.degraded),
    perResponse: Math.max(...sets.map((a) => a.limit)),
  };
}

/** The /status document: zones with serials and last reload result, pools with every VIP's state. */
function statusDocument(startedAt: string, cfg: RoamdnsConfig, listen: StatusDocument['listen'], store: ZoneStore, health: HealthRuntime): StatusDocument {
  const snap = health.snapshot();
  return {
    version: 1,
    startedAt,
    hostname: os.hostname(),
    listen,
    zones: store.status(),
    pools: Object.fromEntries(Object.entries(snap.pools).map(([name, p]) => [name, {
      served: p.served,
      vips: p.vips.map((v) => ({
        vip: v.vip, state: v.state, served: v.served, since: new Date(v.since).toISOString(), reason: v.reason,
        holders: v.holders, probe: v.probe, lastProbe: v.lastProbe ? { ok: v.lastProbe.ok, latencyMs: v.lastProbe.latencyMs, status: v.lastProbe.status, reason: v.lastProbe.reason, at: new Date(v.lastProbe.at).toISOString() } : null,
      })),
      whenAllDown: cfg.pools[name]?.when_all_down,
      degradedTtl: cfg.pools[name]?.degraded_ttl,
      answer: poolAnswer(health, name),
    }])),
    ownership: snap.ownership ?? null,
    recentChanges: snap.recentChanges.map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
    cluster: clusterPlanView(cfg, store.current()),
  };
}

/** 127.0.0.0/8 and ::1: reachable from this host only. */
function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

export async function serve(cfg: RoamdnsConfig): Promise<number> {
  if (isDnsWorker()) return runDnsWorker(cfg);
  // SIGTERM/SIGINT: one listener each for the whole life of the process. A stop that comes while
  // starting (DNS may answer before the rest is up, from workers sooner still) is kept and carried
  // out once started, instead of the signal's default: death. A second one ends it at once.
  // (During the start-up zone load, which runs before the event loop does, Node still applies the
  // signal's default action: the process ends.) The listeners are never swapped: libuv addresses
  // a caught signal to the handle that was listening when it came, so a signal caught just before
  // a swap, and read after it, went to a closed handle and was lost (1 start in 13 under load).
  let stopAsked: string | undefined;
  let onStop: ((signal: string) => void) | undefined;
  const asked = (signal: string, code: number) => () => {
    if (stopAsked) process.exit(code);
    stopAsked = signal;
    onStop?.(signal);
  };
  process.on('SIGTERM', asked('SIGTERM', 143));
  process.on('SIGINT', asked('SIGINT', 130));
  const log = createLogger(cfg.log.level, cfg.log.format);
  let token: Buffer | undefined;
  try {
    token = cfg.status.token_file ? readStatusToken(resolveFromConfig(cfg, cfg.status.token_file)) : undefined;
  } catch (err) {
    if (!(err instanceof StatusTokenError)) throw err;
    process.stderr.write(`${cfg.file}: ${err.message}\n`);
    return 2;
  }
  const registry = new Registry();
  const metrics = dnsMetrics(registry);
  const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
  const store = new ZoneStore(source, log.child({ component: 'zones' }), metrics);
  let report;
  try {
    report = store.load('start');
  } catch (err) {
    process.stderr.write(`roamdns: cannot read zones from ${String(source)}: ${(err as Error).message}\n`);
    return 2;
  }
  if (report.failed.length) {
    for (const f of report.failed) for (const p of f.problems) process.stderr.write(formatProblem(p) + '\n');
    process.stderr.write(`roamdns: ${report.failed.length} zone file(s) failed to load; not starting\n`);
    return 2;
  }
  if (store.current().zones.size === 0) {
    process.stderr.write(`roamdns: no zone files found in ${String(source)} (expected <origin>.zone files)\n`);
    return 2;
  }
  const missing = poolsWithoutAddresses(cfg, store.current());
  if (missing.length) {
    for (const name of missing) process.stderr.write(`${cfg.file}: pools.${name}: the zones have no A/AAAA records for this name\n`);
    return 2;
  }
  const security = dnsSecurity(cfg);
  // NOTIFY goes out from this process: it loads the zones and sees every reload.
  const notifier = dnsNotifier(cfg, security.keyring, log.child({ component: 'notify' }));
  if (notifier) {
    notifier.zonesLoaded(store.current());
    store.onSwap((zones) => notifier.zonesLoaded(zones));
  }
  const health = new HealthRuntime(cfg, log.child({ component: 'health' }));
  store.onSwap((zones) => {
    for (const name of poolsWithoutAddresses(cfg, zones)) log.warn({ pool: name }, 'pool name has no A/AAAA records in the reloaded zones');
    health.zonesChanged(zones);
  });
  // Probing starts with the zone, before the first query (a restart publishes a down VIP for one probe round at most).
  health.zonesChanged(store.current());
  const startedAt = new Date().toISOString();
  // The status API is bound first: once DNS answers, /status and /metrics answer too (a
  // supervisor or test that waits for DNS can read them at once), and a status address
  // already in use stops the start before any DNS socket is bound.
  const statusAddr = parseListen(cfg.status.listen);
  const listen: StatusDocument['listen'] = { dns: [], status: cfg.status.listen };
  let metricsText: (() => Promise<string>) | undefined;
  let status: Awaited<ReturnType<typeof startStatusServer>>;
  try {
    status = await startStatusServer(
      { registry, metricsText: () => metricsText ? metricsText() : Promise.resolve(registry.render()), extraMetrics: () => health.metrics.render(), status: () => statusDocument(startedAt, cfg, listen, store, health) },
      statusAddr.host,
      statusAddr.port,
      { token },
    );
  } catch (err) {
    store.close();
    await health.stop();
    process.stderr.write(`${cfg.file}: status.listen ${cfg.status.listen}: ${listenFailure(err)}\n`);
    return 2;
  }
  listen.status = `${statusAddr.host.includes(':') ? `[${statusAddr.host}]` : statusAddr.host}:${status.port}`;
  const workerCount = cfg.dns.workers === 'auto' ? os.availableParallelism() : cfg.dns.workers;
  let dns: { addresses: { host: string; port: number }[]; close(): Promise<void> };
  if (workerCount > 1) {
    // Workers answer DNS; this process keeps the zones for /status, the health checker and the status API.
    const pool = new WorkerPool(workerCount, log.child({ component: 'workers' }));
    try {
      await pool.start();
    } catch (err) {
      store.close();
      await Promise.all([pool.stop(), status.close(), health.stop()]);
      process.stderr.write(`roamdns: ${(err as Error).message}\n`);
      return 2;
    }
    health.onChange(() => pool.broadcast({ type: 'served', served: health.servedMap() }));
    store.onSwap(() => pool.broadcast({ type: 'reload', reason: 'primary reloaded' }));
    metricsText = async () => Registry.renderMerged([registry.snapshot(), ...(await pool.metrics())]);
    dns = { addresses: pool.addresses.map(parseListen), close: () => pool.stop() };
    log.info({ workers: workerCount }, 'DNS workers started');
  } else {
    try {
      dns = await startDnsServer(
        { zones: () => store.current(), overlay: () => health.overlay(), metrics, cache: new AnswerCache(metrics, cfg.dns.any), any: cfg.dns.any },
        {
          listen: cfg.dns.listen.map(parseListen),
          transferAllow: new AddressList(cfg.dns.transfer_allow),
          tcpIdleTimeoutMs: cfg.dns.tcp_idle_timeout,
          tcpMaxConnections: cfg.dns.tcp_max_connections,
          log: log.child({ component: 'dns' }),
          rrl: security.rrl,
          tsig: security.tsig,
        },
      );
    } catch (err) {
      // Whatever is up is closed, so the process ends instead of idling on the status API.
      store.close();
      await Promise.all([status.close(), health.stop()]);
      process.stderr.write(`${dnsListenFailure(cfg, err)}\n`);
      return 2;
    }
  }
  const dnsListen = dns.addresses.map((a) => `${a.host}:${a.port}`);
  listen.dns = dnsListen;
  if (!token && !isLoopback(statusAddr.host)) log.warn({ status: cfg.status.listen }, 'status API listens beyond loopback without status.token_file');
  // Every socket is bound: root is no longer needed (cli/privileges.ts).
  try {
    const dropped = dropPrivileges(cfg.user, [source].flat());
    if (dropped.kind === 'dropped') log.info({ user: dropped.account.name, uid: dropped.account.uid, gid: dropped.account.gid }, 'sockets bound; running as an unprivileged user');
    if (dropped.kind === 'kept-root') log.warn({ reason: dropped.reason }, 'still running as root: a bug in roamdns would be a bug with root rights');
  } catch (err) {
    if (!(err instanceof PrivilegeError)) throw err;
    process.stderr.write(`${cfg.file}: ${err.message}\n`);
    store.close();
    await Promise.all([dns.close(), status.close(), health.stop()]);
    return 2;
  }
  store.watch();
  log.info({ dns: dnsListen, status: `${statusAddr.host}:${status.port}`, statusAuth: token ? 'bearer' : 'none', zones: [...store.current().zones.keys()] }, 'serving');
  process.on('SIGHUP', () => {
    log.info({}, 'SIGHUP: reloading zones');
    void store.reload('SIGHUP');
  });
  return new Promise((resolve) => {
    const stop = async (signal: string) => {
      log.info({ signal }, 'shutting down');
      store.close();
      await Promise.all([dns.close(), status.close(), health.stop()]);
      resolve(0);
    };
    if (stopAsked) return void stop(stopAsked);
    onStop = (signal) => void stop(signal);
  });
}
