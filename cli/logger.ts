// pino logger: JSON lines by default, human-readable when writing to a terminal (or when asked).
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, format: 'auto' | 'json' | 'pretty', name = 'roamdns'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (pretty) {
    return pino({ name, level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ name, level, base: { pid: process.pid } });
}
