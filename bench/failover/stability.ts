// Is a roamdns timing setting stable? Two faults that must not move any VIP: 20 % packet loss on
// every node, and a node whose CPUs are saturated by another process. Both bounded in time.
import os from 'node:os';
import type { BedProcess } from '../../test/netns/bed.js';
import { NODES, sleep } from '../../test/netns/cluster.js';
import { CpuMeter, waitQuiet } from './cpu.js';
import type { RoamdnsSystem } from './systems.js';

export interface StabilityWindow {
  fault: 'loss' | 'cpu';
  seconds: number;
  moves: number; // 'vip acquired' + 'vip released' logged by any agent during the window
  peerDowns: number; // a live peer declared dead (the cause of a spurious move)
  stalls: number; // an agent noticed its own timers ran late (CPU starvation)
  maxStallMs: number;
  holderChanges: number; // samples (every 500 ms) where `ip addr` differed from the start
  busyPercent: number; // the whole machine's CPU use over the window
  foreignPercent: number; // of which processes outside the bench (other test suites on the machine)
  quietWaitMs: number; // how long the window waited for the machine to be quiet
  stable: boolean;
  detail: string[]; // the first few events, for the report
}

/** The verdict for one fault: the last attempt counts; earlier ones failed under foreign load. */
export interface StabilityResult extends StabilityWindow {
  attempts: StabilityWindow[];
}

export const LOSS_PERCENT = 20;
/** Node whose CPUs the busy loops saturate (all namespaces share the machine's cores, see README). */
export const CPU_NODE = NODES[0];
/** A window that failed while other processes used more than this share of the machine is run again. */
export const MAX_FOREIGN_PERCENT = 20;
const ATTEMPTS = 3;
const QUIET_WAIT_MS = 180_000;

function startBurners(sys: RoamdnsSystem, seconds: number): BedProcess[] {
  // One busy loop per core. They are stopped (SIGTERM) after the window; timeout(1) kills them
  // `seconds` later at the latest, even if this process dies. Not `-s KILL`: timeout signals its
  // whole process group, itself included, and the loop's CPU time would vanish unaccounted.
  return Array.from({ length: os.availableParallelism() }, () =>
    sys.c.bed.spawn(CPU_NODE, ['timeout', String(seconds), 'sh', '-c', 'while :; do :; done']));
}

async function stabilityWindow(sys: RoamdnsSystem, fault: 'loss' | 'cpu', seconds: number, deadAfterMs: number): Promise<StabilityWindow> {
  await sys.waitSteady(30_000);
  const quiet = await waitQuiet(sys.c.bed, QUIET_WAIT_MS, MAX_FOREIGN_PERCENT);
  const before = JSON.stringify([...sys.c.holders()]);
  const t0 = Date.now();
  const meter = new CpuMeter(sys.c.bed);
  let cpu = { busyPercent: 0, foreignPercent: 0 };
  let burners: BedProcess[] = [];
  let holderChanges = 0;
  try {
    if (fault === 'loss') for (const n of NODES) sys.c.bed.loss(n, LOSS_PERCENT);
    else burners = startBurners(sys, seconds + 30);
    // Exactly `seconds` long (checking `ip addr` takes time too), a sample every 500 ms.
    const end = t0 + seconds * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(500, end - Date.now()));
      if (JSON.stringify([...sys.c.holders()]) !== before) holderChanges++;
    }
  } finally {
    cpu = meter.stop(); // before the burners go, so their time counts as the bench's
    if (fault === 'loss') for (const n of NODES) sys.c.bed.clearLoss(n);
    await Promise.all(burners.map((b) => b.stop(500)));
  }
  await sleep(deadAfterMs + 300); // a death declared just before the end shows up now
  const ev = sys.events().filter((e) => e.t >= t0 && e.t <= Date.now());
  const moves = ev.filter((e) => e.kind === 'acquired' || e.kind === 'released');
  const downs = ev.filter((e) => e.kind === 'peer-down');
  const stalls = ev.filter((e) => e.kind === 'stalled');
  return {
    fault, seconds, moves: moves.length, peerDowns: downs.length, stalls: stalls.length,
    maxStallMs: Math.max(0, ...stalls.map((s) => Number.parseInt(s.detail ?? '0', 10))),
    holderChanges, ...cpu, quietWaitMs: quiet.waitedMs, stable: moves.length === 0 && holderChanges === 0,
    detail: [...downs, ...moves, ...stalls].sort((a, b) => a.t - b.t).slice(0, 8)
      .map((e) => `+${e.t - t0} ms ${e.node} ${e.kind} ${e.peer ?? e.vip ?? ''} ${e.detail ?? ''}`.trim()),
  };
}

/**
 * Runs the window; when it fails while other processes on the machine took more than
 * MAX_FOREIGN_PERCENT of it, runs it again (at most ATTEMPTS in all). A pass under foreign
 * load counts: it is the harder condition.
 */
export async function stabilityTest(sys: RoamdnsSystem, fault: 'loss' | 'cpu', seconds: number, deadAfterMs: number,
  log: (w: StabilityWindow) => void): Promise<StabilityResult> {
  const attempts: StabilityWindow[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const w = await stabilityWindow(sys, fault, seconds, deadAfterMs);
    attempts.push(w);
    log(w);
    if (w.stable || w.foreignPercent <= MAX_FOREIGN_PERCENT) break;
  }
  return { ...attempts[attempts.length - 1]!, attempts };
}
