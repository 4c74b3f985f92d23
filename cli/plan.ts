// `roamdns plan`: reads the config and zones as `roamdns agent` does and prints what each node failure
// does to the survivors (failover/capacity.ts, on the agents' own assignment); exit 1 when something
// needs acting on, so it can run in CI beside zone-check. With --live, from the holders the agents
// report now (the same what-if as the status page), for maintenance.
import { canonicalIp } from '../failover/ip.js';
import { AgentOptionsError, preferMap } from '../failover/options.js';
import { pct, planCapacity, splitByFamily, vipsOf, type CapacityInput, type CapacityPlan, type NodeLoad, type Scenario } from '../failover/capacity.js';
import { fetchOwnership, mergeOwnership } from '../health/ownership.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import type { ZoneSet } from '../server/zone.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import { agentOptions, clusterVips } from './agent.js';
import { resolveFromConfig, type ClusterConfig, type RoamdnsConfig } from './config.js';
import { addressesOf, agentStatusUrls, agentToken } from './health-wiring.js';
import type { ClusterPlanView } from './status-page.js';
import { StatusTokenError } from './status-server.js';

export interface PlanFlags {
  pairs?: boolean;
  maxShare?: string; // as typed: 0.6 or 60%
  json?: boolean;
  live?: boolean;
}

const quiet = { info() {}, warn() {}, error() {} };

/** `0.6` or `60%` → 0.6; undefined when it is not a share in (0, 1]. */
export function parseShare(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  const x = Number(m[1]) / (m[2] ? 100 : 1);
  return x > 0 && x <= 1 ? x : undefined;
}

/** The nodes, weights and prefer the agents would run with; the agent's own option checks (no secret needed). */
function nodesAndPrefer(cfg: RoamdnsConfig, c: ClusterConfig, vips: string[]): Pick<CapacityInput, 'nodes' | 'prefer'> {
  const first = Object.keys(c.nodes)[0] ?? '';
  const o = agentOptions(cfg, c, first, vips, Buffer.from('roamdns plan reads no secret'));
  return { nodes: Object.entries(o.nodes).map(([name, s]) => ({ name, weight: s.weight ?? 1 })), prefer: preferMap(o) };
}

/** The cluster from the config and zones, as `roamdns agent` reads them; the problems instead when it cannot. */
export function loadCapacityInput(cfg: RoamdnsConfig): CapacityInput | { problems: string[] } {
  const c = cfg.cluster;
  if (!c) return { problems: [`${cfg.file}: the config has no 'cluster' section; roamdns plan needs cluster.nodes and cluster.vips_from`] };
  if (Object.keys(c.nodes).length === 0) return { problems: [`${cfg.file}: cluster.nodes is empty`] };
  const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
  const store = new ZoneStore(source, quiet, dnsMetrics(new Registry()));
  try {
    const report = store.load('start');
    if (report.failed.length) return { problems: report.failed.flatMap((f) => f.problems.map(formatProblem)) };
  } catch (err) {
    return { problems: [`roamdns plan: cannot read zones from ${String(source)}: ${(err as Error).message}`] };
  }
  const zones = store.current();
  const vips = clusterVips(c, zones);
  if (vips.length === 0) return { problems: [`roamdns plan: no A/AAAA records for cluster.vips_from (${c.vips_from.join(', ')}) in the zones`] };
  try {
    const pools = c.vips_from.map((name) => ({ name, vips: [...new Set(addressesOf(zones, name).map((a) => canonicalIp(a) ?? a))] }));
    return { ...nodesAndPrefer(cfg, c, vips), pools: splitByFamily(pools) };
  } catch (err) {
    if (err instanceof AgentOptionsError) return { problems: err.problems.map((p) => `${cfg.file}: cluster: ${p}`) };
    throw err;
  }
}

/**
 * The cluster as configured, for serve's /status (`cluster`): the status page's what-if view then
 * uses the weights and prefer the agents use. Undefined without a cluster section.
 */
export function clusterPlanView(cfg: RoamdnsConfig, zones: ZoneSet): ClusterPlanView | undefined {
  const c = cfg.cluster;
  if (!c) return undefined;
  return {
    nodes: Object.fromEntries(Object.entries(c.nodes).map(([name, n]) => [name, { weight: n.weight ?? 1 }])),
    prefer: Object.fromEntries(preferMap({ prefer: c.prefer })),
    vips: clusterVips(c, zones).map((spec) => spec.split('/')[0]!),
  };
}

/** The holders now, as the agents report them (one holder per VIP; conflicts left out), and the nodes not live. */
async function liveView(cfg: RoamdnsConfig, input: CapacityInput): Promise<{ current: Map<string, string>; down: string[] } | { problems: string[] }> {
  let token: string | undefined;
  try {
    token = agentToken(cfg); // cluster.status_token_file, as serve sends it
  } catch (err) {
    if (err instanceof StatusTokenError) return { problems: [`roamdns plan --live: cluster.status_token_file: ${err.message}`] };
    throw err;
  }
  const reports = await fetchOwnership(agentStatusUrls(cfg), { timeoutMs: 1000, token });
  if (!reports.some((r) => r.ok)) {
    return { problems: [`roamdns plan --live: no agent answered: ${reports.map((r) => `${r.url} ${r.ok ? 'ok' : r.reason}`).join('; ')}`] };
  }
  const view = mergeOwnership(reports);
  const current = new Map([...view.holders].filter(([, hs]) => hs.length === 1).map(([vip, hs]) => [vip, hs[0]!]));
  return { current, down: input.nodes.map((n) => n.name).filter((n) => !view.live.includes(n)) };
}

