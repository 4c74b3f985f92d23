// Reference nameservers for differential tests: Debian's BIND (`named`) and Knot (`knotd`)
// serving the same zone files as roamdns, each on 127.0.0.1 only, at a free port, in a
// throw-away directory. Missing binaries are a test failure, never a skip.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, makeTempDir, REPO_ROOT, spawnManaged, waitForSoa, type ManagedProcess } from './roamdns.js';

/** A zone to serve: its origin (absolute or not) and the master file. */
export interface ZoneSpec { origin: string; file: string }
/** A zone to pull from a primary as a secondary (AXFR from 127.0.0.1:primaryPort). */
export interface SecondarySpec { origin: string; primaryPort: number; primaryAddress?: string }
export interface ReferenceOptions { zones?: ZoneSpec[]; secondaries?: SecondarySpec[]; waitMs?: number }
export interface ReferenceServer {
  kind: 'bind' | 'knot'; port: number; dir: string; proc: ManagedProcess;
  output(): string; stop(): Promise<void>;
}

const BIND_BIN = ['/usr/sbin/named', '/usr/bin/named'];
const KNOT_BIN = ['/usr/sbin/knotd', '/usr/bin/knotd'];
const abs = (origin: string): string => (origin.endsWith('.') ? origin : origin + '.');
const q = (s: string): string => JSON.stringify(s); // both config syntaxes accept "..." strings

function findBinary(candidates: string[], hint: string): string {
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`${path.basename(candidates[0]!)} not found: ${hint}`);
  return found;
}

/** Zone files are copied so a server can never write to the fixtures. */
async function stageZones(dir: string, zones: ZoneSpec[]): Promise<{ origin: string; file: string }[]> {
  await mkdir(path.join(dir, 'zones'), { recursive: true });
  return Promise.all(zones.map(async (z) => {
    const file = path.join(dir, 'zones', abs(z.origin) + 'zone');
    await copyFile(z.file, file);
    return { origin: abs(z.origin), file };
  }));
}

async function launch(kind: 'bind' | 'knot', opts: ReferenceOptions,
  configure: (dir: string, port: number) => Promise<{ cmd: string; args: string[] }>, fixedPort?: number): Promise<ReferenceServer> {
  const port = fixedPort ?? await freePort();
  const dir = await makeTempDir(`roamdns-ref-${kind}`);
  let proc: ManagedProcess | null = null;
  const stop = async (): Promise<void> => { await proc?.stop(); await rm(dir, { recursive: true, force: true }); };
  try {
    const { cmd, args } = await configure(dir, port);
    proc = spawnManaged(cmd, args, { cwd: dir });
    const label = kind === 'bind' ? 'BIND named' : 'Knot knotd';
    // Every zone must answer its SOA: primaries once loaded, secondaries once transferred.
    // A primary whose file does not load is fatal at once; a secondary retries its transfer.
    const fatal = kind === 'bind' ? /not loaded due to errors/ : /zone loader, error|failed to load/;
    for (const z of opts.zones ?? []) await waitForSoa(port, abs(z.origin), proc, label, opts.waitMs ?? 15000, fatal);
    for (const z of opts.secondaries ?? []) await waitForSoa(port, abs(z.origin), proc, label, opts.waitMs ?? 15000);
  } catch (e) { await stop(); throw e; }
  const p = proc;
  return { kind, port, dir, proc: p, output: () => p.output(), stop };
}

/**
 * BIND 9 in the foreground (`named -g`): listen-on 127.0.0.1 only, recursion no, no
 * NOTIFY (it would look up NS addresses), no control channel, no IPv6 listener.
 */
export async function startBind(opts: ReferenceOptions): Promise<ReferenceServer> {
  const named = findBinary(BIND_BIN, 'apt-get install bind9');
  return launch('bind', opts, async (dir, port) => {
    const zones = await stageZones(dir, opts.zones ?? []);
    const conf = [
      'options {',
      `  directory ${q(dir)};`, `  pid-file ${q(path.join(dir, 'named.pid'))};`,
      `  session-keyfile ${q(path.join(dir, 'session.key'))};`, `  managed-keys-directory ${q(dir)};`,
      `  listen-on port ${port} { 127.0.0.1; };`, '  listen-on-v6 { none; };',
      '  recursion no;', '  allow-query { any; };', '  allow-transfer { 127.0.0.1; };',
      '  notify no;', '  dnssec-validation no;', '  request-ixfr no;',
      '  transfer-source 127.0.0.1;', '  query-source address 127.0.0.1;',
      '};',
      'controls { };',
      ...zones.map((z) => `zone ${q(z.origin)} { type primary; file ${q(z.file)}; };`),
      ...(opts.secondaries ?? []).map((s) => `zone ${q(abs(s.origin))} { type secondary; ` +
        `primaries { ${s.primaryAddress ?? '127.0.0.1'} port ${s.primaryPort}; }; file ${q(path.join(dir, abs(s.origin) + 'sec'))}; };`),
    ].join('\n') + '\n';
    const confPath = path.join(dir, 'named.conf');
    await writeFile(confPath, conf);
    return { cmd: named, args: ['-g', '-n', '2', '-c', confPath] };
  });
}

