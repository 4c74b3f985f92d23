// Prometheus text rendering of the health metrics: enum gauge, change counter, latency histogram.
import { describe, expect, test } from 'vitest';
import { HealthMetricsRegistry, Histogram, formatLabels } from '../../health/metrics.js';

describe('Histogram', () => {
  test('cumulative buckets, +Inf, _sum and _count per label set', () => {
    const h = new Histogram('probe_seconds', 'Probe duration', [0.1, 0.01, 1, Infinity]);
    for (const v of [0.005, 0.05, 0.5, 5]) h.observe({ pool: 'a' }, v);
    expect(h.render()).toBe(
      [
        '# HELP probe_seconds Probe duration',
        '# TYPE probe_seconds histogram',
        'probe_seconds_bucket{le="0.01",pool="a"} 1',
        'probe_seconds_bucket{le="0.1",pool="a"} 2',
        'probe_seconds_bucket{le="1",pool="a"} 3',
        'probe_seconds_bucket{le="+Inf",pool="a"} 4',
        'probe_seconds_sum{pool="a"} 5.555',
        'probe_seconds_count{pool="a"} 4',
        '',
      ].join('\n'),
    );
  });

  test('label values are escaped', () => {
    expect(formatLabels({ b: 'x"y', a: 'back\\slash\nnl' })).toBe('{a="back\\\\slash\\nnl",b="x\\"y"}');
  });
});

describe('HealthMetricsRegistry', () => {
  test('the state gauge has one series per state, 1 for the current one', () => {
    const m = new HealthMetricsRegistry();
    m.vipState('www', '198.51.100.1', 'conflict');
    const lines = m.render().split('\n').filter((l) => l.startsWith('roamdns_vip_state{'));
    expect(lines).toEqual([
      'roamdns_vip_state{pool="www",state="unknown",vip="198.51.100.1"} 0',
      'roamdns_vip_state{pool="www",state="up",vip="198.51.100.1"} 0',
      'roamdns_vip_state{pool="www",state="down",vip="198.51.100.1"} 0',
      'roamdns_vip_state{pool="www",state="orphan",vip="198.51.100.1"} 0',
      'roamdns_vip_state{pool="www",state="conflict",vip="198.51.100.1"} 1',
    ]);
    m.stateChanged('www', '198.51.100.1', 'up', 'conflict');
    m.stateChanged('www', '198.51.100.1', 'up', 'conflict');
    m.probeLatency('www', 12, true);
    const text = m.render();
    expect(text).toContain('roamdns_vip_state_changes_total{from="up",pool="www",to="conflict",vip="198.51.100.1"} 2');
    expect(text).toContain('roamdns_probe_latency_seconds_bucket{le="0.025",pool="www",result="pass"} 1');
    expect(text).toContain('roamdns_probe_latency_seconds_bucket{le="0.01",pool="www",result="pass"} 0');
    expect(text).toContain('# TYPE roamdns_probe_latency_seconds histogram');
  });
});
