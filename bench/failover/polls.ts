// What the client saw: the test bed's poller output, parsed as it arrives, and the gap measures on it.
import type { ChildProcess } from 'node:child_process';

export interface Poll {
  t: number; // epoch ms when the request finished
  ok: boolean;
  what: string; // the answering node, or the failure reason (TIMEOUT, ECONNREFUSED, …)
}

export interface Gap {
  gapMs: number; // longest stretch without a successful answer
  lastOkBefore: number; // epoch ms of the last success before the fault (or the fault time)
  firstOkAfter?: number; // epoch ms of the first success after the longest stretch
  answeredBy?: string; // who gave that success
  failures: number; // failed requests inside the window
  reasons: Record<string, number>; // failed requests by reason
  failedAt: number[]; // epoch ms when each failed request finished (a timeout: sent `timeout` ms before)
}

/**
 * Parses `<epoch ms> <vip> <ok|fail> <node|reason>` lines (test/netns/poller.mjs) into one
 * array per VIP. Incremental, so waiting loops do not re-read the whole output.
 */
export class PollLog {
  private readonly byVip = new Map<string, Poll[]>();
  private rest = '';

  constructor(child: ChildProcess, vips: readonly string[]) {
    for (const v of vips) this.byVip.set(v, []);
    child.stdout!.on('data', (d: Buffer) => this.feed(d.toString('utf8')));
  }

  private feed(text: string): void {
    const lines = (this.rest + text).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      const [t, vip, ok, what] = line.split(' ');
      const list = this.byVip.get(vip ?? '');
      if (list && Number.isFinite(Number(t))) list.push({ t: Number(t), ok: ok === 'ok', what: what ?? '' });
    }
  }

  polls(vip: string): readonly Poll[] {
    return this.byVip.get(vip) ?? [];
  }

  /** Polls of `vip` that finished in (from, to]. */
  between(vip: string, from: number, to: number): Poll[] {
    const list = this.polls(vip);
    const out: Poll[] = [];
    for (let i = list.length - 1; i >= 0 && list[i]!.t > from; i--) if (list[i]!.t <= to) out.push(list[i]!);
    return out.reverse();
  }

  /**
   * The longest stretch without a success for `vip` from the last success at or before `from`
   * up to `to`: what a client polling every 10 ms experiences as the outage.
   */
  gap(vip: string, from: number, to: number): Gap {
    const list = this.polls(vip);
    let lastOk = from;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.t <= from && list[i]!.ok) { lastOk = list[i]!.t; break; }
    const g: Gap = { gapMs: 0, lastOkBefore: lastOk, failures: 0, reasons: {}, failedAt: [] };
    let prev = lastOk;
    for (const p of this.between(vip, from, to)) {
      if (!p.ok) {
        g.failures++;
        g.reasons[p.what] = (g.reasons[p.what] ?? 0) + 1;
        g.failedAt.push(p.t);
        continue;
      }
      if (p.t - prev > g.gapMs) Object.assign(g, { gapMs: p.t - prev, firstOkAfter: p.t, answeredBy: p.what });
      prev = p.t;
    }
    if (to - prev > g.gapMs) Object.assign(g, { gapMs: to - prev, firstOkAfter: undefined, answeredBy: undefined });
    return g;
  }

  /** True when the last `n` polls of `vip` all succeeded, the last within `freshMs`, answered by one of `by`. */
  answering(vip: string, n: number, by?: (node: string) => boolean, freshMs = 100): boolean {
    const list = this.polls(vip);
    if (list.length < n || Date.now() - list[list.length - 1]!.t > freshMs) return false;
    for (let i = list.length - n; i < list.length; i++) {
      const p = list[i]!;
      if (!p.ok || (by && !by(p.what))) return false;
    }
    return true;
  }

  /** Longest stretch without a success for `vip` over the last `windowMs`, as of now. */
  recentGap(vip: string, windowMs: number): number {
    const now = Date.now();
    return this.gap(vip, now - windowMs, now).gapMs;
  }
}

export interface Stats {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { n, min: s[0] ?? NaN, median, max: s[n - 1] ?? NaN };
}
