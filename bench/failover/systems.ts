// The two failover systems on the same test bed (test/netns/cluster.ts), behind one interface the
// trials drive: start, crash a node, stop it cleanly, restore it, and say what happened when.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BedProcess } from '../../test/netns/bed.js';
import { Cluster, NODES, REPO, VIPS, sleep } from '../../test/netns/cluster.js';
import { instanceName, keepalivedArgs, keepalivedConf, parseKeepalivedState, type KeepalivedVariant } from './keepalived.js';
import { PollLog } from './polls.js';

export const POLL_INTERVAL_MS = 10;
export const POLL_TIMEOUT_MS = 50;
const POLLER_MAX_MS = 3_600_000; // the poller stops by itself after an hour at most

/** Something a daemon logged, with the wall-clock time it happened (epoch ms). */
export interface DaemonEvent {
  t: number;
  node: string;
  kind: 'peer-down' | 'peer-left' | 'acquired' | 'released' | 'stalled' | 'driver-error' | 'master' | 'backup' | 'fault';
  vip?: string;
  peer?: string;
  detail?: string;
}

interface Started { node: string; p: BedProcess; lines: { t: number; line: string }[] }

const live = new Set<System>();
/** Every system not yet destroyed: for the signal handlers of the run. */
export const liveSystems = (): System[] => [...live];

export abstract class System {
  readonly c: Cluster;
  polls!: PollLog;
  protected readonly started: Started[] = [];
  private poller?: BedProcess;

  constructor(readonly key: string, readonly label: string, clusterYaml?: string) {
    this.c = new Cluster({ clusterYaml });
    live.add(this);
  }

  /** Web servers and the client's poller (10 ms interval, 50 ms timeout). */
  protected startBase(): void {
    for (const n of NODES) this.c.startWeb(n);
    this.poller = this.c.bed.spawn('client', [process.execPath, path.join(REPO, 'test/netns/poller.mjs'), VIPS.join(','),
      String(POLL_INTERVAL_MS), String(POLLER_MAX_MS), String(POLL_TIMEOUT_MS)]);
    this.polls = new PollLog(this.poller.child, VIPS);
  }

  /** Spawns a daemon in a node's namespace, keeping every output line with its arrival time. */
  protected spawnDaemon(node: string, args: string[]): BedProcess {
    const p = this.c.bed.spawn(node, args);
    const s: Started = { node, p, lines: [] };
    let rest = '';
    const feed = (d: Buffer) => {
      const t = Date.now();
      const parts = (rest + d.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) if (line) s.lines.push({ t, line });
    };
    p.child.stdout!.on('data', feed);
    p.child.stderr!.on('data', feed);
    this.started.push(s);
    return p;
  }

  abstract startNode(node: string): void;
  /**
   * Takes the node's link down, then SIGKILLs the daemon. The link first: `ip link set down`
   * takes a few ms (tens on a loaded machine), and the fault must start for the client and the
   * peers at one moment, so the gap is not shortened by a web server still reachable after the kill.
   */
  abstract crash(node: string): void;
  /** A clean stop, as an operator or systemd does it; resolves when the daemon exited. */
  abstract stopNode(node: string): Promise<unknown>;
  abstract events(): DaemonEvent[];

  async start(): Promise<void> {
    this.startBase();
    for (const n of NODES) this.startNode(n);
    await this.waitSteady(30_000);
  }

  holdersOf(vip: string): string[] {
    return this.c.holders().get(vip) ?? [];
  }

  /** Every VIP on exactly one node, 1/1/1, and answered by its holder for the last ~300 ms. */
  isSteady(): boolean {
    if (!VIPS.every((v) => this.polls.answering(v, 25))) return false; // cheap: no `ip` runs
    const h = this.c.holders();
    if (![...h.values()].every((x) => x.length === 1)) return false;
    if (!Object.values(this.c.counts()).every((n) => n === 1)) return false;
    return VIPS.every((v) => this.polls.answering(v, 25, (n) => n === h.get(v)![0]));
  }

