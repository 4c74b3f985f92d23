// `roamdns agent`: the failover engine on one node, wired to a UDP socket for heartbeats, the Linux
// alias driver, the zone files (the VIPs are the A/AAAA records of cluster.vips_from) and a small
// HTTP API (GET /status for people and the health checker, POST /drain and /undrain).
import dgram from 'node:dgram';
import http from 'node:http';
import { isIPv6 } from 'node:net';
import os from 'node:os';
import { createLinuxAgent, readSecret, resolveAgentOptions, SecretError, AgentOptionsError, type Agent, type AgentOptions } from '../failover/index.js';
import { listenFailure, parseListen } from '../server/dns-server.js';
import { dnsMetrics, Registry } from '../server/metrics.js';
import { formatProblem, ZoneStore } from '../server/zone-store.js';
import type { ZoneSet } from '../server/zone.js';
import { resolveFromConfig, type ClusterConfig, type RoamdnsConfig } from './config.js';
import { addressesOf } from './health-wiring.js';
import type { Logger } from './logger.js';
import { bearerMatches, readStatusToken, StatusTokenError, tokenDigestOf } from './status-server.js';

/** The VIPs of the cluster: every A/AAAA of the vips_from names, as ADDRESS/PREFIX. */
export function clusterVips(c: ClusterConfig, zones: ZoneSet): string[] {
  const out: string[] = [];
  for (const name of c.vips_from) {
    for (const a of addressesOf(zones, name)) {
      const spec = `${a}/${isIPv6(a) ? c.vip_prefix.ipv6 : c.vip_prefix.ipv4}`;
      if (!out.includes(spec)) out.push(spec);
    }
  }
  return out;
}

/** Maps the YAML cluster section onto the engine's options (which checks them again). */
export function agentOptions(cfg: RoamdnsConfig, c: ClusterConfig, nodeName: string, vips: string[], secret: Buffer): AgentOptions {
  const sc = c.service_check;
  let serviceCheck: AgentOptions['serviceCheck'];
  if (sc) {
    const target = sc.http ? { http: sc.http } : { tcp: parseListen(sc.tcp!) };
    serviceCheck = { target: 'http' in target ? target : { tcp: { host: target.tcp.host, port: target.tcp.port } }, intervalMs: sc.interval, timeoutMs: sc.timeout, rise: sc.rise, fall: sc.fall };
  }
  return resolveAgentOptions({
    nodeName, nodes: c.nodes, port: parseListen(c.listen).port, vips, prefer: c.prefer, interface: c.interface, secret,
    heartbeatMs: c.heartbeat, deadAfterMs: c.dead_after, matureMs: c.mature,
    notify: c.notify ? { command: resolveFromConfig(cfg, c.notify), timeoutMs: c.notify_timeout } : undefined,
    serviceCheck, announce: { count: c.announce.count, intervalMs: c.announce.interval },
  });
}

/** The /status document: the engine's status plus the fields the health checker reads (holds, members). */
export function agentStatusDocument(agent: Agent): object {
  const s = agent.status();
  const holds = s.vips.filter((v) => v.heldHere).map((v) => v.vip);
  const members = [
    { name: s.node, alive: s.state !== 'leaving', holds },
    ...s.peers.map((p) => ({ name: p.name, alive: p.alive, holds: p.held })),
  ];
  return { ...s, holds, members };
}

