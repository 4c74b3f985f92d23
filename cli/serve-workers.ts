// `dns.workers` > 1: the primary process loads the zones, runs the health checker and the status
// API; N worker processes (node:cluster) each answer DNS on the shared sockets with their own copy
// of the zones. The primary tells the workers what is served (after every health change) and when
// to reload; it gathers their counters for /metrics.
import cluster, { type Worker } from 'node:cluster';
import { AnswerCache } from '../server/answer-cache.js';
import { AddressList } from '../server/axfr.js';
import { listenFailure, parseListen, startDnsServer } from '../server/dns-server.js';
import { dnsSecurity } from './dns-security.js';
import { dnsMetrics, Registry, type MetricSnapshot } from '../server/metrics.js';
import { AnswerOverlay, buildOverlay } from '../server/pool-overlay.js';
import { ZoneStore } from '../server/zone-store.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { poolPolicies } from './health-wiring.js';
import { dropPrivileges, PrivilegeError } from './privileges.js';
import { createLogger, type Logger } from './logger.js';

/** pool -> vip -> served (true/false); VIPs not yet checked are absent (and answered). */
export type ServedMap = Record<string, Record<string, boolean>>;

export type ToWorker =
  | { type: 'reload'; reason: string }
  | { type: 'served'; served: ServedMap }
  | { type: 'metrics'; id: number }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; addresses: string[] }
  /** The worker cannot serve (e.g. it cannot become the configured user): what to tell the operator. */
  | { type: 'fatal'; message: string }
  | { type: 'metrics'; id: number; snapshot: MetricSnapshot[] };

export const WORKER_ENV = 'ROAMDNS_DNS_WORKER';

/**
 * Metrics of the zones being served: the primary's own (it loads every zone first, and its
 * /status shows the same). A worker's copy would be summed into nonsense (three times the
 * serial) or count each reload once per process.
 */
const PRIMARY_ONLY = new Set(['roamdns_zone_serial', 'roamdns_zone_records', 'roamdns_zone_reloads_total']);

/** The line that says why the DNS sockets could not be bound (one process or a worker). */
export function dnsListenFailure(cfg: RoamdnsConfig, err: unknown): string {
  return `${cfg.file}: dns.listen [${cfg.dns.listen.join(', ')}]: ${listenFailure(err)}`;
}

export function isDnsWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/** A worker: answers DNS until the primary says stop (or goes away). */
export async function runDnsWorker(cfg: RoamdnsConfig): Promise<number> {
  const log = createLogger(cfg.log.level, cfg.log.format).child({ component: 'dns', worker: cluster.worker?.id });
  const registry = new Registry();
  const metrics = dnsMetrics(registry);
  const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
  const store = new ZoneStore(source, log, metrics);
  store.load('start');
  const policies = poolPolicies(cfg);
  let served: ServedMap = {};
  let overlay = AnswerOverlay.EMPTY;
  const rebuild = () => {
    if (policies.length) overlay = buildOverlay(store.current(), policies, (pool, vip) => served[pool]?.[vip], overlay);
  };
  store.onSwap(rebuild);
  rebuild();
  // A worker that cannot start tells the primary why (it says it and exits 2), then ends instead
  // of lingering on its IPC channel.
  const fatal = async (message: string): Promise<number> => {
    await new Promise<void>((resolve) => (process.send ? process.send({ type: 'fatal', message } satisfies FromWorker, () => resolve()) : resolve()));
    if (process.connected) process.disconnect();
    return 2;
  };
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  try {
    dns = await startDnsServer(
      { zones: () => store.current(), overlay: () => overlay, metrics, cache: new AnswerCache(metrics, cfg.dns.any), any: cfg.dns.any },
      {
        listen: cfg.dns.listen.map(parseListen), transferAllow: new AddressList(cfg.dns.transfer_allow),
        tcpIdleTimeoutMs: cfg.dns.tcp_idle_timeout, tcpMaxConnections: cfg.dns.tcp_max_connections, log,
        ...pickServerOptions(dnsSecurity(cfg)),
      },
    );
  } catch (err) {
    store.close();
    return fatal(dnsListenFailure(cfg, err));
  }
  const send = (m: FromWorker) => process.send?.(m);
  // Bound: a worker forked by a root primary becomes the unprivileged user too (the primary checks it can).
  try {
    dropPrivileges(cfg.user, [source].flat());
  } catch (err) {
    if (!(err instanceof PrivilegeError)) throw err;
    await dns.close();
    return fatal(`${cfg.file}: ${err.message}`);
  }
  send({ type: 'ready', addresses: dns.addresses.map((a) => `${a.host}:${a.port}`) });
  return new Promise((resolve) => {
    const stop = async () => {
      await dns.close();
      resolve(0);
      // The IPC channel to the primary is the last thing keeping this process up: let it go.
      if (process.connected) process.disconnect();
    };
    process.on('message', (m: ToWorker) => {
      if (m.type === 'reload') void store.reload(m.reason);
      else if (m.type === 'served') { served = m.served; rebuild(); }
      else if (m.type === 'metrics') send({ type: 'metrics', id: m.id, snapshot: registry.snapshot().filter((x) => !PRIMARY_ONLY.has(x.name)) });
      else if (m.type === 'stop') void stop();
    });
    process.once('disconnect', () => void stop());
    // Signals are the primary's business; a worker only stops when told.
    process.on('SIGTERM', () => {});
    process.on('SIGINT', () => {});
    process.on('SIGHUP', () => {});
  });
}

