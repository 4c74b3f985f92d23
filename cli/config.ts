// Loads and validates roamdns.yaml: every problem reported as `file:line: key: message`,
// unknown keys rejected, defaults filled in. YAML keys are the option names used in code.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { AddressList } from '../server/axfr.js';
import { parseListen } from '../server/dns-server.js';
import { RRL_DEFAULTS } from '../server/rrl.js';
import { makeKey } from '../server/tsig.js';
import { printable, rootOf, SchemaChecker, type ConfigProblem, type Spec } from './schema.js';

export interface RoamdnsConfig {
  /** Absolute path of the config file; relative paths in it are resolved against its folder. */
  file: string;
  /** A folder of <origin>.zone files, or a list of files. */
  zones: string | string[];
  dns: {
    listen: string[];
    transfer_allow: string[];
    tcp_idle_timeout: number;
    tcp_max_connections: number;
    /** DNS worker processes: 'auto' (one per core) or a number. */
    workers: number | 'auto';
    /** QTYPE ANY: 'minimal' (one RRset, RFC 8482) or 'full' (every RRset of the name). */
    any: 'minimal' | 'full';
    /** TSIG keys by name (RFC 8945). */
    tsig_keys: Record<string, { algorithm: string; secret: string }>;
    /** When set, AXFR/IXFR also need a request signed with one of these keys (besides transfer_allow). */
    transfer_keys?: string[];
    /** Secondaries to NOTIFY (RFC 1996) when a reload changes a zone's serial. */
    notify: string[];
    /** Sign NOTIFY with this key. */
    notify_key?: string;
    /** Response rate limiting for UDP (server/rrl.ts has the defaults and why). */
    rrl: { responses_per_second: number; nxdomains_per_second?: number; errors_per_second?: number; slip: number; window: number;
      ipv4_prefix_length: number; ipv6_prefix_length: number; max_entries: number; exempt: string[] };
  };
  /** The status API; with token_file set, every request needs `Authorization: Bearer <token>`. */
  status: { listen: string; token_file?: string };
  /** `serve` started as root becomes this user once its sockets are bound (cli/privileges.ts). */
  user: string;
  /** Health-managed names: name -> how its VIPs are checked and answered. */
  pools: Record<string, PoolConfig>;
  cluster?: ClusterConfig;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; format: 'auto' | 'json' | 'pretty' };
}

export interface CheckConfig {
  http?: {
    scheme: 'http' | 'https'; method: string; port?: number; path: string; host?: string;
    expect_status: (number | string)[]; body_contains?: string; tls_verify: boolean; ca_file?: string;
  };
  tcp?: { port: number };
  interval: number;
  timeout: number;
  rise: number;
  fall: number;
  jitter?: number;
}

export interface PoolConfig {
  check: CheckConfig;
  when_all_down: 'all' | 'none';
  degraded_ttl: number;
  max_answers: number;
}

export interface ClusterConfig {
  listen: string;
  nodes: Record<string, { address: string; port?: number; weight?: number; status_url?: string }>;
  secret_file: string;
  heartbeat?: number;
  dead_after?: number;
  mature?: number;
  vips_from: string[];
  vip_prefix: { ipv4: number; ipv6: number };
  interface: string;
  prefer: Record<string, string>;
  service_check?: { http?: string; tcp?: string; interval: number; timeout: number; rise: number; fall: number };
  notify?: string;
  notify_timeout: number;
  announce: { count: number; interval: number };
  status_listen: string;
  /** Bearer token protecting the agents' API; serve sends it when it asks the agents. */
  status_token_file?: string;
}

/** Runs `fn` and turns a thrown message into a validation message. */
function messageOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const hostPort: Spec = { kind: 'string', validate: (v) => messageOf(() => parseListen(v)) };
const cidr: Spec = { kind: 'string', validate: (v) => messageOf(() => new AddressList([v])) };

const durationSpec = (minMs: number, maxMs: number): Spec => ({ kind: 'duration', minMs, maxMs });
const int = (min: number, max: number): Spec => ({ kind: 'int', min, max });
const str: Spec = { kind: 'string' };
const ipAddress: Spec = { kind: 'string', validate: (v) => (isIP(v) ? undefined : `'${v}' is not an IP address`) };

