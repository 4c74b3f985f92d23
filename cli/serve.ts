// `roamdns serve`: loads the zones, answers DNS on every dns.listen address, serves the status API,
// reloads on SIGHUP and on changes in the zones folder, stops cleanly on SIGTERM/SIGINT.
import { AddressList } from '../server/axfr.js';
import { parseListen, startDnsServer } from '../server/dns-server.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { createLogger } from './logger.js';
import { startStatusServer } from './status-server.js';

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
  const startedAt = new Date().toISOString();
  const dns = await startDnsServer(
    { zones: () => store.current(), metrics },
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
    { registry, status: () => ({ version: 1, startedAt, zones: store.status() }) },
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
      await Promise.all([dns.close(), status.close()]);
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
