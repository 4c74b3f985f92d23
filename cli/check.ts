// `roamdns check` (probe every pool's VIPs once) and `roamdns status` (print a running server's view).
import { isIPv6 } from 'node:net';
import { checkExitCode, formatCheckLines } from '../health/checker.js';
import { parseListen } from '../server/dns-server.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import { resolveFromConfig, type RoamdnsConfig } from './config.js';
import { checkPoolsOnce, poolsWithoutAddresses } from './health-wiring.js';
import { readStatusToken, StatusTokenError } from './status-server.js';

const quiet = { info() {}, warn() {}, error() {} };

export async function checkCommand(cfg: RoamdnsConfig): Promise<number> {
  const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
  const store = new ZoneStore(source, quiet, dnsMetrics(new Registry()));
  let report;
  try {
    report = store.load('check');
  } catch (err) {
    process.stderr.write(`roamdns check: cannot read zones from ${String(source)}: ${(err as Error).message}\n`);
    return 2;
  }
  if (report.failed.length) {
    for (const f of report.failed) for (const p of f.problems) process.stderr.write(formatProblem(p) + '\n');
    return 2;
  }
  const missing = poolsWithoutAddresses(cfg, store.current());
  if (missing.length) {
    for (const name of missing) process.stderr.write(`${cfg.file}: pools.${name}: the zones have no A/AAAA records for this name\n`);
    return 2;
  }
  if (Object.keys(cfg.pools).length === 0) {
    process.stderr.write(`${cfg.file}: no pools configured; nothing to check\n`);
    return 2;
  }
  const results = await checkPoolsOnce(cfg, store.current());
  for (const line of formatCheckLines(results)) process.stdout.write(line + '\n');
  return checkExitCode(results);
}

function url(listen: string, path: string): string {
  const a = parseListen(listen);
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return `http://${isIPv6(host) ? `[${host}]` : host}:${a.port}${path}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

interface ServeStatus { pools?: Record<string, { vips: { vip: string; state: string; holders: string[]; since: string; reason: string }[] }> }
interface AgentStatusDoc {
  node: string; state: string; health: string;
  vips: { vip: string; holder: string | null; holderForMs?: number; target: string | null; heldHere: boolean; duplicate: boolean; quietHere?: boolean }[];
  peers: { name: string; alive: boolean; state: string; health: string; rttMs?: number; held: string[] }[];
  moves: { kind: string; vip: string; reason: string; to?: string; atMs: number }[];
}

export async function statusCommand(cfg: RoamdnsConfig, agent: boolean): Promise<number> {
  const target = agent ? (cfg.cluster ? url(cfg.cluster.status_listen, '/status') : undefined) : url(cfg.status.listen, '/status');
  if (!target) {
    process.stderr.write(`${cfg.file}: --agent needs a cluster section\n`);
    return 2;
  }
  // Each API may want its bearer token: status.token_file for serve, cluster.status_token_file for the agent.
  const headers: Record<string, string> = {};
  const tokenFile = agent ? cfg.cluster?.status_token_file : cfg.status.token_file;
  if (tokenFile) {
    try {
      headers.authorization = `Bearer ${readStatusToken(resolveFromConfig(cfg, tokenFile)).toString('latin1')}`;
    } catch (err) {
      if (!(err instanceof StatusTokenError)) throw err;
      process.stderr.write(`${cfg.file}: ${err.message}\n`);
      return 2;
    }
  }
  let doc: unknown;
  try {
    const res = await fetch(target, { headers, signal: AbortSignal.timeout(3000) });
    if (res.status === 401) {
      await res.body?.cancel();
      process.stderr.write(`roamdns status: ${target} refused the request (401): ${cfg.status.token_file ? 'the token in status.token_file is not the one the server uses' : 'the server wants a bearer token; set status.token_file'}\n`);
      return 1;
    }
    if (!res.ok) {
      await res.body?.cancel();
      process.stderr.write(`roamdns status: ${target} answered HTTP ${res.status}\n`);
      return 1;
    }
    doc = await res.json();
  } catch (err) {
    process.stderr.write(`roamdns status: cannot reach ${target}: ${(err as Error).message}\n`);
    return 1;
  }
  if (agent) {
    const a = doc as AgentStatusDoc;
    const since = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)}s ago`);
    const vips = [['VIP', 'HOLDER', 'SINCE', 'TARGET', 'DUPLICATE'], ...a.vips.map((v) => [v.vip, v.holder ?? '-', since(v.holderForMs), v.target ?? '-', v.duplicate ? 'yes' : 'no'])];
    const members = [['NODE', 'ALIVE', 'STATE', 'HEALTH', 'RTT', 'HOLDS'],
      [a.node + ' (this node)', 'yes', a.state, a.health, '-', a.vips.filter((v) => v.heldHere).map((v) => v.vip).join(',') || '-'],
      ...a.peers.map((p) => [p.name, p.alive ? 'yes' : 'no', p.state, p.health, p.rttMs === undefined ? '-' : `${p.rttMs.toFixed(1)}ms`, p.held.join(',') || '-'])];
    const moves = a.moves.slice(-10).map((m) => `  ${m.kind} ${m.vip} (${m.reason}${m.to ? ` to ${m.to}` : ''})`);
    const quiet = a.vips.filter((v) => v.quietHere).map((v) => v.vip);
    process.stdout.write(table(members) + '\n' + table(vips) + (moves.length ? `\nlast moves on this node:\n${moves.join('\n')}\n` : '') +
      (quiet.length ? `handed over, alias still here without ARP until the new holder has announced: ${quiet.join(', ')}\n` : ''));
    return 0;
  }
  const s = doc as ServeStatus;
  const rows = [['POOL', 'VIP', 'STATE', 'HOLDERS', 'SINCE', 'REASON']];
  for (const [pool, p] of Object.entries(s.pools ?? {})) {
    for (const v of p.vips) rows.push([pool, v.vip, v.state, v.holders.join(',') || '-', v.since, v.reason]);
  }
  process.stdout.write(rows.length > 1 ? table(rows) : 'no pools configured\n');
  return 0;
}
