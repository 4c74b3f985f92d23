// The failover package's public surface, and createLinuxAgent: the engine wired to the real clock, ip/arping and hook.
import { systemClock, systemTimers, type Logger } from './deps.js';
import { LinuxAliasDriver, procSysctl, realExec } from './driver.js';
import { Agent, type AgentEvent, type PeerAddress } from './engine.js';
import { createNotifier } from './notify.js';
import { vipSpecs, type AgentOptions } from './options.js';

export { Agent, type AgentDeps, type AgentEvent, type PeerAddress } from './engine.js';
export { assign, stableHash, type AssignMember } from './assignment.js';
export { compareClaims, resolveHolders, winningClaim, type Claim } from './claims.js';
export { systemClock, systemTimers, silentLogger, type Clock, type Logger, type Timers } from './deps.js';
export { DriverError, hasCapNetAdmin, LinuxAliasDriver, procSysctl, realExec, roamLabel, type ExecFn, type SysctlIo, type VipDriver } from './driver.js';
export { decodeHeartbeat, encodeHeartbeat, type Heartbeat, type Health, type NodeState } from './heartbeat.js';
export { canonicalIp, parseVipSpec, type VipSpec } from './ip.js';
export { DROP_REASONS, Membership, type DropReason } from './membership.js';
export { createNotifier, type Notifier } from './notify.js';
export * from './options.js';
export { plan, type Plan, type PlanInput } from './planner.js';
export { readSecret, SecretError } from './secret.js';
export { createProbe, HealthMonitor, httpProbe, RiseFall, tcpProbe, type Probe, type ProbeResult } from './service-check.js';
export type { AgentStatus, MoveRecord, PeerStatus, VipStatus } from './status.js';

export interface LinuxAgentIo {
  log: Logger;
  /** Sends one datagram; the caller owns the UDP socket (bind it to this node's own address). */
  send: (to: PeerAddress, bytes: Buffer) => void;
  onEvent?: (e: AgentEvent) => void;
  arping?: 'auto' | 'iputils' | 'habets';
}

/** An Agent with the Linux alias driver, the notify hook and the service check from the options. */
export function createLinuxAgent(o: AgentOptions, io: LinuxAgentIo): Agent {
  const driver = new LinuxAliasDriver({ iface: o.interface, vips: vipSpecs(o), exec: realExec, log: io.log, announce: o.announce, arping: io.arping, sysctl: procSysctl });
  const notify = o.notify ? createNotifier({ command: o.notify.command, iface: o.interface, timeoutMs: o.notify.timeoutMs, log: io.log }) : undefined;
  return new Agent(o, { clock: systemClock, timers: systemTimers, log: io.log, send: io.send, driver, notify, onEvent: io.onEvent });
}
