// The failover test bed of issue 3: three nodes (198.51.100.2-.4) running the real `roamdns agent`
// and a web server that answers its node name, a client (.100) polling every VIP (.201-.203)
// every 10 ms. Used by test/netns and bench/failover.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bed, type BedProcess } from './bed.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const NODES = ['www1', 'www2', 'www3'] as const;
export const VIPS = ['198.51.100.201', '198.51.100.202', '198.51.100.203'];
/** The agents' API token in the bed (cluster.status_token_file). */
export const AGENT_TOKEN = 'bed-agent-token-0123456789';
const ADDRESSES: Record<string, string> = { www1: '198.51.100.2', www2: '198.51.100.3', www3: '198.51.100.4', client: '198.51.100.100' };

export interface PollResult { t: number; vip: string; ok: boolean; what: string }

export interface ClusterOptions {
  /** Extra YAML lines under `cluster:` (indented by two spaces). */
  clusterYaml?: string;
  /** Extra top-level YAML (e.g. `dns:`, `pools:` for a `roamdns serve` in the bed). */
  topYaml?: string;
  /** More hosts on the bridge (e.g. a DNS server). */
  extraHosts?: { name: string; address: string }[];
  /** A command line the agents are started through (e.g. setpriv with fewer rights). */
  agentPrefix?: string[];
}

export class Cluster {
  readonly bed: Bed;
  readonly dir: string;
  readonly agents = new Map<string, BedProcess>();
  readonly web = new Map<string, BedProcess>();
  private poller?: BedProcess;

  constructor(private readonly opts: ClusterOptions = {}) {
    this.bed = Bed.create([...[...NODES, 'client'].map((name) => ({ name, address: ADDRESSES[name]! })), ...(opts.extraHosts ?? [])]);
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-netns-'));
    const key = path.join(this.dir, 'cluster.key');
    writeFileSync(key, 'test-bed-secret-0123456789abcdef\n');
    chmodSync(key, 0o600);
    const token = path.join(this.dir, 'agent.token');
    writeFileSync(token, `${AGENT_TOKEN}\n`);
    chmodSync(token, 0o600);
    writeFileSync(path.join(this.dir, 'example.com.zone'), [
      '$ORIGIN example.com.', '$TTL 60', '@ SOA ns1 hostmaster 1 3600 600 86400 60', '@ NS ns1', 'ns1 A 198.51.100.53',
      'www1 A 198.51.100.2', 'www2 A 198.51.100.3', 'www3 A 198.51.100.4', ...VIPS.map((v) => `www A ${v}`), '',
    ].join('\n'));
    writeFileSync(path.join(this.dir, 'roamdns.yaml'), [
      'zones: [example.com.zone]',
      'log: { level: debug, format: json }',
      ...(opts.topYaml ? [opts.topYaml] : []),
      'cluster:',
      '  listen: 0.0.0.0:7946',
      '  status_listen: 0.0.0.0:8054',
      '  nodes:',
      ...NODES.map((n) => `    ${n}: { address: ${ADDRESSES[n]} }`),
      '  secret_file: cluster.key',
      '  status_token_file: agent.token',
      '  vips_from: [www.example.com]',
      '  interface: eth0',
      '  service_check: { http: "http://127.0.0.1:80/healthz" }',
      ...(opts.clusterYaml ? [opts.clusterYaml] : []),
      '',
    ].join('\n'));
  }

  get config(): string {
    return path.join(this.dir, 'roamdns.yaml');
  }

  startWeb(node: string): void {
    this.web.set(node, this.bed.spawn(node, [process.execPath, path.join(HERE, 'node-server.mjs'), node]));
  }

  startAgent(node: string): BedProcess {
    const p = this.bed.spawn(node, [...(this.opts.agentPrefix ?? []), process.execPath, path.join(REPO, 'dist/cli/main.js'), 'agent', '--config', this.config, '--node', node]);
    this.agents.set(node, p);
    return p;
  }

  /** Starts the web servers and agents of every node and the client's poller. */
  startAll(): void {
    for (const n of NODES) this.startWeb(n);
    for (const n of NODES) this.startAgent(n);
    this.poller = this.bed.spawn('client', [process.execPath, path.join(HERE, 'poller.mjs'), VIPS.join(','), '10', '900000', '50']);
  }

  /** Which nodes have each VIP on their interface right now. */
  holders(): Map<string, string[]> {
    const m = new Map<string, string[]>(VIPS.map((v) => [v, []]));
    for (const n of NODES) for (const a of this.bed.aliases(n)) m.get(a)?.push(n);
    return m;
  }

  /** True when every VIP has exactly one holder among `among`. */
  singleHolders(among: readonly string[] = NODES): boolean {
    return [...this.holders().values()].every((h) => h.length === 1 && among.includes(h[0]!));
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = Object.fromEntries(NODES.map((n) => [n, 0]));
    for (const h of this.holders().values()) for (const n of h) c[n]!++;
    return c;
  }

  /** Every poll result so far. */
  polls(): PollResult[] {
    return (this.poller?.output() ?? '').split('\n').filter(Boolean).map((l) => {
      const [t, vip, ok, what] = l.split(' ');
      return { t: Number(t), vip: vip!, ok: ok === 'ok', what: what ?? '' };
    }).filter((p) => Number.isFinite(p.t));
  }

  /** Longest stretch without a successful answer, per VIP, between `from` and `to` (epoch ms). */
  gaps(from: number, to = Date.now()): Record<string, number> {
    const out: Record<string, number> = {};
    for (const vip of VIPS) {
      const oks = this.polls().filter((p) => p.vip === vip && p.ok).map((p) => p.t);
      let last = oks.filter((t) => t <= from).pop() ?? from;
      let max = 0;
      for (const t of oks.filter((x) => x > from && x <= to)) { max = Math.max(max, t - last); last = t; }
      out[vip] = Math.max(max, to - last);
    }
    return out;
  }

  /** Which node answered each VIP last. */
  lastAnswer(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of this.polls()) if (p.ok) out[p.vip] = p.what;
    return out;
  }

  async destroy(): Promise<void> {
    await this.bed.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes; returns the time it took. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, detail?: () => string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
