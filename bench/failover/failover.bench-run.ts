// The failover benchmark of issue 3: client-visible gaps for crash and graceful stop, roamdns at its
// defaults against keepalived (VRRPv2 advert_int 1, VRRPv3 advert_int 0.1) on the same namespace bed,
// then the fastest roamdns timing that is still stable under packet loss and CPU saturation.
// Run: npx vitest run --config bench/failover/vitest.config.ts (as root; see README.md for knobs).
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from '../../failover/options.js';
import { buildAgent, type AgentBuild } from './agent-build.js';
import { KEEPALIVED_VARIANTS } from './keepalived.js';
import { conditions, machine, write, type Candidate, type CandidateRun, type Results, type SystemRun } from './report.js';
import { stabilityTest, type StabilityWindow } from './stability.js';
import { KeepalivedSystem, liveSystems, RoamdnsSystem, type System } from './systems.js';
import { runSeries, type Trial } from './trials.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TRIALS = Math.max(1, Math.min(50, Number(process.env.BENCH_TRIALS ?? 5)));
const STABILITY_S = Math.max(5, Math.min(300, Number(process.env.BENCH_STABILITY_S ?? 30)));
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const OUT = process.env.BENCH_OUT ?? HERE;

/** heartbeat/dead_after pairs to explore, slowest first; the first is the shipped defaults. */
/** `HB/DEAD` in ms, or `defaults`; a `+rt` suffix runs the agents under SCHED_RR. */
const CANDIDATES: Candidate[] = (process.env.BENCH_CANDIDATES ?? 'defaults,25/250,20/200,20/150,10/100,10/80,10/60,10/100+rt').split(',').map((s) => {
  const realtime = s.endsWith('+rt');
  const spec = s.replace(/\+rt$/, '');
  if (spec === 'defaults') return { key: s, heartbeatMs: DEFAULT_HEARTBEAT_MS, deadAfterMs: DEFAULT_DEAD_AFTER_MS, defaults: true, realtime };
  const [hb, da] = spec.split('/').map(Number);
  if (!(hb! >= 10 && da! >= 3 * hb!)) throw new Error(`BENCH_CANDIDATES: "${s}" is not HEARTBEAT/DEAD_AFTER in ms (heartbeat ≥ 10, dead_after ≥ 3 × heartbeat)`);
  return { key: s, heartbeatMs: hb!, deadAfterMs: da!, defaults: false, realtime };
});

const wanted = (key: string) => process.env.BENCH_REPORT_ONLY !== '1' && (!ONLY || ONLY.some((o) => key === o || key.startsWith(o)));

const results: Results = {
  started: new Date().toISOString(), machine: machine(), conditions: conditions(TRIALS, STABILITY_S), systems: [], candidates: [],
};

// A Ctrl-C or a kill of the run must not leave namespaces or daemons behind (Bed's own exit hook
// only runs on a normal exit).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    for (const s of liveSystems()) { s.destroySync(); rmSync(s.c.dir, { recursive: true, force: true }); }
    process.exit(130);
  });
}

const show = (t: Trial) => console.log(`${t.system} ${t.scenario} #${t.trial} ${t.node} ${t.vip}: gap ${t.gapMs ?? 'NONE'} ms` +
  ` (last ok ${t.lastOkMs}, dead ${t.detectMs ?? '-'}, released ${t.releasedMs ?? '-'}, acquired ${t.acquiredMs ?? '-'}, master ${t.masterMs ?? '-'},` +
  ` first ok ${t.firstOkMs ?? '-'} from ${t.newHolder ?? '-'}; inject ${t.injectMs}, CPU ${t.busyPercent} % foreign ${t.foreignPercent} %; ${t.failures} failed ${JSON.stringify(t.reasons)}, last failures end ${t.lastFailedMs.join(',')})${t.error ? ` ERROR ${t.error}` : ''}`);

async function withSystem<T>(sys: System, body: (s: System) => Promise<T>): Promise<T> {
  try {
    await sys.start();
    return await body(sys);
  } finally {
    await sys.destroy();
  }
}