// ---- the table for people --------------------------------------------------------------------

/** Left-aligned columns, two spaces apart, indented. */
function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => (indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).trimEnd());
}

function loadTable(plan: CapacityPlan, loads: NodeLoad[], baseline: boolean): string[] {
  const pools = plan.pools.length > 1 ? plan.pools.map((p) => p.name) : [];
  const head = ['node', 'VIPs', 'share', ...pools, baseline ? 'normal' : '× normal', 'limit', ''];
  const rows = loads.map((l) => [
    l.node, String(l.vips), pct(l.share), ...pools.map((p) => pct(l.poolShares[p]!)),
    baseline ? pct(l.normalShare) : (l.share / l.normalShare).toFixed(1), pct(l.limit),
    l.over.length ? `! above the limit${pools.length ? ` (${l.over.join(', ')})` : ''}` : '',
  ]);
  return table([head, ...rows]);
}

function scenarioText(plan: CapacityPlan, s: Scenario, live: boolean): string[] {
  const poolOf = (vip: string) => plan.pools.filter((p) => p.vips.includes(vip)).map((p) => p.name).join(', ');
  const multi = plan.pools.length > 1;
  if (s.failed.length === 0) {
    const title = live ? `Now, as the agents report${s.down.length ? ` (${s.down.join(', ')} not live)` : ''}` : 'Every node up';
    const head = [title, ...table([['VIP', 'holder', ...(multi ? ['pool'] : [])], ...vipsOf(plan).map((v) => [v, s.holders[v] ?? '-', ...(multi ? [poolOf(v)] : [])])])];
    return [...head, ...loadTable(plan, s.loads, true)];
  }
  const title = `${s.failed.join(' and ')} down: ${s.moved.length} VIP${s.moved.length === 1 ? '' : 's'} move${s.moved.length === 1 ? 's' : ''}`;
  const moves = s.moved.map((m) => [m.vip, `${m.from ?? '(nobody)'} → ${m.to ?? '(nobody)'}`]);
  return [title, ...(moves.length ? table(moves) : []), ...loadTable(plan, s.loads, false)];
}

/** The plan as people read it. */
export function renderPlan(plan: CapacityPlan, live = false): string {
  const vips = vipsOf(plan);
  const weighted = plan.nodes.some((n) => n.weight !== 1);
  const nodes = plan.nodes.map((n) => (weighted ? `${n.name} weight ${n.weight}` : n.name)).join(', ');
  const out = [
    `roamdns plan: ${plan.nodes.length} node${plan.nodes.length === 1 ? '' : 's'} (${nodes}), ${vips.length} VIP${vips.length === 1 ? '' : 's'} in ${plan.pools.map((p) => p.name).join(', ')}`,
    'Clients are assumed to spread evenly over a name\'s VIPs; normal share = weight / total weight;',
    `limit = ${plan.maxShare === null ? 'the larger of 50% and 2 × the normal share' : `${pct(plan.maxShare)} (--max-share)`}.`,
  ];
  for (const s of [plan.baseline, ...plan.failures]) out.push('', ...scenarioText(plan, s, live));
  if (plan.notes.length) out.push('', 'Notes', ...plan.notes.map((n) => `  - ${n.message}`));
  if (plan.suggestions.length) out.push('', 'VIP count', ...plan.suggestions.map((s) => `  - ${s.message}`));
  out.push('', plan.flagged ? `Flagged (${plan.findings.length}):` : 'Nothing flagged.');
  out.push(...plan.findings.map((f) => `  ! ${f.kind}: ${f.message}`));
  return `${out.join('\n')}\n`;
}

/** `roamdns plan`: 0 nothing flagged, 1 flagged, 2 config, zone or option problem (or, --live, no agent answered). */
export async function planCommand(cfg: RoamdnsConfig, flags: PlanFlags): Promise<number> {
  const maxShare = flags.maxShare === undefined ? undefined : parseShare(flags.maxShare);
  if (flags.maxShare !== undefined && maxShare === undefined) {
    process.stderr.write(`roamdns plan: --max-share '${flags.maxShare}' must be a share of the traffic above 0 and at most 1 (0.6 or 60%)\n`);
    return 2;
  }
  const input = loadCapacityInput(cfg);
  if ('problems' in input) {
    process.stderr.write(`${input.problems.join('\n')}\n`);
    return 2;
  }
  const live = flags.live ? await liveView(cfg, input) : undefined;
  if (live && 'problems' in live) {
    process.stderr.write(`${live.problems.join('\n')}\n`);
    return 2;
  }
  const plan = planCapacity(input, { pairs: flags.pairs === true, maxShare, ...live });
  const source = live ? 'live' : 'config';
  process.stdout.write(flags.json ? `${JSON.stringify({ source, ...plan }, null, 2)}\n` : renderPlan(plan, live !== undefined));
  return plan.flagged ? 1 : 0;
}
