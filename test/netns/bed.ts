// A throw-away cluster test bed: one network namespace per host, joined by a bridge that lives
// in a namespace of its own, so nothing touches the host's network. Addresses come from
// 198.51.100.0/24 and 2001:db8::/64 (documentation prefixes) and exist only inside the bed.
// Needs root (CI runs as root); fails with a clear message otherwise. Cleans up on destroy()
// and, as a last resort, when the test process exits.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseQuietSet } from '../../failover/driver.js';

/*
 * One bed at a time on the machine (test files run in parallel): the scenarios measure gaps of
 * tens of milliseconds, and two clusters of agents, web servers and 10 ms pollers on 2 cores
 * starve each other into failures that say nothing about roamdns. The lock is a folder holding
 * the owner's pid; a dead owner's lock is taken over; it is re-entrant within a process.
 */
const BED_LOCK = path.join(os.tmpdir(), 'roamdns-netns-bed.lock');
/** How long Bed.create may wait for another file's bed: hooks and tests that create one add it to their timeout. */
export const BED_LOCK_WAIT_MS = 10 * 60_000;
let bedLockHeld = 0;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

function acquireBedLock(): void {
  if (bedLockHeld++ > 0) return;
  const deadline = Date.now() + BED_LOCK_WAIT_MS;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(BED_LOCK);
      writeFileSync(path.join(BED_LOCK, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') { bedLockHeld--; throw e; }
    }
    let owner = 0;
    try { owner = Number(readFileSync(path.join(BED_LOCK, 'pid'), 'utf8')); } catch { /* being written */ }
    if (owner > 0 && !alive(owner)) { rmSync(BED_LOCK, { recursive: true, force: true }); continue; }
    if (Date.now() > deadline) { bedLockHeld--; throw new Error(`${BED_LOCK}: another test bed (pid ${owner}) has held it for over 10 minutes`); }
    Atomics.wait(nap, 0, 0, 200); // a synchronous sleep: Bed.create is synchronous
  }
}

function releaseBedLock(): void {
  if (bedLockHeld === 0 || --bedLockHeld > 0) return;
  rmSync(BED_LOCK, { recursive: true, force: true });
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  address6: string;
}

export interface BedProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

const live = new Set<Bed>();
process.once('exit', () => { for (const b of live) b.destroySync(); });

function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Throws a clear error unless we can make namespaces (root with ip from iproute2). */
export function requireNetns(): void {
  if (process.getuid?.() !== 0) throw new Error('the namespace test bed needs root (CI runs as root): run the tests as root');
  try { sh(['ip', '-V']); } catch { throw new Error('ip not found: apt-get install iproute2'); }
}

export class Bed {
  readonly hosts = new Map<string, Host>();
  private readonly procs = new Set<BedProcess>();
  private destroyed = false;

  private constructor(readonly id: string, private readonly sw: string) {}

  /** Builds the bed; a host given by name only gets 198.51.100.(10+i) and 2001:db8::(10+i). */
  static create(hostSpecs: (string | { name: string; address: string })[]): Bed {
    requireNetns();
    acquireBedLock();
    const id = randomBytes(2).toString('hex');
    const bed = new Bed(id, `rd${id}-sw`);
    live.add(bed);
    try {
      sh(['ip', 'netns', 'add', bed.sw]);
      sh(['ip', '-n', bed.sw, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
      sh(['ip', '-n', bed.sw, 'link', 'set', 'br0', 'up']);
      hostSpecs.forEach((h, i) => bed.addHost(typeof h === 'string' ? { name: h, address: `198.51.100.${10 + i}` } : h, i));
    } catch (err) {
      bed.destroySync();
      throw err;
    }
    return bed;
  }

  private addHost(spec: { name: string; address: string }, i: number): void {
    const { name } = spec;
    const ns = `rd${this.id}-${name}`;
    const peer = `v${this.id}${i}`;
    const last = Number(spec.address.split('.')[3]);
    const host: Host = { name, ns, address: spec.address, address6: `2001:db8::${last.toString(16)}` };
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', this.sw, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh(['ip', '-n', this.sw, 'link', 'set', peer, 'master', 'br0', 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', ns, 'addr', 'add', `${host.address6}/64`, 'dev', 'eth0', 'nodad']);
    sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    this.hosts.set(name, host);
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the bed`);
    return h;
  }

  /** Runs a command inside a host's namespace and returns its stdout. */
  exec(name: string, args: string[], input?: string): string {
    return sh(['ip', 'netns', 'exec', this.host(name).ns, ...args], input);
  }

  /** Starts a long-running process inside a host's namespace. */
  spawn(name: string, args: string[], env: NodeJS.ProcessEnv = {}): BedProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(name).ns, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    const p: BedProcess = {
      child, exited, output: () => out,
      stop: async (graceMs = 3000) => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        }
        this.procs.delete(p);
        return exited;
      },
    };
    this.procs.add(p);
    return p;
  }

  /** The host's addresses on eth0 besides its own; by default only those that answer ARP (not quiet). */
  aliases(name: string, o: { all?: boolean } = {}): string[] {
    const h = this.host(name);
    const j = JSON.parse(this.exec(name, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: { local: string; scope: string }[] }[];
    const all = j.flatMap((l) => l.addr_info).filter((a) => a.scope !== 'link' && a.local !== h.address && a.local !== h.address6).map((a) => a.local).sort();
    if (o.all) return all;
    const quiet = this.quiet(name);
    return all.filter((a) => !quiet.includes(a));
  }

  /** VIPs the host's agent released quietly (still on the interface, not answering ARP): its nft quiet set. */
  quiet(name: string): string[] {
    try {
      return parseQuietSet(this.exec(name, ['nft', '-j', 'list', 'set', 'arp', 'roamdns', 'quiet']));
    } catch {
      return []; // no table (yet): nothing is quiet
    }
  }

  /** Cuts or restores a host's link (the switch side, so the host sees carrier loss too). */
  link(name: string, up: boolean): void {
    const i = [...this.hosts.keys()].indexOf(name);
    sh(['ip', '-n', this.sw, 'link', 'set', `v${this.id}${i}`, up ? 'up' : 'down']);
  }

  /** Drops `percent` of the packets arriving on the host's eth0 with nftables (this kernel has no netem). */
  loss(name: string, percent: number): void {
    this.exec(name, ['nft', 'add', 'table', 'inet', 'roamloss']);
    this.exec(name, ['nft', 'add', 'chain', 'inet', 'roamloss', 'in', '{ type filter hook input priority 0; policy accept; }']);
    this.exec(name, ['nft', 'add', 'rule', 'inet', 'roamloss', 'in', 'iifname', 'eth0', 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop']);
  }

  clearLoss(name: string): void {
    try { this.exec(name, ['nft', 'delete', 'table', 'inet', 'roamloss']); } catch { /* none */ }
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(1000)));
    this.destroySync();
  }

  /** Kills whatever still runs in the namespaces and deletes them. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of [...[...this.hosts.values()].map((h) => h.ns), this.sw]) {
      try {
        const pids = sh(['ip', 'netns', 'pids', ns]).split(/\s+/).filter(Boolean);
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
      } catch { /* no such namespace */ }
      try { sh(['ip', 'netns', 'del', ns]); } catch { /* already gone */ }
    }
    releaseBedLock();
  }
}