/** Knot DNS in the foreground: listen 127.0.0.1@PORT, storage and rundir in the temp dir. */
export async function startKnot(opts: ReferenceOptions): Promise<ReferenceServer> {
  const knotd = findBinary(KNOT_BIN, 'apt-get install knot');
  return launch('knot', opts, async (dir, port) => {
    const zones = await stageZones(dir, opts.zones ?? []);
    const secs = opts.secondaries ?? [];
    const conf = [
      'server:', `    rundir: ${q(dir)}`, `    listen: 127.0.0.1@${port}`,
      '    udp-workers: 2', '    tcp-workers: 2', '    background-workers: 1',
      'log:', '  - target: stderr', '    any: info',
      'database:', `    storage: ${q(dir)}`,
      'acl:', '  - id: local_transfer', '    address: 127.0.0.1', '    action: transfer',
      ...(secs.length ? ['remote:', ...secs.map((s, i) => `  - id: primary${i}\n    address: ${s.primaryAddress ?? '127.0.0.1'}@${s.primaryPort}\n    via: 127.0.0.1`)] : []),
      'template:', '  - id: default', `    storage: ${q(path.join(dir, 'zones'))}`, '    acl: local_transfer',
      '    zonefile-sync: -1', '    journal-content: none', '    semantic-checks: off',
      'zone:',
      ...zones.map((z) => `  - domain: ${q(z.origin)}\n    file: ${q(z.file)}`),
      ...secs.map((s, i) => `  - domain: ${q(abs(s.origin))}\n    master: primary${i}\n    file: ${q(path.join(dir, abs(s.origin) + 'sec'))}`),
    ].join('\n') + '\n';
    const confPath = path.join(dir, 'knot.conf');
    await writeFile(confPath, conf);
    return { cmd: knotd, args: ['-c', confPath] };
  });
}

/** Starts both references on the same zones; stops the first if the second fails. */
export async function startReferences(zones: ZoneSpec[]): Promise<{ bind: ReferenceServer; knot: ReferenceServer; stop(): Promise<void> }> {
  const bind = await startBind({ zones });
  let knot: ReferenceServer;
  try { knot = await startKnot({ zones }); } catch (e) { await bind.stop(); throw e; }
  return { bind, knot, stop: async () => { await Promise.all([bind.stop(), knot.stop()]); } };
}

/** A TSIG key as both servers' configs spell it (secret in base64). */
export interface TsigKeySpec { name: string; algorithm: string; secret: string }
/**
 * A secondary that pulls `origin` from a primary on 127.0.0.1 and accepts NOTIFY from 127.0.0.1.
 * With `tsig` it knows that key and (unless `transferKey` is false) signs its SOA queries and
 * transfers with it; `notifyKey` makes Knot require the key on NOTIFY (BIND accepts NOTIFY from its
 * primaries' addresses regardless). `waitMs` bounds how long the start waits for the first transfer.
 */
export interface SecondaryOptions {
  origin: string; primaryPort: number; tsig?: TsigKeySpec; transferKey?: boolean; notifyKey?: boolean; waitMs?: number;
  /** Listen on this port instead of a free one (when the primary must know it before the secondary starts). */
  port?: number;
}

/** BIND as a secondary with `primaries { 127.0.0.1 port P key K; }` and NOTIFY from the primary. */
export async function startBindSecondary(opts: SecondaryOptions): Promise<ReferenceServer> {
  const named = findBinary(BIND_BIN, 'apt-get install bind9');
  const origin = abs(opts.origin);
  return launch('bind', { secondaries: [{ origin, primaryPort: opts.primaryPort }], waitMs: opts.waitMs }, async (dir, port) => {
    const k = opts.tsig;
    const conf = [
      'options {',
      `  directory ${q(dir)};`, `  pid-file ${q(path.join(dir, 'named.pid'))};`,
      `  session-keyfile ${q(path.join(dir, 'session.key'))};`, `  managed-keys-directory ${q(dir)};`,
      `  listen-on port ${port} { 127.0.0.1; };`, '  listen-on-v6 { none; };',
      '  recursion no;', '  allow-query { any; };', '  allow-transfer { 127.0.0.1; };',
      '  notify no;', '  dnssec-validation no;', '  request-ixfr no;',
      '  transfer-source 127.0.0.1;', '  query-source address 127.0.0.1;', '  notify-source 127.0.0.1;',
      '};',
      'controls { };',
      ...(k ? [`key ${q(k.name)} { algorithm ${k.algorithm}; secret ${q(k.secret)}; };`] : []),
      `zone ${q(origin)} { type secondary; file ${q(path.join(dir, origin + 'sec'))};`,
      `  primaries { 127.0.0.1 port ${opts.primaryPort}${k && opts.transferKey !== false ? ` key ${q(k.name)}` : ''}; };`,
      // BIND takes NOTIFY from its primaries' addresses whatever allow-notify says; a bad TSIG is refused either way.
      `  allow-notify { ${opts.notifyKey && k ? `key ${q(k.name)}` : '127.0.0.1'}; };`,
      '};',
    ].join('\n') + '\n';
    const confPath = path.join(dir, 'named.conf');
    await writeFile(confPath, conf);
    return { cmd: named, args: ['-g', '-n', '2', '-c', confPath] };
  }, opts.port);
}