/** The primary's handle on its workers. */
export class WorkerPool {
  private readonly workers = new Set<Worker>();
  private stopping = false;
  private lastServed: ServedMap = {};
  private nextId = 1;
  addresses: string[] = [];

  constructor(private readonly count: number, private readonly log: Logger) {}

  /** Forks every worker; resolves when all answer DNS, rejects if one dies first. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, () => this.fork()));
  }

  private fork(): Promise<void> {
    const w = cluster.fork({ [WORKER_ENV]: '1' });
    this.workers.add(w);
    return new Promise((resolve, reject) => {
      let ready = false;
      let fatal: string | undefined;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'fatal') fatal = m.message;
        if (m.type === 'ready') {
          ready = true;
          this.addresses = m.addresses;
          w.send({ type: 'served', served: this.lastServed } satisfies ToWorker);
          resolve();
        }
      });
      w.once('exit', (code, signal) => {
        this.workers.delete(w);
        if (!ready) return reject(new Error(fatal ?? `DNS worker ${w.id} exited before it was ready (${signal ?? `exit ${code}`})`));
        if (this.stopping) return;
        this.log.error({ worker: w.id, code, signal }, 'DNS worker died; starting another');
        setTimeout(() => { if (!this.stopping) this.fork().catch((err: Error) => this.log.error({ err }, 'DNS worker restart failed')); }, 500);
      });
    });
  }

  broadcast(m: ToWorker): void {
    if (m.type === 'served') this.lastServed = m.served;
    for (const w of this.workers) if (w.isConnected()) w.send(m);
  }

  /** Every worker's counters (a worker that does not answer within 500 ms is left out). */
  async metrics(): Promise<MetricSnapshot[][]> {
    const id = this.nextId++;
    const replies = [...this.workers].map((w) => new Promise<MetricSnapshot[] | undefined>((resolve) => {
      const t = setTimeout(() => { w.off('message', on); resolve(undefined); }, 500);
      const on = (m: FromWorker) => {
        if (m.type === 'metrics' && m.id === id) { clearTimeout(t); w.off('message', on); resolve(m.snapshot); }
      };
      w.on('message', on);
      if (w.isConnected()) w.send({ type: 'metrics', id } satisfies ToWorker);
    }));
    return (await Promise.all(replies)).filter((s): s is MetricSnapshot[] => s !== undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      const t = setTimeout(() => { w.kill('SIGKILL'); resolve(); }, 3000);
      w.once('exit', () => { clearTimeout(t); resolve(); });
      if (w.isConnected()) w.send({ type: 'stop' } satisfies ToWorker);
    }));
    await Promise.all(exits);
  }
}

const pickServerOptions = ({ rrl, tsig }: ReturnType<typeof dnsSecurity>) => ({ rrl, tsig });