async function measureSystem(sys: System): Promise<void> {
  const run: SystemRun = { key: sys.key, label: sys.label, trials: [] };
  results.systems.push(run);
  try {
    await withSystem(sys, async (s) => {
      try {
        for (const sc of ['crash', 'graceful'] as const) run.trials.push(...await runSeries(s, sc, TRIALS, show));
      } finally {
        run.daemonErrors = s.events().filter((e) => e.kind === 'driver-error').map((e) => `${new Date(e.t).toISOString()} ${e.node} ${e.vip} ${e.detail}`);
        if (run.daemonErrors.length) console.log(`${s.label}: daemon errors\n  ${run.daemonErrors.join('\n  ')}`);
      }
    });
  } catch (e) {
    run.error = (e as Error).message;
    throw e;
  } finally {
    write(OUT, results);
  }
}

// Bounds for vitest: a trial is a wait for quiet (≤ 32 s), the fault (≤ 20 s) and the restore (≤ 30 s);
// a stability window waits for quiet (≤ 182 s), runs, settles (≤ 2 s), up to 3 attempts.
const TRIAL_BOUND_MS = 90_000;
const SYSTEM_TIMEOUT_MS = 60_000 + TRIALS * 2 * TRIAL_BOUND_MS;
const CANDIDATE_TIMEOUT_MS = 60_000 + 2 * 3 * (STABILITY_S + 220) * 1000 + TRIALS * TRIAL_BOUND_MS;

// BENCH_REPORT_ONLY=1: rewrite results.md from results.json (after changing the report), run nothing.
const REPORT_ONLY = process.env.BENCH_REPORT_ONLY === '1';
if (REPORT_ONLY) Object.assign(results, JSON.parse(readFileSync(path.join(OUT, 'results.json'), 'utf8')));

let agent: AgentBuild;

describe.sequential('failover benchmark', () => {
  beforeAll(() => {
    if (REPORT_ONLY) return;
    agent = buildAgent();
    results.machine.agent = agent.note;
    console.log(`agent: ${agent.main} (${agent.note})`);
  }, 320_000);

  afterAll(() => {
    if (!REPORT_ONLY) results.finished = new Date().toISOString();
    write(OUT, results);
    console.log(`results written to ${path.join(OUT, 'results.md')} and results.json`);
  });

  test.runIf(REPORT_ONLY)('rewrite results.md from results.json', () => {});

  test.runIf(wanted('roamdns'))('roamdns at its defaults', async () => {
    await measureSystem(new RoamdnsSystem('roamdns-defaults', `roamdns, defaults (heartbeat ${DEFAULT_HEARTBEAT_MS} ms, dead_after ${DEFAULT_DEAD_AFTER_MS} ms)`, { agentMain: agent.main }));
  }, SYSTEM_TIMEOUT_MS);

  for (const v of KEEPALIVED_VARIANTS) {
    test.runIf(wanted(v.key))(v.label, async () => {
      await measureSystem(new KeepalivedSystem(v));
    }, SYSTEM_TIMEOUT_MS);
  }

  for (const c of CANDIDATES) {
    test.runIf(wanted(`explore:${c.key}`))(`roamdns stability and crash gap at heartbeat ${c.heartbeatMs} ms, dead_after ${c.deadAfterMs} ms${c.realtime ? ', SCHED_RR' : ''}`, async () => {
      const run: CandidateRun = { ...c, stability: [], trials: [] };
      results.candidates.push(run);
      const yaml = c.defaults ? undefined : `  heartbeat: ${c.heartbeatMs}ms\n  dead_after: ${c.deadAfterMs}ms`;
      const sys = new RoamdnsSystem(`roamdns-${c.key}`, `roamdns ${c.key}`, { agentMain: agent.main, clusterYaml: yaml, realtime: c.realtime });
      try {
        await withSystem(sys, async () => {
          const logWindow = (w: StabilityWindow) => console.log(`${sys.label} ${w.fault}: ${w.moves} moves, ${w.peerDowns} peer deaths,` +
            ` ${w.stalls} stalls (max ${w.maxStallMs} ms), holder changes ${w.holderChanges}, CPU busy ${w.busyPercent} % (foreign ${w.foreignPercent} %,` +
            ` waited ${w.quietWaitMs} ms for quiet)${w.detail.length ? `\n  ${w.detail.join('\n  ')}` : ''}`);
          for (const fault of ['loss', 'cpu'] as const) run.stability.push(await stabilityTest(sys, fault, STABILITY_S, c.deadAfterMs, logWindow));
          run.trials.push(...await runSeries(sys, 'crash', TRIALS, show));
        });
      } catch (e) {
        run.error = (e as Error).message;
        throw e;
      } finally {
        write(OUT, results);
      }
    }, CANDIDATE_TIMEOUT_MS);
  }
});
