// Health metrics: the small interface the VIP state store and the checker report to, and a
// self-contained implementation rendered in Prometheus text format 0.0.4 (gauges, counters and a
// latency histogram). The lead may back `HealthMetrics` with the server's registry instead, or
// append `HealthMetricsRegistry.render()` to GET /metrics; health/ never imports server/.
import { VIP_STATES, type VipState } from './options.js';

export interface HealthMetrics {
  /** Sets roamdns_vip_state{pool,vip,state}: 1 for `state`, 0 for the other states. */
  vipState(pool: string, vip: string, state: VipState): void;
  /** Drops a VIP's gauges (it left the zone). */
  vipRemoved(pool: string, vip: string): void;
  /** Counts one edge in roamdns_vip_state_changes_total{pool,vip,from,to}. */
  stateChanged(pool: string, vip: string, from: VipState, to: VipState): void;
  /** Observes one probe in roamdns_probe_latency_seconds{pool,result}. */
  probeLatency(pool: string, latencyMs: number, ok: boolean): void;
}

type Labels = Record<string, string>;

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="1",b="2"}` with keys sorted, or '' for no labels. */
export function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${escapeValue(labels[k]!)}"`).join(',')}}` : '';
}

/** Prometheus renders `le` as a float: 0.005, 1, +Inf. */
function formatLe(le: number): string {
  return le === Infinity ? '+Inf' : String(le);
}

/** Cumulative-bucket histogram; each label set keeps its own counts. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  readonly buckets: readonly number[];

  constructor(readonly name: string, readonly help: string, buckets: readonly number[]) {
    this.buckets = buckets.filter((b) => Number.isFinite(b)).sort((a, b) => a - b); // +Inf is implicit
  }

  observe(labels: Labels, value: number): void {
    const key = formatLabels(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => {
        out += `${this.name}_bucket${formatLabels({ ...s.labels, le: formatLe(le) })} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
      out += `${this.name}_sum${formatLabels(s.labels)} ${s.sum}\n`;
      out += `${this.name}_count${formatLabels(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/** Seconds: from a loopback answer (sub-millisecond) to the longest sane timeout. */
export const PROBE_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A plain name -> labels -> value table for one gauge or counter. */
class Series {
  readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly kind: 'gauge' | 'counter') {}

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.kind}\n`;
    for (const [labels, v] of this.values) out += `${this.name}${labels} ${v}\n`;
    return out;
  }
}

export class HealthMetricsRegistry implements HealthMetrics {
  readonly state = new Series('roamdns_vip_state', 'VIP state: 1 for the current state of each VIP, 0 for the others', 'gauge');
  readonly changes = new Series('roamdns_vip_state_changes_total', 'VIP state changes, by pool, vip, from and to', 'counter');
  readonly latency = new Histogram('roamdns_probe_latency_seconds', 'Probe duration, by pool and result (pass/fail)', PROBE_LATENCY_BUCKETS);

  vipState(pool: string, vip: string, state: VipState): void {
    for (const s of VIP_STATES) this.state.values.set(formatLabels({ pool, vip, state: s }), s === state ? 1 : 0);
  }

  vipRemoved(pool: string, vip: string): void {
    for (const s of VIP_STATES) this.state.values.delete(formatLabels({ pool, vip, state: s }));
  }

  stateChanged(pool: string, vip: string, from: VipState, to: VipState): void {
    const key = formatLabels({ pool, vip, from, to });
    this.changes.values.set(key, (this.changes.values.get(key) ?? 0) + 1);
  }

  probeLatency(pool: string, latencyMs: number, ok: boolean): void {
    this.latency.observe({ pool, result: ok ? 'pass' : 'fail' }, latencyMs / 1000);
  }

  /** Prometheus text for every health metric. */
  render(): string {
    return this.state.render() + this.changes.render() + this.latency.render();
  }
}

/** For callers that do not count. */
export const noopMetrics: HealthMetrics = { vipState() {}, vipRemoved() {}, stateChanged() {}, probeLatency() {} };
