// Loads and validates roamdns.yaml: every problem reported as `file:line: key: message`,
// unknown keys rejected, defaults filled in. YAML keys are the option names used in code.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { AddressList } from '../server/axfr.js';
import { parseListen } from '../server/dns-server.js';
import { rootOf, SchemaChecker, type ConfigProblem, type Spec } from './schema.js';

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
  };
  status: { listen: string };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; format: 'auto' | 'json' | 'pretty' };
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
        },
      },
    },
    status: {
      spec: { kind: 'object', fields: { listen: { spec: hostPort, default: '127.0.0.1:8053' } } },
    },
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

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly file: string, readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${file}:${p.line}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses config text; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string): RoamdnsConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const problems: ConfigProblem[] = doc.errors.map((e) => ({ path: '', line: e.linePos?.[0]?.line ?? 0, message: `YAML syntax: ${e.message.split('\n')[0]}` }));
  if (problems.length) throw new ConfigError(file, problems);
  const checker = new SchemaChecker(lines);
  const value = checker.check(rootOf(doc), configSpec, '') as Omit<RoamdnsConfig, 'file'>;
  problems.push(...checker.problems);
  if (problems.length) throw new ConfigError(file, problems);
  return { ...value, file: path.resolve(file) };
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
