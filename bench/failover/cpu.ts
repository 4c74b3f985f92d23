// How busy the machine is, and how much of that is not the bench: the bed shares its cores with
// whatever else runs on the machine (other test suites), and a stall caused by them must be told
// apart from one caused by the bench's own fault injection.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from '../../test/netns/cluster.js';
import type { Bed } from '../../test/netns/bed.js';

/** Busy and total jiffies of all CPUs (/proc/stat's first line); idle and iowait are not busy. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** CPU jiffies used so far by this process and everything in the bed's namespaces (their reaped children included). */
function benchJiffies(bed: Bed): number {
  const pids = new Set<number>([process.pid]);
  for (const h of bed.hosts.values()) {
    try {
      for (const p of execFileSync('ip', ['netns', 'pids', h.ns], { encoding: 'utf8', timeout: 5000 }).split(/\s+/)) if (p) pids.add(Number(p));
    } catch { /* namespace gone */ }
  }
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number); // f[0] is field 3 (state)
      sum += f[11]! + f[12]! + f[13]! + f[14]!; // utime stime cutime cstime
    } catch { /* exited */ }
  }
  return sum;
}

export interface CpuShare {
  busyPercent: number; // the whole machine (100 = every core busy)
  foreignPercent: number; // of the machine, used by processes outside the bench
}

/** Measures the machine's CPU use between start() and stop(). */
export class CpuMeter {
  private m0 = machineJiffies();
  private b0: number;

  constructor(private readonly bed: Bed) {
    this.b0 = benchJiffies(bed);
  }

  stop(): CpuShare {
    const m1 = machineJiffies();
    const b1 = benchJiffies(this.bed);
    const total = Math.max(1, m1.total - this.m0.total);
    const busy = m1.busy - this.m0.busy;
    return {
      busyPercent: Math.round((100 * busy) / total),
      foreignPercent: Math.max(0, Math.round((100 * (busy - (b1 - this.b0))) / total)),
    };
  }
}

/**
 * Waits (at most `maxWaitMs`) until processes outside the bench use under `maxForeignPercent`
 * of the machine over a 2 s sample. Returns how long it waited and the last sample.
 */
export async function waitQuiet(bed: Bed, maxWaitMs: number, maxForeignPercent = 20): Promise<{ waitedMs: number; last: CpuShare }> {
  const t0 = Date.now();
  for (;;) {
    const meter = new CpuMeter(bed);
    await sleep(2000);
    const last = meter.stop();
    if (last.foreignPercent < maxForeignPercent || Date.now() - t0 >= maxWaitMs) return { waitedMs: Date.now() - t0 - 2000, last };
  }
}
