// `roamdns serve`: loads the zones, answers DNS on every dns.listen address, serves the status API,
// reloads on SIGHUP and on changes in the zones folder, stops cleanly on SIGTERM/SIGINT.
import { AddressList } from '../server/axfr.js';
import { parseListen, startDnsServer } from '../server/dns-server.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { createLogger } from './logger.js';
import { HealthRuntime, poolsWithoutAddresses } from './health-wiring.js';
import { startStatusServer } from './status-server.js';

/** The /status document: zones with serials and last reload result, pools with every VIP's state. */
function statusDocument(startedAt: string, store: ZoneStore, health: HealthRuntime): object {
  const snap = health.snapshot();
  return {
    version: 1,
    startedAt,
    zones: store.status(),
    pools: Object.fromEntries(Object.entries(snap.pools).map(([name, p]) => [name, {
      served: p.served,
      vips: p.vips.map((v) => ({
        vip: v.vip, state: v.state, served: v.served, since: new Date(v.since).toISOString(), reason: v.reason,
        holders: v.holders, probe: v.probe, lastProbe: v.lastProbe ? { ok: v.lastProbe.ok, latencyMs: v.lastProbe.latencyMs, status: v.lastProbe.status, reason: v.lastProbe.reason, at: new Date(v.lastProbe.at).toISOString() } : null,
      })),
    }])),
    ownership: snap.ownership ?? null,
    recentChanges: snap.recentChanges.map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
  };
}

export async function serve(cfg: RoamdnsConfig): Promise<number> {
  const log = createLogger(cfg.log.level, cfg.log.format);
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
  const health = new HealthRuntime(cfg, log.child({ component: 'health' }));
  store.onSwap((zones) => {
    for (const name of poolsWithoutAddresses(cfg, zones)) log.warn({ pool: name }, 'pool name has no A/AAAA records in the reloaded zones');
    health.zonesChanged(zones);
  });
  // Probing starts with the zone, before the first query (a restart publishes a down VIP for one probe round at most).
  health.zonesChanged(store.current());
  const startedAt = new Date().toISOString();
  const dns = await startDnsServer(
    { zones: () => store.current(), overlay: () => health.overlay(), metrics },
    {
      listen: cfg.dns.listen.map(parseListen),
      transferAllow: new AddressList(cfg.dns.transfer_allow),
      tcpIdleTimeoutMs: cfg.dns.tcp_idle_timeout,
      tcpMaxConnections: cfg.dns.tcp_max_connections,
      log: log.child({ component: 'dns' }),
    },
  );
  const statusAddr = parseListen(cfg.status.listen);
  const status = await startStatusServer(
    { registry, extraMetrics: () => health.metrics.render(), status: () => statusDocument(startedAt, store, health) },
    statusAddr.host,
    statusAddr.port,
  );
  store.watch();
  log.info({ dns: dns.addresses.map((a) => `${a.host}:${a.port}`), status: `${statusAddr.host}:${status.port}`, zones: [...store.current().zones.keys()] }, 'serving');
  process.on('SIGHUP', () => {
    log.info({}, 'SIGHUP: reloading zones');
    store.load('SIGHUP');
  });
  return new Promise((resolve) => {
    const stop = async (signal: string) => {
      log.info({ signal }, 'shutting down');
      store.close();
      await Promise.all([dns.close(), status.close(), health.stop()]);
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
