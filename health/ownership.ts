// Ownership: asks the failover agents (GET <agent status URL>, JSON; contract in health/README.md)
// which live node holds each VIP, and merges their views. An unreachable agent is data (a report
// with `ok: false`), never an exception.
//
// Merging, per node X (the holders of a VIP are the live nodes whose holds include it):
//
// | X's own agent (fresh report)  | reachable peers' member entries for X | X live? | X holds            |
// |-------------------------------|---------------------------------------|---------|--------------------|
// | answered                      | ignored                               | yes     | its own `holds`    |
// | not answered (or stale)       | at least one says alive               | yes     | union of those     |
// |                               |                                       |         | peers' `holds`     |
// | not answered (or stale)       | all say dead, or none mentions X      | no      | nothing            |
//
// A node's own report wins because `holds` is what is on its interface. Peers are consulted when
// the DNS side cannot reach X but the cluster can (a partition between DNS and one node); the
// probe still decides whether the service answers. No agent reachable at all means no live
// holder anywhere: every VIP is an orphan, and the answers follow `when_all_down`.
import net from 'node:net';
import { request } from 'undici';
import { defaultDispatchers, type ProbeDispatchers } from './probe.js';

export interface AgentMember {
  name: string;
  alive: boolean;
  holds: string[];
}

/** The body of an agent's `GET /status`. */
export interface AgentStatus {
  node: string;
  state: string;
  holds: string[];
  members: AgentMember[];
}

export type AgentReport =
  | { url: string; ok: true; status: AgentStatus; latencyMs: number; at: number }
  | { url: string; ok: false; reason: string; latencyMs: number; at: number };

export interface OwnershipView {
  /** When the newest report in it was fetched (clock ms). */
  at: number;
  /** Canonical VIP -> sorted names of the live nodes that hold it. */
  holders: ReadonlyMap<string, readonly string[]>;
  /** Live node names. */
  live: readonly string[];
  /** Per agent URL: reachable or why not. */
  agents: ReadonlyArray<{ url: string; ok: boolean; node?: string; reason?: string }>;
}

export interface FetchOwnershipOptions {
  /** Default 500. */
  timeoutMs?: number;
  dispatchers?: ProbeDispatchers;
  /** Clock ms stamped on each report; default Date.now. */
  now?: () => number;
  /** Bearer token for the agents' API (cluster.status_token_file). */
  token?: string;
}

const MAX_STATUS_BYTES = 1 << 20;

