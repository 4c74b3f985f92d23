// AgentOptions: everything `roamdns agent` needs, as a config loader fills it, with justified defaults and validation.
import { createHash } from 'node:crypto';
import { parseVipSpec, canonicalIp, type VipSpec } from './ip.js';
import { MAX_NAME_BYTES } from './heartbeat.js';

/*
 * Timing defaults. The budget: crash → survivor serves in ≤ 500 ms (median), zero
 * spurious moves with 20 % packet loss on every link, no move when a node bounces.
 *
 * - heartbeatMs 25: a peer is declared dead only when every heartbeat sent in the
 *   dead_after window after the last one that arrived is lost: m = 400 / 25 − 1 = 15 in a
 *   row. At 20 % loss that is 0.8 × 0.2^15 ≈ 2.6e-11 per heartbeat per directed pair, about
 *   2e-5 false deaths an hour on 3 nodes under *sustained* 20 % loss. At 50 ms (m = 7) it
 *   would be about 4 an hour — a few percent chance of a spurious move in every 30 s
 *   of such loss. Cost: 40 packets of ~100 bytes a second per peer, one HMAC each.
 * - deadAfterMs 400: crash gap ≈ dead_after − (age of the last heartbeat, ~12 ms)
 *   + ip addr add + first gratuitous ARP (~10–20 ms) ≈ 400–420 ms median, inside 500.
 * - matureMs 3000: longer than a link flap or an agent restart takes to be noticed
 *   twice (several dead_after), so a bouncing node does not pull VIPs back and forth;
 *   short enough that a rebooted node is balanced in again within seconds.
 * - handoffTimeoutMs = 2 × dead_after: a planned move whose recipient never claims the
 *   VIP is reopened to whoever the assignment names after that.
 * - announce: 3 gratuitous ARPs / NAs, 200 ms apart (the first one at once), as
 *   keepalived's garp_master_repeat does; one lost frame does not strand clients.
 */
export const DEFAULT_HEARTBEAT_MS = 25;
export const DEFAULT_DEAD_AFTER_MS = 400;
export const DEFAULT_MATURE_MS = 3000;
export const DEFAULT_PORT = 7946;
export const DEFAULT_ANNOUNCE = { count: 3, intervalMs: 200 } as const;
export const DEFAULT_NOTIFY_TIMEOUT_MS = 5000;
/** As the pools' probes in DESIGN.md: a check a second, down after 3 failures, up after 2 passes. */
export const DEFAULT_SERVICE_CHECK = { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 } as const;

export interface NodeSpec {
  address: string;
  port?: number; // default: AgentOptions.port
  weight?: number; // positive integer, default 1
}

export type ServiceCheckTarget = { http: string } | { tcp: { host: string; port: number } };

export interface ServiceCheckOptions {
  target: ServiceCheckTarget;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export interface AgentOptions {
  nodeName: string;
  nodes: Record<string, NodeSpec>;
  port: number; // heartbeat port of nodes without their own
  heartbeatMs: number;
  deadAfterMs: number;
  matureMs: number;
  handoffTimeoutMs: number;
  vips: string[]; // 'ADDRESS[/PREFIX]', from the zone's A/AAAA records of cluster.vips_from
  prefer: Record<string, string>; // vip → node
  interface: string;
  secret: Uint8Array; // key bytes, from readSecret(cluster.secret_file)
  notify?: { command: string; timeoutMs: number };
  serviceCheck?: ServiceCheckOptions;
  announce: { count: number; intervalMs: number };
  checkSource: boolean; // drop packets whose source address is not the sender's configured address
}

/** What a config loader must give; everything else has a default. */
export type AgentOptionsInput = Pick<AgentOptions, 'nodeName' | 'nodes' | 'vips' | 'interface' | 'secret'> &
  Partial<Omit<AgentOptions, 'serviceCheck' | 'notify'>> & {
    serviceCheck?: Partial<ServiceCheckOptions> & { target: ServiceCheckTarget };
    notify?: { command: string; timeoutMs?: number };
  };

export class AgentOptionsError extends Error {
  readonly code = 'EAGENT_OPTIONS';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'AgentOptionsError';
  }
}