function poolSpec(): Spec {
  const http: Spec = {
    kind: 'object',
    fields: {
      scheme: { spec: { kind: 'enum', values: ['http', 'https'] }, default: 'http' },
      method: { spec: { kind: 'enum', values: ['GET', 'HEAD', 'POST', 'OPTIONS'] }, default: 'GET' },
      port: { spec: int(1, 65535) },
      path: { spec: { kind: 'string', pattern: /^\//, hint: 'a path starting with /' }, default: '/' },
      host: { spec: str },
      expect_status: { spec: { kind: 'list', of: { kind: 'string', pattern: /^([1-5]\d\d(-[1-5]\d\d)?|[1-5]xx)$/, hint: 'a status code, a range 200-299 or a class 2xx' }, minItems: 1 }, default: ['200-399'] },
      body_contains: { spec: str },
      tls_verify: { spec: { kind: 'bool' }, default: true },
      ca_file: { spec: str },
    },
  };
  const check: Spec = {
    kind: 'object',
    fields: {
      http: { spec: http, optional: true },
      tcp: { spec: { kind: 'object', fields: { port: { spec: int(1, 65535), required: true } } }, optional: true },
      interval: { spec: durationSpec(100, 3_600_000), default: 1000 },
      timeout: { spec: durationSpec(10, 60_000), default: 500 },
      rise: { spec: int(1, 100), default: 2 },
      fall: { spec: int(1, 100), default: 3 },
      jitter: { spec: durationSpec(0, 60_000) },
    },
  };
  return {
    kind: 'object',
    fields: {
      check: { spec: check, required: true },
      when_all_down: { spec: { kind: 'enum', values: ['all', 'none'] }, default: 'all' },
      degraded_ttl: { spec: int(0, 2_147_483_647), default: 10 },
      max_answers: { spec: int(1, 64), default: 8 },
    },
  };
}

function clusterSpec(): Spec {
  const node: Spec = {
    kind: 'object',
    fields: {
      address: { spec: ipAddress, required: true },
      port: { spec: int(1, 65535) },
      weight: { spec: int(1, 1000) },
      status_url: { spec: { kind: 'string', pattern: /^https?:\/\//, hint: 'an http:// or https:// URL' } },
    },
  };
  return {
    kind: 'object',
    fields: {
      listen: { spec: hostPort, default: '0.0.0.0:7946' },
      nodes: { spec: { kind: 'map', of: node, keyHint: 'node name: { address }' }, required: true },
      secret_file: { spec: str, required: true },
      heartbeat: { spec: durationSpec(10, 10_000) },
      dead_after: { spec: durationSpec(30, 60_000) },
      mature: { spec: durationSpec(0, 600_000) },
      vips_from: { spec: { kind: 'list', of: str, minItems: 1 }, required: true },
      vip_prefix: { spec: { kind: 'object', fields: { ipv4: { spec: int(1, 32), default: 32 }, ipv6: { spec: int(1, 128), default: 128 } } } },
      interface: { spec: { kind: 'string', pattern: /^[A-Za-z0-9_.@-]{1,15}$/, hint: 'a Linux interface name' }, default: 'eth0' },
      prefer: { spec: { kind: 'map', of: str, keyHint: 'VIP: node name' }, default: {} },
      service_check: {
        optional: true,
        spec: {
          kind: 'object',
          fields: {
            http: { spec: { kind: 'string', pattern: /^https?:\/\//, hint: 'an http:// or https:// URL' } },
            tcp: { spec: hostPort },
            interval: { spec: durationSpec(50, 600_000), default: 1000 },
            timeout: { spec: durationSpec(10, 60_000), default: 500 },
            rise: { spec: int(1, 100), default: 2 },
            fall: { spec: int(1, 100), default: 3 },
          },
        },
      },
      notify: { spec: str },
      notify_timeout: { spec: durationSpec(100, 600_000), default: 5000 },
      announce: { spec: { kind: 'object', fields: { count: { spec: int(0, 100), default: 3 }, interval: { spec: durationSpec(10, 10_000), default: 200 } } } },
      status_listen: { spec: hostPort, default: '127.0.0.1:8054' },
      status_token_file: { spec: str },
    },
  };
}

export const configSpec: Spec = {
  kind: 'object',
  fields: {
    zones: { spec: { kind: 'stringOrList', of: { kind: 'string' } }, default: 'zones/' },
    dns: {
      spec: {
        kind: 'object',
        fields: {
          listen: { spec: { kind: 'list', of: hostPort, minItems: 1 }, default: ['127.0.0.1:5353'] },
          transfer_allow: { spec: { kind: 'list', of: cidr }, default: ['127.0.0.1/32', '::1/128'] },
          tcp_idle_timeout: { spec: { kind: 'duration', minMs: 100, maxMs: 3_600_000 }, default: 10_000 },
          tcp_max_connections: { spec: { kind: 'int', min: 1, max: 1_000_000 }, default: 1000 },
          workers: { spec: { kind: 'string', pattern: /^(auto|[1-9]|[1-5][0-9]|6[0-4])$/, hint: "'auto' (one per core) or a number of processes 1..64" }, default: 'auto' },
          any: { spec: { kind: 'enum', values: ['minimal', 'full'] }, default: 'minimal' },
          tsig_keys: {
            spec: { kind: 'map', keyHint: 'key name: { algorithm, secret }', of: { kind: 'object', fields: {
              algorithm: { spec: { kind: 'enum', values: ['hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] }, default: 'hmac-sha256' },
              secret: { spec: { kind: 'string', validate: (v) => messageOf(() => makeKey('k', 'hmac-sha256', v, 'secret')) }, required: true },
            } } },
            default: {},
          },
          transfer_keys: { spec: { kind: 'list', of: str, minItems: 1 } },
          notify: { spec: { kind: 'list', of: hostPort }, default: [] },
          notify_key: { spec: str },
          rrl: { spec: { kind: 'object', fields: {
            responses_per_second: { spec: int(0, 1_000_000), default: RRL_DEFAULTS.responses_per_second },
            nxdomains_per_second: { spec: int(0, 1_000_000) },
            errors_per_second: { spec: int(0, 1_000_000) },
            slip: { spec: int(0, 10), default: RRL_DEFAULTS.slip },
            window: { spec: int(1, 3600), default: RRL_DEFAULTS.window },
            ipv4_prefix_length: { spec: int(0, 32), default: RRL_DEFAULTS.ipv4_prefix_length },
            ipv6_prefix_length: { spec: int(0, 128), default: RRL_DEFAULTS.ipv6_prefix_length },
            max_entries: { spec: int(1, 100_000_000), default: RRL_DEFAULTS.max_entries },
            exempt: { spec: { kind: 'list', of: cidr }, default: [...RRL_DEFAULTS.exempt] },
          } } },
        },
      },
    },
    status: {
      spec: {
        kind: 'object',
        fields: {
          listen: { spec: hostPort, default: '127.0.0.1:8053' },
          // A file holding the bearer token (owner-only, like cluster.secret_file); read at start-up.
          token_file: { spec: { kind: 'string', pattern: /\S/, hint: 'a file path' } },
        },
      },
    },
    user: {
      spec: { kind: 'string', pattern: /^(auto|root|[A-Za-z_][A-Za-z0-9_.-]*\$?(:[A-Za-z_][A-Za-z0-9_.-]*)?|\d+(:\d+)?)$/, hint: "'auto', 'root', USER or USER:GROUP (names or numeric ids)" },
      default: 'auto',
    },
    pools: { spec: { kind: 'map', keyHint: 'name: { check, when_all_down, degraded_ttl, max_answers }', of: poolSpec() }, default: {} },
    cluster: { spec: clusterSpec(), optional: true },
    log: {
      spec: {
        kind: 'object',
        fields: {
          level: { spec: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error'] }, default: 'info' },
          format: { spec: { kind: 'enum', values: ['auto', 'json', 'pretty'] }, default: 'auto' },
        },
      },
    },
  },
};

/** Problems listed in a ConfigError's message at most (as for zone files); the rest are counted. */
export const MAX_CONFIG_PROBLEMS_SHOWN = 100;

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly file: string, readonly problems: ConfigProblem[]) {
    const shown = problems.slice(0, MAX_CONFIG_PROBLEMS_SHOWN).map((p) => `${file}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}`);
    if (problems.length > shown.length) shown.push(`${file}: … and ${problems.length - shown.length} more problems`);
    super(shown.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses config text; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string): RoamdnsConfig {
  const lines = new LineCounter();
  // uniqueKeys: false: SchemaChecker reports duplicate keys, in linear time (the yaml package's check is quadratic).
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const problems: ConfigProblem[] = doc.errors.map((e) => ({ path: '', line: lines.linePos(e.pos[0]).line, message: `YAML syntax: ${printable(e.message.split('\n')[0]!)}` }));
  if (problems.length) throw new ConfigError(file, problems);
  const checker = new SchemaChecker(lines);
  const value = checker.check(rootOf(doc), configSpec, '') as Omit<RoamdnsConfig, 'file'>;
  problems.push(...checker.problems);
  if (problems.length) throw new ConfigError(file, problems);
  const workers = value.dns.workers as unknown as string;
  return { ...value, dns: { ...value.dns, workers: workers === 'auto' ? 'auto' : Number(workers) }, file: path.resolve(file) };
}

/** Reads and parses the config file. A missing file is an error that says so. */
export function loadConfig(file: string): RoamdnsConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', line: 0, message: `cannot read config: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return parseConfig(text, file);
}

/** Resolves a path from the config against the config file's folder. */
export function resolveFromConfig(cfg: RoamdnsConfig, p: string): string {
  return path.resolve(path.dirname(cfg.file), p);
}