/** `2001:DB8:0::1`, `[2001:db8::1]` and `2001:db8::1` are the same VIP. */
export function canonicalIp(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return net.isIPv6(bare) ? new URL(`http://[${bare}]/`).hostname.slice(1, -1) : bare;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Validates a parsed /status body; returns a message when it breaks the contract. */
export function validateAgentStatus(body: unknown): AgentStatus | string {
  const b = body as Partial<AgentStatus> | null;
  if (typeof b !== 'object' || b === null) return 'not a JSON object';
  if (typeof b.node !== 'string' || b.node === '') return '"node" must be a non-empty string';
  if (!isStringList(b.holds)) return '"holds" must be a list of addresses';
  const members = b.members ?? [];
  if (!Array.isArray(members)) return '"members" must be a list';
  for (const [i, m] of members.entries()) {
    const mm = m as Partial<AgentMember> | null;
    if (typeof mm !== 'object' || mm === null || typeof mm.name !== 'string' || typeof mm.alive !== 'boolean' || !isStringList(mm.holds)) {
      return `"members[${i}]" must be { name: string, alive: boolean, holds: string[] }`;
    }
  }
  return { node: b.node, state: typeof b.state === 'string' ? b.state : 'unknown', holds: b.holds, members: members as AgentMember[] };
}

/** GET one agent's status URL. Never throws. */
export async function fetchAgentStatus(url: string, opts: FetchOwnershipOptions = {}): Promise<AgentReport> {
  const timeoutMs = opts.timeoutMs ?? 500;
  const at = (opts.now ?? Date.now)();
  const started = performance.now();
  const fail = (reason: string): AgentReport => ({ url, ok: false, reason, latencyMs: Math.round(performance.now() - started), at });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`timeout after ${timeoutMs}ms`)), timeoutMs);
  try {
    const dispatcher = (opts.dispatchers ?? defaultDispatchers).get(true, undefined, timeoutMs);
    const res = await request(url, { dispatcher, signal: abort.signal, reset: true, headers: { accept: 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) } });
    let text = '';
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_STATUS_BYTES) {
        res.body.destroy();
        return fail(`status body larger than ${MAX_STATUS_BYTES} bytes`);
      }
    }
    if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return fail('status body is not JSON');
    }
    const status = validateAgentStatus(parsed);
    if (typeof status === 'string') return fail(`bad status: ${status}`);
    return { url, ok: true, status, latencyMs: Math.round(performance.now() - started), at };
  } catch (err) {
    if (abort.signal.aborted) return fail(`timeout after ${timeoutMs}ms`);
    const e = err as { code?: string; message?: string };
    return fail(`${e.code ?? 'ERROR'}: ${String(e.message ?? err).split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Asks every agent at once. */
export function fetchOwnership(urls: readonly string[], opts: FetchOwnershipOptions = {}): Promise<AgentReport[]> {
  return Promise.all(urls.map((u) => fetchAgentStatus(u, opts)));
}

/** Merges agent reports into one view, by the table at the top of this file. Pure. */
export function mergeOwnership(reports: readonly AgentReport[]): OwnershipView {
  const self = new Map<string, string[]>();
  const peerAlive = new Map<string, Set<string>>();
  for (const r of reports) {
    if (!r.ok) continue;
    self.set(r.status.node, r.status.holds);
  }
  for (const r of reports) {
    if (!r.ok) continue;
    for (const m of r.status.members) {
      if (self.has(m.name) || !m.alive) continue;
      const holds = peerAlive.get(m.name) ?? new Set<string>();
      for (const vip of m.holds) holds.add(vip);
      peerAlive.set(m.name, holds);
    }
  }
  const holders = new Map<string, string[]>();
  const claim = (node: string, vips: Iterable<string>) => {
    for (const vip of vips) {
      const key = canonicalIp(vip);
      const list = holders.get(key) ?? [];
      if (!list.includes(node)) list.push(node);
      holders.set(key, list);
    }
  };
  for (const [node, holds] of self) claim(node, holds);
  for (const [node, holds] of peerAlive) claim(node, holds);
  for (const list of holders.values()) list.sort();
  return {
    at: Math.max(0, ...reports.map((r) => r.at)),
    holders,
    live: [...new Set([...self.keys(), ...peerAlive.keys()])].sort(),
    agents: reports.map((r) => (r.ok ? { url: r.url, ok: true, node: r.status.node } : { url: r.url, ok: false, reason: r.reason })),
  };
}

/**
 * Keeps each agent's last good report for `maxAgeMs`, so one lost poll (packet loss, a slow
 * agent) does not withdraw every VIP for a round. Older reports count as unreachable.
 */
export class OwnershipTracker {
  /** Per URL: the last good report and when (the caller's clock) it arrived. */
  private readonly lastGood = new Map<string, { report: AgentReport; seenAt: number }>();
  constructor(private readonly maxAgeMs: number) {}

  update(reports: readonly AgentReport[], now: number): OwnershipView {
    const effective = reports.map((r) => {
      if (r.ok) {
        this.lastGood.set(r.url, { report: r, seenAt: now });
        return r;
      }
      const prev = this.lastGood.get(r.url);
      return prev && now - prev.seenAt <= this.maxAgeMs ? prev.report : r;
    });
    const urls = new Set(reports.map((r) => r.url));
    for (const url of this.lastGood.keys()) if (!urls.has(url)) this.lastGood.delete(url);
    return mergeOwnership(effective);
  }
}
