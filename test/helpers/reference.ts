// Reference nameservers for differential tests: Debian's BIND (`named`) and Knot (`knotd`)
// serving the same zone files as roamdns, each on 127.0.0.1 only, at a free port, in a
// throw-away directory. Missing binaries are a test failure, never a skip.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, makeTempDir, spawnManaged, waitForSoa, type ManagedProcess } from './roamdns.js';

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
  configure: (dir: string, port: number) => Promise<{ cmd: string; args: string[] }>): Promise<ReferenceServer> {
  const port = await freePort();
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
