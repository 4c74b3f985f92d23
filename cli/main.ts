#!/usr/bin/env node
// The `roamdns` command: parses the subcommand and its options, loads the config, wires the parts.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { serve } from './serve.js';
import { zoneCheckMain } from './zone-check.js';

const USAGE = `roamdns — highly available round-robin DNS

Usage: roamdns <command> [options]

Commands:
  serve        answer DNS for the zones (UDP and TCP), serve the status API
  zone-check   validate zone files like named-checkzone
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
Reloads the zones on SIGHUP and when files in the zones folder change; a broken
file keeps the previous version of its zone serving. Stops on SIGTERM/SIGINT.

Exit status: 0 after a clean stop, 2 for a config or zone error at start-up.
`,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'zone-check') return zoneCheckMain(rest);
  if (command !== 'serve') {
    process.stderr.write(`roamdns: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  let opts;
  try {
    opts = parseArgs({ args: rest, options: { config: { type: 'string', default: 'roamdns.yaml' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
  } catch (err) {
    process.stderr.write(`roamdns ${command}: ${(err as Error).message}\n\n${HELP[command]}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(HELP[command]!);
    return 0;
  }
  let cfg;
  try {
    cfg = loadConfig(opts.config!);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nroamdns: invalid config ${err.file}\n`);
      return 2;
    }
    throw err;
  }
  return serve(cfg);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`roamdns: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
