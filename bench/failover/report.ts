// Turns the run's trials and stability windows into results.json and the markdown tables of results.md.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOSS_PERCENT } from './stability.js';
import type { StabilityResult } from './stability.js';
import { POLL_INTERVAL_MS, POLL_TIMEOUT_MS } from './systems.js';
import type { Scenario, Trial } from './trials.js';
import { stats } from './polls.js';

export interface SystemRun {
  key: string;
  label: string;
  trials: Trial[];
  error?: string;
  /** Errors the daemons logged during the whole run of this system (roamdns: 'alias driver failed'). */
  daemonErrors?: string[];
}

export interface Candidate {
  key: string;
  heartbeatMs: number;
  deadAfterMs: number;
  defaults: boolean;
  realtime: boolean; // agents under SCHED_RR (chrt -r 10)
}

export interface CandidateRun extends Candidate {
  stability: StabilityResult[];
  trials: Trial[];
  error?: string;
}

export interface Results {
  started: string;
  finished?: string;
  machine: Record<string, string>;
  conditions: Record<string, string | number>;
  systems: SystemRun[];
  candidates: CandidateRun[];
}

/** What a tool prints, stdout and stderr (keepalived writes its version to stderr). */
function output(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

const tryRun = (file: string, args: string[]) => output(file, args).split('\n')[0] || 'unknown';

export function machine(): Record<string, string> {
  return {
    nproc: String(os.availableParallelism()),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(),
    node: process.version,
    keepalived: tryRun('keepalived', ['--version']),
    arping: tryRun('arping', ['-V']),
    // What was measured: the commit, and the agent's sources that differ from it (dist/ is built from the tree).
    commit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    uncommitted: output('git', ['status', '--porcelain', '--', 'failover', 'cli']).replace(/\s+/g, ' ').trim() || 'none',
  };
}

/**
 * Expected false deaths per hour at `LOSS_PERCENT` loss on every node (3 nodes, 6 directed pairs):
 * a peer is declared dead when every heartbeat sent in (0, dead_after) after the last one that
 * arrived is lost, i.e. m = ceil(dead_after / heartbeat) − 1 in a row. Timer jitter makes it m or m+1.
 */
export function falseDeathsPerHour(c: Candidate): number {
  const p = LOSS_PERCENT / 100;
  const m = Math.ceil(c.deadAfterMs / c.heartbeatMs) - 1;
  return 6 * (3_600_000 / c.heartbeatMs) * (1 - p) * p ** m;
}

const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v)}`);

function series(trials: Trial[], scenario: Scenario) {
  const mine = trials.filter((t) => t.scenario === scenario);
  const ok = mine.filter((t) => t.gapMs !== null);
  const med = (k: keyof Trial) => stats(ok.map((t) => t[k]).filter((v): v is number => typeof v === 'number')).median;
  return {
    mine, ok, gap: stats(ok.map((t) => t.gapMs!)), detect: med('detectMs'), acquired: med('acquiredMs'), released: med('releasedMs'),
    master: med('masterMs'), firstOk: med('firstOkMs'), foreign: med('foreignPercent'),
  };
}

function systemRows(runs: SystemRun[]): string[] {
  const rows = ['| system | scenario | trials | min ms | median ms | max ms | median timeline after the fault (ms) | foreign CPU (median) |', '|---|---|---|---|---|---|---|---|'];
  for (const r of runs) {
    for (const sc of ['crash', 'graceful'] as const) {
      const s = series(r.trials, sc);
      if (s.mine.length === 0) continue;
      const tl = r.key.startsWith('keepalived')
        ? `MASTER ${ms(s.master)} → client ok ${ms(s.firstOk)}`
        : `${sc === 'graceful' ? `released ${ms(s.released)}, ` : `declared dead ${ms(s.detect)}, `}acquired ${ms(s.acquired)} → client ok ${ms(s.firstOk)}`;
      const failed = s.mine.length - s.ok.length;
      rows.push(`| ${r.label} | ${sc} | ${s.ok.length}${failed ? ` (+${failed} failed)` : ''} | ${ms(s.gap.min)} | **${ms(s.gap.median)}** | ${ms(s.gap.max)} | ${tl} | ${ms(s.foreign)} % |`);
    }
  }
  return rows;
}

function candidateRows(runs: CandidateRun[], seconds: number | string): string[] {
  const rows = [
    `| heartbeat / dead_after | ${LOSS_PERCENT} % loss, ${seconds} s: moves (peer deaths; foreign CPU) | CPU saturated, ${seconds} s: moves (peer deaths; longest stall; foreign CPU) | stable | crash gap min / median / max ms | expected false deaths per hour at ${LOSS_PERCENT} % loss |`,
    '|---|---|---|---|---|---|',
  ];
  const tries = (w: StabilityResult) => (w.attempts.length > 1 ? `, attempt ${w.attempts.length}` : '');
  for (const c of runs) {
    const loss = c.stability.find((s) => s.fault === 'loss');
    const cpu = c.stability.find((s) => s.fault === 'cpu');
    const stable = loss && cpu ? (loss.stable && cpu.stable ? 'yes' : 'no') : '–';
    const s = series(c.trials, 'crash');
    const name = `${c.heartbeatMs} ms / ${c.deadAfterMs} ms${c.defaults ? ' (defaults)' : ''}${c.realtime ? ', agent SCHED_RR' : ''}`;
    rows.push(`| ${name} | ${loss ? `${loss.moves} (${loss.peerDowns}; ${loss.foreignPercent} %${tries(loss)})` : '–'} | ` +
      `${cpu ? `${cpu.moves} (${cpu.peerDowns}; ${cpu.maxStallMs} ms; ${cpu.foreignPercent} %${tries(cpu)})` : '–'} | ${stable} | ` +
      `${ms(s.gap.min)} / **${ms(s.gap.median)}** / ${ms(s.gap.max)} | ${falseDeathsPerHour(c).toPrecision(2)} |`);
  }
  return rows;
}

export function markdown(r: Results): string {
  // "Robust": at most one expected false death an hour under sustained 20 % loss (a fault far
  // beyond any healthy network), or the defaults' figure if that is higher.
  const defaults = r.candidates.find((c) => c.defaults && !c.realtime);
  const limit = Math.max(1, defaults ? falseDeathsPerHour(defaults) : 1);
  const stableFastest = (rt: boolean, robust: boolean) => r.candidates
    .filter((c) => c.realtime === rt && c.stability.length === 2 && c.stability.every((s) => s.stable) && series(c.trials, 'crash').ok.length > 0)
    .filter((c) => !robust || falseDeathsPerHour(c) <= limit)
    .sort((a, b) => series(a.trials, 'crash').gap.median - series(b.trials, 'crash').gap.median)[0];
  const line = (c: CandidateRun | undefined, what: string) => (c
    ? `Fastest setting ${what}: heartbeat ${c.heartbeatMs} ms, dead_after ${c.deadAfterMs} ms, crash gap median ${ms(series(c.trials, 'crash').gap.median)} ms.`
    : `No setting ${what}.`);
  const errors = r.systems.flatMap((s) => (s.daemonErrors ?? []).map((e) => `${s.key}: ${e}`));
  return [
    `Run ${r.started} → ${r.finished ?? '(unfinished)'}; machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    `Conditions: ${Object.entries(r.conditions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    ...systemRows(r.systems),
    '',
    ...(r.candidates.length ? candidateRows(r.candidates, r.conditions.stabilitySeconds!) : []),
    '',
    line(stableFastest(false, false), 'with no move in either window (agent at normal priority)'),
    '',
    line(stableFastest(false, true), `with no move in either window and at most ${limit.toPrecision(2)} expected false death per hour under sustained loss`),
    ...(r.candidates.some((c) => c.realtime) ? ['', line(stableFastest(true, false), 'with no move in either window, agent under SCHED_RR')] : []),
    '',
    `Errors the daemons logged during the gap trials: ${errors.length}${errors.length ? `, e.g.\n\n${errors.slice(0, 3).map((e) => `    ${e}`).join('\n')}` : ''}`,
    '',
    'Per-trial details (gap, timeline, failed requests by reason) and the stability events are in results.json.',
    '',
  ].join('\n');
}

export function write(dir: string, r: Results): void {
  writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(path.join(dir, 'results.md'), markdown(r));
}

export const conditions = (trials: number, stabilitySeconds: number): Record<string, string | number> => ({
  bed: 'bridge in its own netns; nodes www1-3 198.51.100.2-.4, client 198.51.100.100, VIPs .201-.203 (/32)',
  poll: `HTTP GET on a new TCP connection per request, every ${POLL_INTERVAL_MS} ms per VIP, timeout ${POLL_TIMEOUT_MS} ms`,
  crash: 'the node\'s switch port down, then SIGKILL to the daemon (keepalived: VRRP child, then parent)',
  graceful: 'SIGTERM the daemon (roamdns agent / keepalived parent)',
  trials,
  stabilitySeconds,
});
