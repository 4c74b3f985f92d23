// AgentOptions defaults and validation: every problem listed, named by its key.
import { describe, expect, it } from 'vitest';
import { AgentOptionsError, configDigest, DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS, resolveAgentOptions, type AgentOptionsInput } from '../../failover/options.js';

const base: AgentOptionsInput = {
  nodeName: 'www1', interface: 'eth0', secret: Buffer.from('k'),
  nodes: { www1: { address: '198.51.100.2' }, www2: { address: '198.51.100.3' } },
  vips: ['198.51.100.201/24', '2001:db8::201'],
};

describe('resolveAgentOptions', () => {
  it('fills the justified defaults', () => {
    const o = resolveAgentOptions({ ...base, heartbeatMs: undefined });
    expect(o).toMatchObject({ heartbeatMs: DEFAULT_HEARTBEAT_MS, deadAfterMs: DEFAULT_DEAD_AFTER_MS, matureMs: 3000, handoffTimeoutMs: 800, port: 7946, checkSource: true, announce: { count: 3, intervalMs: 200 } });
    expect(o.deadAfterMs / o.heartbeatMs).toBeGreaterThanOrEqual(8);
  });

  it('fills service check and notify defaults', () => {
    const o = resolveAgentOptions({ ...base, serviceCheck: { target: { http: 'http://127.0.0.1/healthz' }, fall: 5 }, notify: { command: '/etc/roamdns/notify.sh' } });
    expect(o.serviceCheck).toEqual({ target: { http: 'http://127.0.0.1/healthz' }, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 5 });
    expect(o.notify).toEqual({ command: '/etc/roamdns/notify.sh', timeoutMs: 5000 });
    expect(() => resolveAgentOptions({ ...base, serviceCheck: { target: { http: 'ftp://x' }, rise: 0 } })).toThrow(/rise and fall[\s\S]*not an http/);
  });

  it('lists every problem at once', () => {
    let err: unknown;
    try {
      resolveAgentOptions({
        ...base, nodeName: 'nobody', heartbeatMs: 200, deadAfterMs: 300, vips: ['198.51.100.201', '198.51.100.201/32', 'bogus'],
        prefer: { '198.51.100.9': 'www1', '198.51.100.201': 'ghost' }, interface: 'this-name-is-too-long',
        nodes: { www1: { address: 'x', weight: 0 }, www2: { address: '198.51.100.3', port: 70000 } },
      });
    } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AgentOptionsError);
    const problems = (err as AgentOptionsError).problems.join('\n');
    for (const key of ['nodeName', 'deadAfterMs', 'nodes.www1.address', 'nodes.www1.weight', 'nodes.www2.port', 'vips: 198.51.100.201 listed twice', 'vips: vip "bogus"', 'prefer.198.51.100.9', 'prefer.198.51.100.201: node "ghost"', 'interface']) {
      expect(problems).toContain(key);
    }
    expect((err as AgentOptionsError).code).toBe('EAGENT_OPTIONS');
  });

  it('the config digest ignores order and spelling of addresses, and changes with the VIP set', () => {
    const a = configDigest(base);
    expect(configDigest({ ...base, vips: ['2001:DB8:0::201', '198.51.100.201/24'] })).toBe(a);
    expect(configDigest({ ...base, vips: ['198.51.100.201/24'] })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
  });
});