/** Prometheus text for the agent, built from its status on each scrape. */
export function agentMetrics(agent: Agent): string {
  const s = agent.status();
  const reg = new Registry();
  reg.counter('roamdns_agent_heartbeats_sent_total', 'Heartbeats sent').set({}, s.counters.heartbeatsSent);
  reg.counter('roamdns_agent_heartbeats_received_total', 'Heartbeats accepted').set({}, s.counters.heartbeatsAccepted);
  const dropped = reg.counter('roamdns_agent_heartbeats_dropped_total', 'Heartbeats dropped, by reason');
  for (const [reason, n] of Object.entries(s.counters.heartbeatsDropped)) dropped.set({ reason }, n);
  const moves = reg.counter('roamdns_agent_moves_total', 'VIPs acquired or released by this node');
  moves.set({ kind: 'acquire' }, s.counters.acquisitions);
  moves.set({ kind: 'release' }, s.counters.releases);
  reg.counter('roamdns_agent_driver_errors_total', 'Failed ip/arping commands').set({}, s.counters.driverErrors);
  reg.gauge('roamdns_agent_vips_held', 'VIPs on this node now').set({}, s.vips.filter((v) => v.heldHere).length);
  reg.gauge('roamdns_agent_state', 'This node\'s state (1 for the current one)').set({ state: s.state }, 1);
  reg.gauge('roamdns_agent_healthy', 'This node\'s own service check (1 healthy)').set({}, s.health === 'unhealthy' ? 0 : 1);
  const alive = reg.gauge('roamdns_agent_peer_alive', 'Peers seen alive (1) or dead (0)');
  const rtt = reg.gauge('roamdns_agent_peer_rtt_seconds', 'Heartbeat round-trip time to each peer');
  for (const p of s.peers) {
    alive.set({ peer: p.name }, p.alive ? 1 : 0);
    if (p.rttMs !== undefined) rtt.set({ peer: p.name }, p.rttMs / 1000);
  }
  return reg.render();
}

function startApi(agent: Agent, listen: string, log: Logger, token: Buffer | undefined): Promise<http.Server> {
  const tokenDigest = token ? tokenDigestOf(token) : undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (code: number, body: object) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2));
    if (tokenDigest && !bearerMatches(req.headers.authorization, tokenDigest)) {
      res.setHeader('www-authenticate', 'Bearer realm="roamdns-agent"');
      return json(401, { error: 'missing or wrong bearer token (cluster.status_token_file)' });
    }
    if (req.method === 'GET' && url.pathname === '/status') return json(200, agentStatusDocument(agent));
    if (req.method === 'GET' && url.pathname === '/metrics') return res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(agentMetrics(agent));
    if (req.method === 'POST' && (url.pathname === '/drain' || url.pathname === '/undrain')) {
      if (url.pathname === '/drain') agent.drain();
      else agent.undrain();
      log.info({ via: 'api' }, url.pathname === '/drain' ? 'drain requested' : 'undrain requested');
      return json(200, { state: agent.state });
    }
    json(404, { error: 'not found: GET /status, GET /metrics, POST /drain, POST /undrain' });
  });
  const addr = parseListen(listen);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => { server.off('error', reject); resolve(server); });
  });
}

function bindHeartbeats(listen: string, onMessage: (msg: Buffer, from: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  const addr = parseListen(listen);
  const sock = dgram.createSocket({ type: isIPv6(addr.host) ? 'udp6' : 'udp4' });
  sock.on('message', onMessage);
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(addr.port, addr.host, () => { sock.off('error', reject); sock.on('error', () => {}); resolve(sock); });
  });
}

