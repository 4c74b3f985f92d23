// One failover trial: fault the node holding a VIP, measure the client-visible gap on that VIP,
// line it up with what the daemons logged, then bring the node back to a steady 1/1/1 cluster.
import { NODES, VIPS, sleep, waitFor } from '../../test/netns/cluster.js';
import { CpuMeter, waitQuiet } from './cpu.js';
import type { DaemonEvent, System } from './systems.js';

export type Scenario = 'crash' | 'graceful';

/** One trial; every `…Ms` field is milliseconds after the fault was injected (t0). */
export interface Trial {
  system: string;
  scenario: Scenario;
  trial: number;
  node: string;
  vip: string;
  gapMs: number | null; // null: the VIP did not answer from a survivor within the bound
  error?: string;
  newHolder?: string;
  failures: number; // failed client requests during the gap
  reasons: Record<string, number>;
  lastFailedMs: number[]; // when the last (up to 3) failed requests ended; a TIMEOUT was sent 50 ms earlier
  lastOkMs: number; // the last success before the fault (≤ 0)
  firstOkMs?: number; // the first success after the gap
  detectMs?: number; // roamdns: a survivor logs the node down/left
  releasedMs?: number; // roamdns, graceful: the stopping node removed its alias
  acquiredMs?: number; // roamdns: a survivor added the alias (arping starts right after)
  masterMs?: number; // keepalived: a survivor logs `Entering MASTER STATE`
  injectMs: number; // how long injecting the fault took (crash: `ip link set down` + kill)
  busyPercent: number; // machine CPU use during the trial
  foreignPercent: number; // of which processes outside the bench
}

const ANSWER_BOUND_MS = 20_000;
const QUIET_WAIT_MS = 30_000; // before a trial, wait at most this long for other processes to calm down

const after = (t: number | undefined, t0: number) => (t === undefined ? undefined : t - t0);

function firstEvent(ev: DaemonEvent[], pred: (e: DaemonEvent) => boolean): number | undefined {
  return ev.find(pred)?.t;
}

export async function runTrial(sys: System, scenario: Scenario, trial: number): Promise<Trial> {
  const node = NODES[trial % NODES.length]!;
  await sys.waitSteady(30_000);
  await waitQuiet(sys.c.bed, QUIET_WAIT_MS);
  await sys.waitSteady(30_000);
  await sleep(200);
  const vip = VIPS.find((v) => sys.holdersOf(v)[0] === node)!;
  const meter = new CpuMeter(sys.c.bed);
  const tInject = Date.now();
  const stopping = scenario === 'crash' ? (sys.crash(node), Promise.resolve()) : sys.stopNode(node);
  // The crash is complete when crash() returns (link down, then kill); SIGTERM is sent at once.
  const t0 = scenario === 'crash' ? Date.now() : tInject;
  let error: string | undefined;
  try {
    await waitFor(() => sys.polls.answering(vip, 10, (n) => n !== node, 200), ANSWER_BOUND_MS, `${vip} to answer from a survivor`);
  } catch (e) {
    error = (e as Error).message;
  }
  await stopping;
  const tEnd = Date.now();
  const cpu = meter.stop();
  const g = sys.polls.gap(vip, t0, tEnd);
  const ev = sys.events().filter((e) => e.t >= t0 - 5 && e.t <= tEnd);
  const other = (e: DaemonEvent) => e.node !== node && e.vip === vip;
  const result: Trial = {
    system: sys.key, scenario, trial, node, vip, gapMs: error ? null : g.gapMs, error,
    newHolder: g.answeredBy, failures: g.failures, reasons: g.reasons,
    lastFailedMs: g.failedAt.slice(-3).map((t) => t - t0),
    lastOkMs: g.lastOkBefore - t0, firstOkMs: after(g.firstOkAfter, t0),
    detectMs: after(firstEvent(ev, (e) => (e.kind === 'peer-down' || e.kind === 'peer-left') && e.peer === node), t0),
    releasedMs: after(firstEvent(ev, (e) => e.kind === 'released' && e.node === node && e.vip === vip), t0),
    acquiredMs: after(firstEvent(ev, (e) => e.kind === 'acquired' && other(e)), t0),
    masterMs: after(firstEvent(ev, (e) => e.kind === 'master' && other(e)), t0),
    injectMs: t0 - tInject, ...cpu,
  };
  await sys.restore(node, scenario);
  return result;
}

/** `n` trials of one scenario; a failed restore ends the series (the bed is no longer steady). */
export async function runSeries(sys: System, scenario: Scenario, n: number, log: (t: Trial) => void): Promise<Trial[]> {
  const out: Trial[] = [];
  for (let i = 0; i < n; i++) {
    const t = await runTrial(sys, scenario, i);
    out.push(t);
    log(t);
  }
  return out;
}