/** Knot as a secondary: remote with the key, an ACL allowing NOTIFY from 127.0.0.1 (with the key if notifyKey). */
export async function startKnotSecondary(opts: SecondaryOptions): Promise<ReferenceServer> {
  const knotd = findBinary(KNOT_BIN, 'apt-get install knot');
  const origin = abs(opts.origin);
  return launch('knot', { secondaries: [{ origin, primaryPort: opts.primaryPort }], waitMs: opts.waitMs }, async (dir, port) => {
    const k = opts.tsig;
    await mkdir(path.join(dir, 'zones'), { recursive: true });
    const conf = [
      'server:', `    rundir: ${q(dir)}`, `    listen: 127.0.0.1@${port}`,
      '    udp-workers: 2', '    tcp-workers: 2', '    background-workers: 1',
      'log:', '  - target: stderr', '    any: info',
      'database:', `    storage: ${q(dir)}`,
      ...(k ? ['key:', `  - id: ${q(k.name)}`, `    algorithm: ${k.algorithm}`, `    secret: ${k.secret}`] : []),
      'remote:', '  - id: primary', `    address: 127.0.0.1@${opts.primaryPort}`, '    via: 127.0.0.1', ...(k && opts.transferKey !== false ? [`    key: ${q(k.name)}`] : []),
      'acl:', '  - id: local_transfer', '    address: 127.0.0.1', '    action: transfer',
      '  - id: notify_from_primary', '    address: 127.0.0.1', '    action: notify', ...(opts.notifyKey && k ? [`    key: ${q(k.name)}`] : []),
      'template:', '  - id: default', `    storage: ${q(path.join(dir, 'zones'))}`,
      '    zonefile-sync: -1', '    journal-content: none', '    semantic-checks: off',
      'zone:', `  - domain: ${q(origin)}`, '    master: primary', '    acl: [local_transfer, notify_from_primary]',
      `    file: ${q(path.join(dir, origin + 'sec'))}`,
    ].join('\n') + '\n';
    const confPath = path.join(dir, 'knot.conf');
    await writeFile(confPath, conf);
    return { cmd: knotd, args: ['-c', confPath] };
  }, opts.port);
}

/**
 * `roamdns serve` with extra lines in its `dns:` section (startRoamdns writes that section itself,
 * so keys such as tsig_keys, transfer_keys or notify need this). Ready when `readyZone` answers SOA.
 */
export async function startServeWithDns(opts: { zoneFiles: string[]; dns: string[]; readyZone: string; port?: number }):
  Promise<{ port: number; statusPort: number; dir: string; configPath: string; proc: ManagedProcess; stop(): Promise<void> }> {
  const cli = path.join(REPO_ROOT, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found: build roamdns first (npx tsc -p tsconfig.json)`);
  const port = opts.port ?? await freePort();
  const statusPort = await freePort();
  const dir = await makeTempDir('roamdns-serve');
  const configPath = path.join(dir, 'roamdns.yaml');
  await writeFile(configPath, [
    `zones: [${opts.zoneFiles.map((f) => JSON.stringify(path.resolve(f))).join(', ')}]`,
    'dns:', `  listen: [127.0.0.1:${port}]`, '  transfer_allow: [127.0.0.1/32]', ...opts.dns.map((l) => '  ' + l),
    'status:', `  listen: 127.0.0.1:${statusPort}`, '',
  ].join('\n'));
  const proc = spawnManaged(process.execPath, [cli, 'serve', '--config', configPath], { cwd: dir });
  const stop = async (): Promise<void> => { await proc.stop(); await rm(dir, { recursive: true, force: true }); };
  try { await waitForSoa(port, abs(opts.readyZone), proc, 'roamdns serve'); } catch (e) { await stop(); throw e; }
  return { port, statusPort, dir, configPath, proc, stop };
}
