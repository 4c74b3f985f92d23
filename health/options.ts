// The health checker's option types (the shape of `pools.<name>.check` in roamdns.yaml, durations
// already parsed to milliseconds) and the one place their defaults are filled in.
// YAML keys are the option names, so one grep finds both (STYLE.md).

/** `check.http`: an HTTP(S) probe of the service on a VIP. */
export interface HttpCheck {
  /** `http` (default) or `https`. */
  scheme?: 'http' | 'https';
  /** Request method; default `GET`. */
  method?: string;
  /** Default 80 for http, 443 for https. */
  port?: number;
  /** Default `/`. */
  path?: string;
  /** Host header and TLS SNI; default: the pool name. */
  host?: string;
  /** Accepted status codes: numbers, ranges `"200-299"` or classes `"2xx"`; default `["200-399"]`. */
  expect_status?: ReadonlyArray<number | string>;
  /** The body must contain this text (only the first `max_body_bytes` are searched). */
  body_contains?: string;
  /** Verify the server certificate against `host`; default true. */
  tls_verify?: boolean;
  /** PEM CA bundle to trust instead of the system store (a private CA); the config layer may read it from a `ca_file`. */
  ca?: string;
  /** How much of the body is read when `body_contains` is set; default 65536. */
  max_body_bytes?: number;
}

/** `check.tcp`: a TCP connect probe. */
export interface TcpCheck {
  port: number;
}

/** `pools.<name>.check`. Exactly one of `http` / `tcp`; neither means `http` with its defaults. */
export interface CheckOptions {
  http?: HttpCheck;
  tcp?: TcpCheck;
  /** Milliseconds between probe starts; default 1000. */
  interval?: number;
  /** Milliseconds a probe may take, connect to last body byte; default 500. */
  timeout?: number;
  /** Consecutive passes that bring a down VIP up; default 2. */
  rise?: number;
  /** Consecutive failures that take an up VIP down; default 3. */
  fall?: number;
  /** Up to this many milliseconds are added at random to each interval; default interval / 10. */
  jitter?: number;
}

/** A VIP's published state (vip-state.ts has the rules). */
export const VIP_STATES = ['unknown', 'up', 'down', 'orphan', 'conflict'] as const;
export type VipState = (typeof VIP_STATES)[number];

/** A health-managed name and its VIPs (its A/AAAA records in the zone). */
export interface PoolSpec {
  name: string;
  vips: readonly string[];
  check?: CheckOptions;
}

/** A check with every default filled in; what the checker and the probes work from. */
export interface ResolvedCheck {
  kind: 'http' | 'tcp';
  http: HttpCheck;
  tcpPort: number;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  jitterMs: number;
}

export const CHECK_DEFAULTS = { interval: 1000, timeout: 500, rise: 2, fall: 3, jitterFraction: 0.1 } as const;

/** Fills in defaults. Values are assumed validated by the config layer (positive integers). */
export function resolveCheck(check: CheckOptions = {}): ResolvedCheck {
  const intervalMs = check.interval ?? CHECK_DEFAULTS.interval;
  return {
    kind: check.tcp ? 'tcp' : 'http',
    http: check.http ?? {},
    tcpPort: check.tcp?.port ?? 0,
    intervalMs,
    timeoutMs: check.timeout ?? CHECK_DEFAULTS.timeout,
    rise: Math.max(1, check.rise ?? CHECK_DEFAULTS.rise),
    fall: Math.max(1, check.fall ?? CHECK_DEFAULTS.fall),
    jitterMs: Math.max(0, check.jitter ?? Math.round(intervalMs * CHECK_DEFAULTS.jitterFraction)),
  };
}

/** The shared pieces every component takes as arguments (so tests can fake them). */
export interface Clock {
  /** Milliseconds since the epoch (Date.now in production). */
  now(): number;
}

/** The pino methods health/ uses; a pino Logger satisfies it. */
export interface HealthLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A logger that drops everything, for callers that do not care. */
export const silentLogger: HealthLogger = { info() {}, warn() {}, error() {}, debug() {} };
