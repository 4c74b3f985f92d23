// A small counter/gauge registry rendered as Prometheus text exposition format (0.0.4).
// Counters are cheap enough for the query path: a Map lookup and an addition.

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metric {
  /** Label key -> a mutable cell, so a bound counter increments a field without any Map lookup. */
  readonly cells = new Map<string, { v: number }>();
  constructor(readonly name: string, readonly help: string, readonly kind: 'counter' | 'gauge') {}

  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.cell(k).v += by;
  }

  set(labels: Labels, value: number): void {
    this.cell(labelKey(labels)).v = value;
  }

  cell(k: string): { v: number } {
    let c = this.cells.get(k);
    if (!c) { c = { v: 0 }; this.cells.set(k, c); }
    return c;
  }

  /** (label key, value) pairs. */
  entries(): [string, number][] {
    return [...this.cells].map(([k, c]) => [k, c.v]);
  }

  /** A counter bound to fixed labels: the label key is computed once, increments are a Map update. */
  bind(labels: Labels = {}): { inc(by?: number): void } {
    const k = labelKey(labels);
    const c = this.cell(k);
    return { inc: (by = 1) => { c.v += by; } };
  }

  /** Current value for these labels (0 when never touched). */
  get(labels: Labels = {}): number {
    return this.cells.get(labelKey(labels))?.v ?? 0;
  }
}

/** A registry's values as plain data, for sending from a worker process to the primary. */
export interface MetricSnapshot {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  values: [string, number][];
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();

  snapshot(): MetricSnapshot[] {
    return [...this.metrics.values()].map((m) => ({ name: m.name, help: m.help, kind: m.kind, values: m.entries() }));
  }

  /** Renders several processes' snapshots as one: values with the same name and labels are summed. */
  static renderMerged(snapshots: MetricSnapshot[][]): string {
    const merged = new Registry();
    for (const snap of snapshots) {
      for (const m of snap) {
        const target = m.kind === 'counter' ? merged.counter(m.name, m.help) : merged.gauge(m.name, m.help);
        for (const [k, v] of m.values) target.cell(k).v += v;
      }
    }
    return merged.render();
  }

  counter(name: string, help: string): Metric {
    return this.add(name, help, 'counter');
  }

  gauge(name: string, help: string): Metric {
    return this.add(name, help, 'gauge');
  }

  private add(name: string, help: string, kind: 'counter' | 'gauge'): Metric {
    const existing = this.metrics.get(name);
    if (existing) return existing;
    const m = new Metric(name, help, kind);
    this.metrics.set(name, m);
    return m;
  }

  /** Prometheus text format. */
  render(): string {
    let out = '';
    for (const m of this.metrics.values()) {
      out += `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.kind}\n`;
      if (m.cells.size === 0 && m.kind === 'counter') out += `${m.name} 0\n`;
      for (const [k, c] of m.cells) out += `${m.name}${k} ${c.v}\n`;
    }
    return out;
  }
}

/** The DNS server's counters, created once per process. */
export function dnsMetrics(reg: Registry) {
  return {
    queries: reg.counter('roamdns_dns_queries_total', 'DNS messages answered, by transport and rcode'),
    dropped: reg.counter('roamdns_dns_dropped_total', 'DNS messages dropped without an answer, by reason'),
    malformed: reg.counter('roamdns_dns_malformed_total', 'Malformed DNS messages (answered FORMERR or dropped), by reason'),
    internalErrors: reg.counter('roamdns_dns_internal_errors_total', 'Queries that hit a bug and were answered SERVFAIL'),
    truncated: reg.counter('roamdns_dns_truncated_total', 'UDP answers sent with TC=1'),
    axfr: reg.counter('roamdns_axfr_total', 'Zone transfer requests, by result'),
    poolAnswers: reg.counter('roamdns_pool_answers_total', 'Answers for health-managed names, by pool and whether VIPs were withdrawn (degraded)'),
    tcpConnections: reg.gauge('roamdns_dns_tcp_connections', 'Open DNS TCP connections'),
    tcpRejected: reg.counter('roamdns_dns_tcp_rejected_total', 'TCP connections closed, by reason'),
    reloads: reg.counter('roamdns_zone_reloads_total', 'Zone loads, by zone and result'),
    zoneSerial: reg.gauge('roamdns_zone_serial', 'SOA serial of the zone being served'),
    zoneRecords: reg.gauge('roamdns_zone_records', 'Records in the zone being served'),
  };
}
export type DnsMetrics = ReturnType<typeof dnsMetrics>;
