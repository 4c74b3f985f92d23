// The agent the bench runs: a private build of the working tree, so that a rebuild of dist/ by
// someone else during the run (it happened: a half-written dist/ made an agent fail to start)
// cannot change or break what is measured.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../../test/netns/cluster.js';

export interface AgentBuild {
  main: string; // path of cli/main.js to run
  note: string; // how it was built, for the results
}

/**
 * Compiles the tree with the project's tsconfig into bench/failover/.build (inside the repo, so
 * node_modules resolves), or uses BENCH_AGENT (a main.js) when set. Type errors in files being
 * edited elsewhere do not stop tsc from emitting; the result is smoke-tested with `--help`.
 */
export function buildAgent(): AgentBuild {
  if (process.env.BENCH_AGENT) return { main: path.resolve(process.env.BENCH_AGENT), note: `BENCH_AGENT=${process.env.BENCH_AGENT}` };
  const out = path.join(REPO, 'bench/failover/.build');
  rmSync(out, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.json'), '--outDir', out, '--sourceMap', 'false'],
    { encoding: 'utf8', timeout: 300_000 });
  const main = path.join(out, 'cli/main.js');
  const errors = (tsc.stdout.match(/error TS\d+/g) ?? []).length;
  try {
    execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (e) {
    throw new Error(`bench/failover: the agent build does not start (node ${main} --help):\n${(e as { stderr?: string }).stderr ?? e}\n${tsc.stdout}`);
  }
  return { main, note: errors ? `private tsc build with ${errors} type error(s) elsewhere in the tree (emitted anyway)` : 'private tsc build of the working tree' };
}