function checkTiming(o: AgentOptions, problems: string[]): void {
  const pos = (k: 'heartbeatMs' | 'deadAfterMs' | 'matureMs' | 'handoffTimeoutMs') => {
    if (!Number.isFinite(o[k]) || o[k] <= 0) problems.push(`${k}: ${o[k]} must be a positive number of milliseconds`);
  };
  (['heartbeatMs', 'deadAfterMs', 'matureMs', 'handoffTimeoutMs'] as const).forEach(pos);
  if (o.deadAfterMs < 3 * o.heartbeatMs) problems.push(`deadAfterMs: ${o.deadAfterMs} must be at least 3 × heartbeatMs (${3 * o.heartbeatMs}) or one lost packet kills a peer`);
  if (!Number.isInteger(o.announce.count) || o.announce.count < 0 || o.announce.count > 100) problems.push(`announce.count: ${o.announce.count} must be 0..100`);
  const sc = o.serviceCheck;
  if (sc) {
    if (!(sc.intervalMs > 0) || !(sc.timeoutMs > 0)) problems.push('serviceCheck: intervalMs and timeoutMs must be positive');
    if (!Number.isInteger(sc.rise) || sc.rise < 1 || !Number.isInteger(sc.fall) || sc.fall < 1) problems.push('serviceCheck: rise and fall must be positive integers');
    if ('http' in sc.target && !/^https?:\/\//.test(sc.target.http)) problems.push(`serviceCheck.http: "${sc.target.http}" is not an http(s) URL`);
  }
}

function checkNodes(o: AgentOptions, problems: string[]): void {
  const names = Object.keys(o.nodes);
  if (!names.includes(o.nodeName)) problems.push(`nodeName: "${o.nodeName}" is not one of nodes (${names.join(', ') || 'none'})`);
  for (const [name, n] of Object.entries(o.nodes)) {
    const bytes = Buffer.byteLength(name);
    if (bytes < 1 || bytes > MAX_NAME_BYTES || /[\u0000-\u001f\u007f]/.test(name)) problems.push(`nodes.${name}: name must be 1..${MAX_NAME_BYTES} bytes without control characters`);
    if (!canonicalIp(n.address)) problems.push(`nodes.${name}.address: "${n.address}" is not an IP address`);
    if (n.weight !== undefined && (!Number.isInteger(n.weight) || n.weight < 1)) problems.push(`nodes.${name}.weight: ${n.weight} must be a positive integer`);
    if (n.port !== undefined && (!Number.isInteger(n.port) || n.port < 1 || n.port > 65535)) problems.push(`nodes.${name}.port: ${n.port} must be 1..65535`);
  }
}

function checkVips(o: AgentOptions, problems: string[]): void {
  const seen = new Set<string>();
  for (const v of o.vips) {
    try {
      const spec = parseVipSpec(v);
      if (seen.has(spec.address)) problems.push(`vips: ${spec.address} listed twice`);
      seen.add(spec.address);
    } catch (e) { problems.push(`vips: ${(e as Error).message}`); }
  }
  for (const [vip, node] of Object.entries(o.prefer)) {
    const c = canonicalIp(vip);
    if (!c || !seen.has(c)) problems.push(`prefer.${vip}: not one of the VIPs`);
    if (!(node in o.nodes)) problems.push(`prefer.${vip}: node "${node}" is not one of nodes`);
  }
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(o.interface)) problems.push(`interface: "${o.interface}" is not a Linux interface name (1..15 characters)`);
  if (o.secret.length === 0) problems.push('secret: empty key');
}

/** Applies defaults and checks every field; throws AgentOptionsError listing all problems. */
export function resolveAgentOptions(input: AgentOptionsInput): AgentOptions {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as AgentOptionsInput;
  const deadAfterMs = given.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
  const o: AgentOptions = {
    port: DEFAULT_PORT, heartbeatMs: DEFAULT_HEARTBEAT_MS, deadAfterMs, matureMs: DEFAULT_MATURE_MS,
    handoffTimeoutMs: 2 * deadAfterMs, prefer: {}, announce: { ...DEFAULT_ANNOUNCE }, checkSource: true, ...given,
    serviceCheck: given.serviceCheck && { ...DEFAULT_SERVICE_CHECK, ...given.serviceCheck },
    notify: given.notify && { timeoutMs: DEFAULT_NOTIFY_TIMEOUT_MS, ...given.notify },
  };
  const problems: string[] = [];
  checkTiming(o, problems);
  checkNodes(o, problems);
  checkVips(o, problems);
  if (problems.length > 0) throw new AgentOptionsError(problems);
  return o;
}

/** VIPs as parsed specs (canonical addresses), in configuration order. */
export function vipSpecs(o: Pick<AgentOptions, 'vips'>): VipSpec[] {
  return o.vips.map(parseVipSpec);
}

/** prefer with canonical VIP keys. */
export function preferMap(o: Partial<Pick<AgentOptions, 'prefer'>>): Map<string, string> {
  return new Map(Object.entries(o.prefer ?? {}).map(([v, n]) => [canonicalIp(v) ?? v, n]));
}

/**
 * 8-byte digest of what every node must agree on (VIPs, nodes and weights, prefer):
 * carried in heartbeats so a node whose zone or config differs is noticed and logged.
 */
export function configDigest(o: Pick<AgentOptions, 'vips' | 'nodes'> & Partial<Pick<AgentOptions, 'prefer'>>): string {
  const vips = vipSpecs(o).map((s) => `${s.address}/${s.prefix}`).sort();
  const nodes = Object.entries(o.nodes).map(([n, s]) => `${n}=${s.weight ?? 1}`).sort();
  const prefer = [...preferMap(o)].map(([v, n]) => `${v}=${n}`).sort();
  return createHash('sha256').update(JSON.stringify([vips, nodes, prefer])).digest().subarray(0, 8).toString('hex');
}
