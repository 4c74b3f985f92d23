// The Linux alias driver: adds and removes VIPs with `ip addr`, reconciles on start, announces with arping / ndptool.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from './deps.js';
import type { VipSpec } from './ip.js';

/*
 * Commands (all through the injected exec, so tests run none of them):
 *
 * | operation        | IPv4                                                   | IPv6                                   |
 * |------------------|--------------------------------------------------------|----------------------------------------|
 * | list             | ip -j addr show dev IFACE                              | (same)                                 |
 * | add              | ip -4 addr add VIP/PREFIX dev IFACE label IFACE:roam   | ip -6 addr add VIP/PREFIX dev IFACE    |
 * |                  |                                                        |   nodad  (usable at once; duplicates   |
 * |                  |                                                        |   are the protocol's job, not DAD's)   |
 * | del              | ip addr del VIP/PREFIX dev IFACE                       | (same)                                 |
 * | announce, each   | iputils: arping -q -U -c 1 -I IFACE VIP                | ndptool -t na -U -i IFACE -T VIP send  |
 * | of `count` times | Habets:  arping -q -U -S VIP -c 1 -i IFACE VIP         |   (libndp-tools: unsolicited NA to     |
 * | `intervalMs` apart                                                        |   all-nodes with the Override flag)    |
 *
 * Quiet release (IPv4, when nft is installed): a node that hands a VIP over first stops
 * answering ARP for it and keeps the address, so requests that clients still send to its MAC
 * are served instead of lost while the recipient takes over; the alias is deleted once the
 * recipient has announced. One nftables table of its own, rebuilt by reconcile:
 *
 *   table arp roamdns {
 *     set quiet { type ipv4_addr; }                       # VIPs being handed over
 *     chain in  { type filter hook input priority -10; arp operation request arp daddr ip @quiet drop; }
 *     chain out { type filter hook output priority -10; arp saddr ip @quiet drop; }
 *   }
 *
 * | operation | command                                             |
 * |-----------|-----------------------------------------------------|
 * | quiesce   | nft add element arp roamdns quiet { VIP }            |
 * | add / del | (after ip addr) nft delete element … { VIP } if quiet|
 * Without nft (or for IPv6, whose neighbour discovery it does not cover) release is a plain del.
 *
 * The out rule also drops the ARP requests the kernel itself sends to resolve a neighbour
 * when they carry a quiet VIP as sender: with net.ipv4.conf.IFACE.arp_announce 0 (the
 * default) the sender is the source of the packet waiting for resolution, so the first
 * reply a quiet VIP serves to a client (or router) not in the neighbour table leaves that
 * entry INCOMPLETE, and every packet to that neighbour, from any address, waits behind it
 * for seconds. Letting such a request out is no better: it makes the receiver point the
 * VIP at this node again. So the table is only used with arp_announce 2 (requests come
 * from the interface's own address): the driver sets it on IFACE when it builds the table
 * (its sysctl option; createLinuxAgent passes /proc/sys), and without it quiet release is off.
 *
 * Announcements stop once the VIP is quiesced or deleted: announce() takes the VIP's epoch
 * when it is called, and quiesce() / del() wait for an arping already running (it writes
 * to a packet socket, which the nft table does not see) before they act.
 *
 * Idempotent: "File exists" on add and "Cannot assign requested address" on del are
 * success. IPv6 addresses carry no label, so they are recognised by the VIP set.
 * Note: deleting the *primary* IPv4 address of a subnet deletes its secondaries unless
 * net.ipv4.conf.IFACE.promote_secondaries=1; use /32 VIPs or set that sysctl.
 */

export interface ExecResult {
  code: number | null; // null: killed (timeout) or never started
  stdout: string;
  stderr: string;
  error?: string; // spawn error code (ENOENT, EACCES) or 'timeout'
}

/** Runs a program without a shell; never rejects. */
export type ExecFn = (file: string, args: readonly string[], opts: { timeoutMs: number }) => Promise<ExecResult>;

export const realExec: ExecFn = (file, args, opts) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: opts.timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
      resolve({ code: null, stdout, stderr, error: e.killed ? 'timeout' : (e.code ?? e.message) });
    });
  });

export type DriverErrorCode = 'EDRIVER_PERM' | 'EDRIVER_NO_DEVICE' | 'EDRIVER_NOT_FOUND' | 'EDRIVER_EXEC' | 'EDRIVER_PARSE' | 'EDRIVER_UNKNOWN_VIP';