  /** Checks every 100 ms (each check runs `ip addr` in three namespaces: keep the bench's own load low). */
  async waitSteady(timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (!this.isSteady()) {
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for every VIP on one node, 1/1/1, answering\n` +
          `holders ${JSON.stringify([...this.c.holders()])}\n${this.tail()}`);
      }
      await sleep(100);
    }
  }

  /** The machine came back after a crash: a reboot starts with no aliases, then the link, then the daemon. */
  async restore(node: string, after: 'crash' | 'graceful'): Promise<void> {
    if (after === 'crash') {
      for (const vip of this.c.bed.aliases(node, { all: true })) {
        if (VIPS.includes(vip)) this.c.bed.exec(node, ['ip', 'addr', 'del', `${vip}/32`, 'dev', 'eth0']);
      }
      try { this.c.bed.exec(node, ['nft', 'delete', 'table', 'arp', 'roamdns']); } catch { /* none: nothing to clear */ }
      this.c.bed.link(node, true);
    }
    this.startNode(node);
    await this.waitSteady(30_000);
  }

  /** The last lines of every daemon, for error messages. */
  tail(n = 8): string {
    return this.started.map((s) => `--- ${s.node}\n${s.lines.slice(-n).map((l) => l.line).join('\n')}`).join('\n');
  }

  async destroy(): Promise<void> {
    live.delete(this);
    await this.c.destroy();
  }

  destroySync(): void {
    live.delete(this);
    this.c.bed.destroySync();
  }
}

/**
 * `roamdns agent` on every node, at its defaults or with extra `cluster:` lines; with `realtime`,
 * under SCHED_RR priority 10 (`chrt -r 10`), as keepalived's `vrrp_rt_priority` would run VRRP.
 */
export class RoamdnsSystem extends System {
  constructor(key: string, label: string, private readonly o: { agentMain: string; clusterYaml?: string; realtime?: boolean }) {
    super(key, label, o.clusterYaml);
  }

  startNode(node: string): void {
    const agent = [process.execPath, this.o.agentMain, 'agent', '--config', this.c.config, '--node', node];
    const p = this.spawnDaemon(node, this.o.realtime ? ['chrt', '-r', '10', ...agent] : agent);
    this.c.agents.set(node, p);
  }

  crash(node: string): void {
    this.c.bed.link(node, false);
    this.c.agents.get(node)!.child.kill('SIGKILL');
  }

  stopNode(node: string): Promise<unknown> {
    return this.c.agents.get(node)!.stop(3000);
  }

  events(): DaemonEvent[] {
    const out: DaemonEvent[] = [];
    for (const s of this.started) {
      for (const { line } of s.lines) {
        if (line[0] !== '{') continue;
        let j: { time?: number; msg?: string; vip?: string; peer?: string; change?: string; reason?: string; stalledMs?: number; op?: string; err?: string };
        try { j = JSON.parse(line); } catch { continue; }
        const base = { t: j.time ?? 0, node: s.node };
        if (j.msg === 'peer changed' && (j.change === 'down' || j.change === 'left')) out.push({ ...base, kind: j.change === 'down' ? 'peer-down' : 'peer-left', peer: j.peer });
        else if (j.msg === 'vip acquired') out.push({ ...base, kind: 'acquired', vip: j.vip, detail: j.reason });
        else if (j.msg === 'vip released') out.push({ ...base, kind: 'released', vip: j.vip, detail: j.reason });
        else if (j.msg?.startsWith('agent was stalled')) out.push({ ...base, kind: 'stalled', detail: `${j.stalledMs} ms` });
        else if (j.msg === 'alias driver failed') out.push({ ...base, kind: 'driver-error', vip: j.vip, detail: `${j.op}: ${j.err}` });
      }
    }
    return out.sort((a, b) => a.t - b.t);
  }
}

/** keepalived (VRRP) on every node: one instance per VIP. */
export class KeepalivedSystem extends System {
  private readonly parents = new Map<string, BedProcess>();

  constructor(readonly variant: KeepalivedVariant) {
    super(variant.key, variant.label);
    for (const n of NODES) writeFileSync(this.file(n, 'conf'), keepalivedConf(n, variant), { mode: 0o644 });
  }

  private file(node: string, what: 'conf' | 'pid' | 'vrrp.pid'): string {
    return path.join(this.c.dir, `keepalived-${node}.${what}`);
  }

  startNode(node: string): void {
    // After a SIGKILL the pid files stay, and their pids may still exist as zombies: keepalived
    // would then refuse to start ("daemon is already running").
    for (const f of ['pid', 'vrrp.pid'] as const) rmSync(this.file(node, f), { force: true });
    this.parents.set(node, this.spawnDaemon(node, keepalivedArgs(this.file(node, 'conf'), this.file(node, 'pid'), this.file(node, 'vrrp.pid'))));
  }

  /** The VRRP child first (so it cannot send a priority-0 advert on its parent's death), then the parent. */
  crash(node: string): void {
    this.c.bed.link(node, false);
    try { process.kill(Number(readFileSync(this.file(node, 'vrrp.pid'), 'utf8').trim()), 'SIGKILL'); } catch { /* already gone */ }
    this.parents.get(node)!.child.kill('SIGKILL');
  }

  stopNode(node: string): Promise<unknown> {
    return this.parents.get(node)!.stop(5000);
  }

  events(): DaemonEvent[] {
    const out: DaemonEvent[] = [];
    for (const s of this.started) {
      for (const { t, line } of s.lines) {
        const st = parseKeepalivedState(line);
        if (st) out.push({ t, node: s.node, kind: st.state === 'MASTER' ? 'master' : st.state === 'BACKUP' ? 'backup' : 'fault', vip: st.vip, detail: instanceName(st.vip) });
      }
    }
    return out.sort((a, b) => a.t - b.t);
  }
}
