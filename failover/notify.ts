// Runs the cluster.notify hook (`HOOK acquire|release VIP IFACE REASON`) with a timeout, off the failover path.
import type { Logger } from './deps.js';
import { realExec, type ExecFn } from './driver.js';

export type NotifyAction = 'acquire' | 'release';
export type Notifier = (action: NotifyAction, vip: string, reason: string) => Promise<void>;

export interface NotifierOptions {
  command: string;
  iface: string;
  timeoutMs: number;
  log: Logger;
  exec?: ExecFn;
}

/**
 * Hooks of one VIP run in order (a release never overtakes the acquire before it);
 * hooks of different VIPs run in parallel. The returned promise never rejects and the
 * engine does not await it: a slow or failing hook is logged, failover goes on.
 */
export function createNotifier(o: NotifierOptions): Notifier {
  const exec = o.exec ?? realExec;
  const chains = new Map<string, Promise<void>>();
  const runOne = async (action: NotifyAction, vip: string, reason: string): Promise<void> => {
    const started = performance.now();
    const r = await exec(o.command, [action, vip, o.iface, reason], { timeoutMs: o.timeoutMs });
    const ms = Math.round(performance.now() - started);
    if (r.code === 0) {
      o.log.debug({ hook: o.command, action, vip, reason, ms }, 'notify hook ran');
      return;
    }
    const why = r.error === 'timeout' ? `killed after ${o.timeoutMs} ms` : r.error ?? `exit ${r.code}`;
    o.log.warn({ hook: o.command, action, vip, reason, err: why, stderr: r.stderr.slice(0, 500) }, 'notify hook failed');
  };
  return (action, vip, reason) => {
    const prev = chains.get(vip) ?? Promise.resolve();
    const next = prev.then(() => runOne(action, vip, reason)).catch((e: unknown) => {
      o.log.warn({ hook: o.command, action, vip, err: String(e) }, 'notify hook failed');
    });
    chains.set(vip, next);
    void next.then(() => { if (chains.get(vip) === next) chains.delete(vip); });
    return next;
  };
}