export class DriverError extends Error {
  constructor(readonly code: DriverErrorCode, message: string) {
    super(message);
    this.name = 'DriverError';
  }
}

/** What the engine needs from the node; the Linux class below and test fakes implement it. */
export interface VipDriver {
  /** Throws a DriverError when the driver cannot work at all (no CAP_NET_ADMIN); optional. */
  preflight?(): Promise<void>;
  /** On start: removes our stale aliases, returns the configured VIPs the interface already has. */
  reconcile(): Promise<string[]>;
  /** The configured VIPs the interface has now (for repair checks). */
  present(): Promise<string[]>;
  add(vip: string): Promise<void>;
  del(vip: string): Promise<void>;
  /** Sends the gratuitous ARPs / NAs; stops early when the VIP is deleted or quiesced meanwhile. */
  announce(vip: string): Promise<void>;
  /**
   * Stops answering ARP for the VIP but keeps the address (see quiet release above); resolves
   * false when this driver or VIP cannot (the caller then deletes). add() and del() end it.
   */
  quiesce?(vip: string): Promise<boolean>;
  /** Takes a new VIP set (the zone changed). */
  setVips?(vips: readonly VipSpec[]): void;
}

const CAP_NET_ADMIN = 12n; // linux/capability.h

/** Whether the effective capability set in /proc/self/status text includes CAP_NET_ADMIN. */
export function hasCapNetAdmin(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(procStatus)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

/** The roamdns IPv4 label: IFACE:roam cut to the kernel's 15 characters; none when the name leaves no room. */
export function roamLabel(iface: string): string | undefined {
  const room = 15 - iface.length - 1;
  return room >= 1 ? `${iface}:${'roam'.slice(0, room)}` : undefined;
}

export interface IpAddress {
  address: string;
  prefix: number;
  family: 4 | 6;
  label?: string;
}

/** Parses `ip -j addr show dev IFACE`; throws DriverError on anything else. */
export function parseIpAddrJson(text: string): IpAddress[] {
  let data: unknown;
  try { data = JSON.parse(text); } catch { throw new DriverError('EDRIVER_PARSE', 'ip -j addr show: output is not JSON'); }
  if (!Array.isArray(data)) throw new DriverError('EDRIVER_PARSE', 'ip -j addr show: expected a JSON array');
  const out: IpAddress[] = [];
  for (const link of data as Array<{ addr_info?: unknown }>) {
    for (const a of Array.isArray(link?.addr_info) ? (link.addr_info as Array<Record<string, unknown>>) : []) {
      if ((a.family !== 'inet' && a.family !== 'inet6') || typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
      out.push({ address: a.local, prefix: a.prefixlen, family: a.family === 'inet' ? 4 : 6, label: typeof a.label === 'string' ? a.label : undefined });
    }
  }
  return out;
}

export interface LinuxDriverOptions {
  iface: string;
  vips: readonly VipSpec[];
  exec: ExecFn;
  log: Logger;
  announce: { count: number; intervalMs: number };
  arping?: 'auto' | 'iputils' | 'habets';
  sleep?: (ms: number) => Promise<void>;
  timeoutMs?: number; // per command, default 2000
  procStatus?: () => string; // default: reads /proc/self/status
  /** Kernel settings (see quiet release above); without it the driver leaves arp_announce alone. */
  sysctl?: SysctlIo;
}

/** Reads and writes kernel settings by their /proc/sys path ('net/ipv4/conf/eth0/arp_announce'); both may throw. */
export interface SysctlIo {
  get(key: string): string;
  set(key: string, value: string): void;
}

/** The real /proc/sys (the writes need CAP_NET_ADMIN in the network namespace). */
export const procSysctl: SysctlIo = {
  get: (key) => readFileSync(`/proc/sys/${key}`, 'utf8').trim(),
  set: (key, value) => writeFileSync(`/proc/sys/${key}`, `${value}\n`),
};

type ArpingFlavor = 'iputils' | 'habets' | 'missing';
const PACKAGES: Record<string, string> = { ip: 'iproute2', ndptool: 'libndp-tools', arping: 'arping or iputils-arping', nft: 'nftables' };
const NFT_TABLE = 'roamdns';
const NFT_SETUP = [
  `add table arp ${NFT_TABLE}`, `delete table arp ${NFT_TABLE}`, `add table arp ${NFT_TABLE}`,
  `add set arp ${NFT_TABLE} quiet { type ipv4_addr; }`,
  `add chain arp ${NFT_TABLE} in { type filter hook input priority -10; policy accept; }`,
  `add chain arp ${NFT_TABLE} out { type filter hook output priority -10; policy accept; }`,
  `add rule arp ${NFT_TABLE} in arp operation request arp daddr ip @quiet drop`,
  `add rule arp ${NFT_TABLE} out arp saddr ip @quiet drop`,
].join('; ');

/** The elements of `nft -j list set arp roamdns quiet`; [] for anything else. */
export function parseQuietSet(text: string): string[] {
  try {
    const data = JSON.parse(text) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
    const elems = data.nftables?.find((x) => x.set)?.set?.elem ?? [];
    return elems.filter((e): e is string => typeof e === 'string');
  } catch {
    return [];
  }
}

export class LinuxAliasDriver implements VipDriver {
  readonly label: string | undefined;
  private specs: Map<string, VipSpec>;
  private readonly prefixNow = new Map<string, number>(); // prefix found on the interface, for del
  private flavor: Promise<ArpingFlavor> | undefined;
  private readonly epoch = new Map<string, number>(); // bumped by del/quiesce: pending announcements stop
  private readonly quiet = new Set<string>(); // VIPs in the nft quiet set
  private quietReady: boolean | undefined; // nft table built (true), unavailable (false), not tried yet
  private readonly sending = new Map<string, Set<Promise<unknown>>>(); // VIP → arping / ndptool runs in progress (they never reject)

  constructor(private readonly o: LinuxDriverOptions) {
    this.label = roamLabel(o.iface);
    this.specs = new Map(o.vips.map((v) => [v.address, v]));
  }

  setVips(vips: readonly VipSpec[]): void {
    this.specs = new Map(vips.map((v) => [v.address, v]));
  }

  async preflight(): Promise<void> {
    const text = (this.o.procStatus ?? (() => readFileSync('/proc/self/status', 'utf8')))();
    if (!hasCapNetAdmin(text)) {
      throw new DriverError('EDRIVER_PERM', `adding VIPs to ${this.o.iface} needs CAP_NET_ADMIN: run roamdns agent as root or grant it (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)`);
    }
  }

  private async run(file: string, args: string[]): Promise<ExecResult> {
    const r = await this.o.exec(file, args, { timeoutMs: this.o.timeoutMs ?? 2000 });
    if (r.error === 'ENOENT') throw new DriverError('EDRIVER_NOT_FOUND', `${file}: not installed (Debian package: ${PACKAGES[file] ?? file})`);
    return r;
  }

  private fail(what: string, r: ExecResult): never {
    const msg = `${what}: ${(r.stderr || r.error || `exit ${r.code}`).trim()}`;
    if (/Operation not permitted|Permission denied/i.test(r.stderr)) throw new DriverError('EDRIVER_PERM', `${msg} — the agent needs root or CAP_NET_ADMIN`);
    if (/Cannot find device|does not exist/i.test(r.stderr)) throw new DriverError('EDRIVER_NO_DEVICE', `${msg} — interface ${this.o.iface} not found`);
    throw new DriverError('EDRIVER_EXEC', msg);
  }

  private spec(vip: string): VipSpec {
    const s = this.specs.get(vip);
    if (!s) throw new DriverError('EDRIVER_UNKNOWN_VIP', `${vip} is not a configured VIP`);
    return s;
  }

  /** Addresses on the interface that are ours: our label, or a configured VIP. */
  private async ours(): Promise<IpAddress[]> {
    const r = await this.run('ip', ['-j', 'addr', 'show', 'dev', this.o.iface]);
    if (r.code !== 0) this.fail(`ip addr show dev ${this.o.iface}`, r);
    const mine = parseIpAddrJson(r.stdout).filter((a) => this.specs.has(a.address) || (this.label !== undefined && a.label === this.label));
    for (const a of mine) this.prefixNow.set(a.address, a.prefix);
    return mine;
  }

  async present(): Promise<string[]> {
    return (await this.ours()).filter((a) => this.specs.has(a.address)).map((a) => a.address);
  }

  /**
   * Removes aliases that are not configured and those a previous run was handing over (still
   * in the quiet set), then rebuilds the nft table empty; returns the configured VIPs kept.
   */
  async reconcile(): Promise<string[]> {
    const quieted = await this.listQuiet();
    const kept: string[] = [];
    for (const a of await this.ours()) {
      const reason = !this.specs.has(a.address) ? 'unconfigured' : quieted.includes(a.address) ? 'was being handed over' : undefined;
      if (reason === undefined) { kept.push(a.address); continue; }
      this.o.log.info({ vip: a.address, iface: this.o.iface, reason }, 'removing stale alias');
      await this.delRaw(a.address, a.prefix);
    }
    this.quiet.clear();
    this.quietReady = await this.setupQuiet();
    return kept;
  }

  private async listQuiet(): Promise<string[]> {
    const r = await this.o.exec('nft', ['-j', 'list', 'set', 'arp', NFT_TABLE, 'quiet'], { timeoutMs: this.o.timeoutMs ?? 2000 });
    return r.code === 0 ? parseQuietSet(r.stdout) : [];
  }

  /** Builds the table afresh, with the VIPs this process has quiet (a rebuild after someone flushed it). */
  private async setupQuiet(): Promise<boolean> {
    if (!this.arpAnnounceFromOwnAddress()) return false;
    const keep = this.quiet.size > 0 ? `; add element arp ${NFT_TABLE} quiet { ${[...this.quiet].join(', ')} }` : '';
    const r = await this.o.exec('nft', [NFT_SETUP + keep], { timeoutMs: this.o.timeoutMs ?? 2000 });
    if (r.code === 0) return true;
    const why = r.error === 'ENOENT' ? 'nft is not installed (Debian package: nftables)' : (r.stderr || r.error || `exit ${r.code}`).trim();
    this.o.log.warn({ iface: this.o.iface, err: why }, 'quiet release unavailable: a handover deletes the alias at once (clients may miss one request)');
    return false;
  }

  /**
   * Makes the kernel's own ARP requests on the interface carry its own address, never a VIP
   * (arp_announce 2; see quiet release above). False, after saying why, when that cannot be had.
   */
  private arpAnnounceFromOwnAddress(): boolean {
    const io = this.o.sysctl;
    if (!io) return true;
    const key = (dev: string) => `net/ipv4/conf/${dev}/arp_announce`;
    const name = `net.ipv4.conf.${this.o.iface.replace(/\./g, '/')}.arp_announce`;
    let was = '?';
    try {
      was = io.get(key(this.o.iface));
      if (Math.max(Number(was), Number(io.get(key('all')))) >= 2) return true; // the kernel uses the higher of the two
      io.set(key(this.o.iface), '2');
      this.o.log.info({ iface: this.o.iface, sysctl: name, was }, 'arp_announce set to 2: the ARP requests the kernel sends carry the interface\'s own address, never a VIP being handed over');
      return true;
    } catch (e) {
      const err = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      this.o.log.warn({ iface: this.o.iface, sysctl: name, value: was, err, fix: `sysctl -w ${name}=2` }, 'quiet release unavailable: it needs arp_announce 2 on the interface, which could not be set; a handover deletes the alias at once (clients may miss one request)');
      return false;
    }
  }

  async quiesce(vip: string): Promise<boolean> {
    const s = this.spec(vip);
    this.bump(vip);
    await this.announcing(vip); // a gratuitous ARP already on its way goes out before the quiet
    if (s.family !== 4) return false;
    this.quietReady ??= await this.setupQuiet();
    if (!this.quietReady) return false;
    const r = await this.o.exec('nft', ['add', 'element', 'arp', NFT_TABLE, 'quiet', `{ ${vip} }`], { timeoutMs: this.o.timeoutMs ?? 2000 });
    if (r.code === 0) { this.quiet.add(vip); return true; }
    this.o.log.warn({ vip, err: (r.stderr || r.error || `exit ${r.code}`).trim() }, 'nft add element failed (table flushed by a firewall reload?); deleting the alias instead');
    this.quietReady = undefined; // rebuilt at the next quiesce
    return false;
  }

  /** Takes the VIP out of the quiet set (after add or del); a missing element is fine. */
  private async unquiet(vip: string): Promise<void> {
    if (!this.quiet.delete(vip)) return;
    await this.o.exec('nft', ['delete', 'element', 'arp', NFT_TABLE, 'quiet', `{ ${vip} }`], { timeoutMs: this.o.timeoutMs ?? 2000 });
  }

  /** Resolves when the announcements of the VIP that are being sent now have gone out (or failed). */
  private async announcing(vip: string): Promise<void> {
    const set = this.sending.get(vip);
    if (set) await Promise.all(set);
  }

  private bump(vip: string): void {
    this.epoch.set(vip, (this.epoch.get(vip) ?? 0) + 1);
  }

  async add(vip: string): Promise<void> {
    const s = this.spec(vip);
    const args = s.family === 4
      ? ['-4', 'addr', 'add', `${vip}/${s.prefix}`, 'dev', this.o.iface, ...(this.label ? ['label', this.label] : [])]
      : ['-6', 'addr', 'add', `${vip}/${s.prefix}`, 'dev', this.o.iface, 'nodad'];
    const r = await this.run('ip', args);
    if (r.code !== 0 && !/File exists|already assigned/i.test(r.stderr)) this.fail(`ip ${args.join(' ')}`, r);
    this.prefixNow.set(vip, s.prefix);
    await this.unquiet(vip); // taken back while being handed over: answer ARP again
  }

  private async delRaw(vip: string, prefix: number): Promise<void> {
    const args = ['addr', 'del', `${vip}/${prefix}`, 'dev', this.o.iface];
    const r = await this.run('ip', args);
    if (r.code !== 0 && !/Cannot assign requested address|Address not found/i.test(r.stderr)) this.fail(`ip ${args.join(' ')}`, r);
    this.prefixNow.delete(vip);
  }

  async del(vip: string): Promise<void> {
    this.bump(vip);
    await this.announcing(vip); // a gratuitous ARP already on its way goes out before the delete
    await this.delRaw(vip, this.prefixNow.get(vip) ?? this.spec(vip).prefix);
    await this.unquiet(vip); // after the delete: the address never answers ARP in between
  }

  private detectArping(): Promise<ArpingFlavor> {
    if (this.o.arping && this.o.arping !== 'auto') return Promise.resolve(this.o.arping);
    this.flavor ??= this.o.exec('arping', ['-V'], { timeoutMs: 2000 }).then((r) => {
      if (r.error === 'ENOENT') return 'missing';
      return /habets/i.test(r.stdout + r.stderr) ? 'habets' : 'iputils';
    });
    return this.flavor;
  }

  private async announceOnce(s: VipSpec, flavor: ArpingFlavor): Promise<void> {
    const iface = this.o.iface;
    if (s.family === 6) {
      const r = await this.run('ndptool', ['-t', 'na', '-U', '-i', iface, '-T', s.address, 'send']);
      if (r.code !== 0) this.fail('ndptool send', r);
      return;
    }
    if (flavor === 'missing') throw new DriverError('EDRIVER_NOT_FOUND', 'arping: not installed (Debian: arping or iputils-arping)');
    const args = flavor === 'habets'
      ? ['-q', '-U', '-S', s.address, '-c', '1', '-i', iface, s.address]
      : ['-q', '-U', '-c', '1', '-I', iface, s.address];
    const r = await this.run('arping', args);
    // Habets' arping exits 1 when nobody answered, which is normal for unsolicited ARP.
    if (r.code !== 0 && !(flavor === 'habets' && r.code === 1)) this.fail(`arping ${args.join(' ')}`, r);
  }

  /** Sends `count` announcements `intervalMs` apart (the first at once); resolves when all ran. */
  async announce(vip: string): Promise<void> {
    const s = this.spec(vip);
    const epoch = this.epoch.get(vip) ?? 0; // now, before any await: a release from here on stops what is not sent yet
    const flavor = s.family === 4 ? await this.detectArping() : 'iputils'; // the first call runs arping -V
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const runs: Promise<unknown>[] = []; // each settles to its error or null: none can reject unhandled
    for (let i = 0; i < this.o.announce.count; i++) {
      if (i > 0) await sleep(this.o.announce.intervalMs);
      if ((this.epoch.get(vip) ?? 0) !== epoch) break; // released meanwhile: announcing would pull traffic back
      const run = this.announceOnce(s, flavor).then(() => null, (e: unknown) => e);
      const set = this.sending.get(vip) ?? new Set();
      this.sending.set(vip, set.add(run));
      void run.then(() => { set.delete(run); if (set.size === 0 && this.sending.get(vip) === set) this.sending.delete(vip); });
      runs.push(run);
    }
    const failed = (await Promise.all(runs)).find((e) => e !== null);
    if (failed !== undefined) throw failed;
  }
}