/** Runs the agent until SIGTERM/SIGINT; returns the exit status. */
export async function runAgent(cfg: RoamdnsConfig, nodeArg: string | undefined, log: Logger): Promise<number> {
  const c = cfg.cluster;
  if (!c) {
    process.stderr.write(`${cfg.file}: the config has no 'cluster' section; roamdns agent needs cluster.nodes, cluster.secret_file and cluster.vips_from\n`);
    return 2;
  }
  const nodeName = nodeArg ?? os.hostname();
  const fail = (msg: string) => { process.stderr.write(`roamdns agent: ${msg}\n`); return 2; };
  let secret: Buffer;
  try {
    secret = readSecret(resolveFromConfig(cfg, c.secret_file));
  } catch (err) {
    if (err instanceof SecretError) return fail(err.message);
    throw err;
  }
  const source = Array.isArray(cfg.zones) ? cfg.zones.map((z) => resolveFromConfig(cfg, z)) : resolveFromConfig(cfg, cfg.zones);
  const zoneStore = new ZoneStore(source, log.child({ component: 'zones' }), dnsMetrics(new Registry()));
  const report = zoneStore.load('start');
  if (report.failed.length) return fail(report.failed.flatMap((f) => f.problems.map(formatProblem)).join('\n'));
  const vips = clusterVips(c, zoneStore.current());
  if (vips.length === 0) return fail(`no A/AAAA records for cluster.vips_from (${c.vips_from.join(', ')}) in the zones`);
  let opts: AgentOptions;
  try {
    opts = agentOptions(cfg, c, nodeName, vips, secret);
  } catch (err) {
    if (err instanceof AgentOptionsError) return fail(`${cfg.file}: cluster: ${err.problems.join(`\n${cfg.file}: cluster: `)}`);
    throw err;
  }
  let agent: Agent | undefined;
  let sock: dgram.Socket;
  try {
    sock = await bindHeartbeats(c.listen, (msg, from) => agent?.receive(msg, { address: from.address, port: from.port }));
  } catch (err) {
    return fail(`${cfg.file}: cluster.listen ${c.listen}: ${listenFailure(err)}`);
  }
  // Count datagrams still queued in the socket: closing it before they leave would lose the 'leaving' packets.
  let pending = 0;
  const send = (to: { address: string; port: number }, bytes: Buffer) => {
    pending++;
    sock.send(bytes, to.port, to.address, () => { pending--; });
  };
  agent = createLinuxAgent(opts, { log, send });
  let token: Buffer | undefined;
  try {
    token = c.status_token_file ? readStatusToken(resolveFromConfig(cfg, c.status_token_file)) : undefined;
  } catch (err) {
    if (err instanceof StatusTokenError) { sock.close(); return fail(`cluster.status_token_file: ${err.message}`); }
    throw err;
  }
  let api: http.Server;
  try {
    api = await startApi(agent, c.status_listen, log, token);
  } catch (err) {
    sock.close();
    return fail(`${cfg.file}: cluster.status_listen ${c.status_listen}: ${listenFailure(err)}`);
  }
  try {
    await agent.start();
  } catch (err) {
    sock.close();
    api.close();
    return fail((err as Error).message);
  }
  log.info({ node: nodeName, vips, heartbeats: c.listen, api: c.status_listen }, 'agent running');
  // Adding a VIP is one line in git: the agents pick it up on reload (SIGHUP or the folder watch).
  let current = vips;
  zoneStore.onSwap((zones) => {
    const now = clusterVips(c, zones);
    if (now.join() === current.join()) return;
    if (now.length === 0) return void log.error({ vips_from: c.vips_from }, 'the reloaded zones have no VIPs; keeping the previous set');
    try {
      const next = agentOptions(cfg, c, nodeName, now, secret);
      current = now;
      void agent!.setVips(next);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'the new VIP set is not valid (prefer names a VIP no longer in the zone?); keeping the previous set');
    }
  });
  zoneStore.watch();
  process.on('SIGHUP', () => void zoneStore.reload('SIGHUP'));
  return new Promise((resolve) => {
    const stop = async (signal: string) => {
      log.info({ signal }, 'stopping: releasing VIPs and telling the peers');
      await agent!.stop();
      zoneStore.close();
      for (let waited = 0; pending > 0 && waited < 500; waited += 5) await new Promise((r) => setTimeout(r, 5));
      sock.close();
      api.closeAllConnections();
      api.close();
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

/** `roamdns agent drain|undrain`: asks the local agent's API. */
export async function agentControl(cfg: RoamdnsConfig, action: 'drain' | 'undrain'): Promise<number> {
  if (!cfg.cluster) {
    process.stderr.write(`${cfg.file}: the config has no 'cluster' section\n`);
    return 2;
  }
  const addr = parseListen(cfg.cluster.status_listen);
  const host = addr.host === '0.0.0.0' ? '127.0.0.1' : addr.host === '::' ? '::1' : addr.host;
  const url = `http://${isIPv6(host) ? `[${host}]` : host}:${addr.port}/${action}`;
  try {
    const token = cfg.cluster.status_token_file ? readStatusToken(resolveFromConfig(cfg, cfg.cluster.status_token_file)).toString('utf8') : undefined;
    const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(3000), headers: token ? { authorization: `Bearer ${token}` } : {} });
    const body = (await res.json()) as { state?: string };
    process.stdout.write(`${action}: agent is now ${body.state ?? 'unknown'}\n`);
    return res.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`roamdns agent ${action}: cannot reach the agent at ${url}: ${(err as Error).message}\n`);
    return 1;
  }
}
