#!/usr/bin/env node
// The `roamdns` command: parses the subcommand and its options, loads the config, wires the parts.
import { parseArgs } from 'node:util';
import { agentControl, runAgent } from './agent.js';
import { checkCommand, statusCommand } from './check.js';
import { ConfigError, loadConfig, type RoamdnsConfig } from './config.js';
import { createLogger } from './logger.js';
import { planCommand } from './plan.js';
import { serve } from './serve.js';
import { zoneCheckMain } from './zone-check.js';

const USAGE = `roamdns — highly available round-robin DNS

Usage: roamdns <command> [options]

Commands:
  serve        answer DNS for the zones (UDP and TCP), check the pools' VIPs, serve the status API
  agent        run the failover agent on this node (agent drain | undrain to move VIPs away and back)
  check        probe every published VIP once; exit 0 all served, 1 some not, 2 config/zone error
  status       print the VIP view (VIP, state, holder) of a running serve (or --agent)
  zone-check   validate zone files like named-checkzone
  plan         show what each node failure does to the survivors' traffic; exit 1 when flagged
  help         show this help

Options for every command:
  --config FILE   config file (default: ./roamdns.yaml)
  --help          help for the command

Run 'roamdns <command> --help' for details.
`;

const HELP: Record<string, string> = {
  serve: `Usage: roamdns serve [--config FILE]

Loads every zone file (the 'zones' folder or list in the config), answers
authoritatively on each dns.listen address over UDP and TCP, and serves the
status API on status.listen (GET /status, /metrics, /).
With 'pools' in the config, every VIP of each pool name is probed and the
answers for that name hold only the VIPs that are served.
Reloads the zones on SIGHUP and when files in the zones folder change; a broken
file keeps the previous version of its zone serving. Stops on SIGTERM/SIGINT.

Exit status: 0 after a clean stop, 2 for a config or zone error at start-up.
`,
  agent: `Usage: roamdns agent [--config FILE] [--node NAME]
       roamdns agent drain|undrain [--config FILE]

Runs the failover agent of node NAME (default: the host name; it must be one of
cluster.nodes). The agents heartbeat each other over UDP (cluster.listen),
agree who holds each VIP (the A/AAAA records of cluster.vips_from), add and
remove the aliases on cluster.interface with 'ip addr', and announce each move
with gratuitous ARP (IPv6: unsolicited neighbour advertisement). Needs root or
CAP_NET_ADMIN. SIGTERM releases every VIP, tells the peers, and exits.

'drain' moves this node's VIPs to the others (for maintenance); 'undrain' lets
it take VIPs again. Both talk to the agent's API on cluster.status_listen.

Exit status: 0 after a clean stop, 1 when the agent cannot work (driver),
2 for a config, zone or secret file problem.
`,
  check: `Usage: roamdns check [--config FILE]

Probes every VIP of every pool once (and asks the agents who holds it when the
config has a cluster section), prints one line per VIP:
  www.example.com 198.51.100.201 up holder=www1 12ms
Exit status: 0 every published VIP is served, 1 some VIP is not, 2 config or
zone error. Usable from cron, Nagios-style monitors and CI.
`,
  status: `Usage: roamdns status [--config FILE] [--agent]

Prints the VIP view of the running 'roamdns serve' (GET /status on
status.listen) as a table: pool, VIP, state, holders, since. With --agent, asks
this node's agent instead (cluster.status_listen).
Exit status: 0 printed, 1 the server could not be reached, 2 config error.
`,
  plan: `Usage: roamdns plan [--config FILE] [--pairs] [--max-share X] [--json] [--live]

Reads the config and zones as 'roamdns agent' does (cluster.nodes with their
weights, prefer, the A/AAAA records of cluster.vips_from; no secret needed)
and, with the agents' own assignment, prints the VIP map with every node up,
then for each node failure (each pair too, with --pairs) the new map, the VIPs
that move and each survivor's share of client traffic, assuming clients
spread evenly over a name's VIPs. Flags what needs acting on:
  - a survivor above its limit: --max-share X (0.6 or 60%); by default the
    larger of 50% and twice its normal share (weight / total weight)
  - a VIP count that cannot be balanced (3 VIPs on 2 nodes)
  - a prefer that names a node for more VIPs than balance gives it
  - a name with fewer VIPs than nodes (idle nodes)
and suggests the VIP count that balances best (a multiple of lcm(N, N-1)
spreads one failure evenly). --json prints the same as JSON for scripts.

The map with every node up is the one a cluster started together reaches;
after nodes have bounced, which VIPs each node holds depends on that history.
--live plans from the holders the agents report now instead (asks each
node's agent API, as 'check' does): which node to take out next for
maintenance, and what that does to the others. Also on serve's status page.

Exit status: 0 nothing flagged, 1 something flagged, 2 config, zone or
option error (--live: no agent answered). Run it in CI beside zone-check on
every change to the zones.
`,
};

type Options = { config: string; help?: boolean; node?: string; agent?: boolean; pairs?: boolean; 'max-share'?: string; json?: boolean; live?: boolean };

function parseOptions(command: string, args: string[]): { values: Options; positionals: string[] } | number {
  try {
    const r = parseArgs({
      args,
      options: {
        config: { type: 'string', default: 'roamdns.yaml' }, help: { type: 'boolean', short: 'h' }, node: { type: 'string' }, agent: { type: 'boolean' },
        pairs: { type: 'boolean' }, 'max-share': { type: 'string' }, json: { type: 'boolean' }, live: { type: 'boolean' },
      },
      allowPositionals: command === 'agent',
      strict: true,
    });
    const allowed: Record<string, string[]> = { agent: ['node'], status: ['agent'], plan: ['pairs', 'max-share', 'json', 'live'] };
    for (const k of ['node', 'agent', 'pairs', 'max-share', 'json', 'live']) {
      if ((r.values as Record<string, unknown>)[k] !== undefined && !(allowed[command] ?? []).includes(k)) throw new Error(`Unknown option '--${k}'`);
    }
    return { values: r.values as Options, positionals: r.positionals };
  } catch (err) {
    process.stderr.write(`roamdns ${command}: ${(err as Error).message}\n\n${HELP[command]}`);
    return 2;
  }
}

function config(file: string): RoamdnsConfig | number {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nroamdns: invalid config ${err.file}\n`);
      return 2;
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'zone-check') return zoneCheckMain(rest);
  if (!HELP[command]) {
    process.stderr.write(`roamdns: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  const parsed = parseOptions(command, rest);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP[command]!);
    return 0;
  }
  if (command === 'agent' && (positionals.length > 1 || (positionals[0] && positionals[0] !== 'drain' && positionals[0] !== 'undrain'))) {
    process.stderr.write(`roamdns agent: unknown action '${positionals.join(' ')}' (drain or undrain)\n\n${HELP.agent}`);
    return 2;
  }
  const cfg = config(values.config);
  if (typeof cfg === 'number') return cfg;
  switch (command) {
    case 'serve': return serve(cfg);
    case 'check': return checkCommand(cfg);
    case 'status': return statusCommand(cfg, values.agent === true);
    case 'plan': return planCommand(cfg, { pairs: values.pairs, maxShare: values['max-share'], json: values.json, live: values.live });
    default: {
      if (positionals[0]) return agentControl(cfg, positionals[0] as 'drain' | 'undrain');
      return runAgent(cfg, values.node, createLogger(cfg.log.level, cfg.log.format).child({ component: 'agent' }));
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`roamdns: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
