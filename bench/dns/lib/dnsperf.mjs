// @ts-check
// Runs dnsperf (pinned to its own core) and reads its report. dnsperf 2.10 prints mean and
// standard deviation of latency but no percentiles, so the fixed-rate run uses `-v`, which prints
// one line per answered query ("> NOERROR name type 0.000123"); p50/p99/p99.9 come from those.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { forget, pinned, remember } from './proc.mjs';

/**
 * @typedef {{ qps: number, sent: number, completed: number, lost: number, rcodes: Record<string, number>,
 *   requestBytes: number, responseBytes: number, meanMs: number }} Summary
 * @typedef {Summary & { p50Ms: number, p99Ms: number, p999Ms: number, maxMs: number, samples: number, seconds: { second: number, p99Ms: number, maxMs: number }[] }} LatencySummary
 */

/** Reads dnsperf's closing statistics. */
export function parseSummary(/** @type {string} */ text) {
  const num = (/** @type {RegExp} */ re) => Number(re.exec(text)?.[1] ?? NaN);
  /** @type {Record<string, number>} */
  const rcodes = {};
  const line = /Response codes:\s+(.*)/.exec(text)?.[1] ?? '';
  for (const m of line.matchAll(/([A-Z]+) (\d+) \(/g)) rcodes[/** @type {string} */ (m[1])] = Number(m[2]);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    rcodes,
    requestBytes: num(/Average packet size:\s+request (\d+)/),
    responseBytes: num(/Average packet size:.*response (\d+)/),
    meanMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

/**
 * Runs dnsperf to completion; `onLine` sees every stdout line as it arrives.
 * @param {string[]} args @param {Target} t @param {number} timeoutMs @param {(line: string) => void} [onLine]
 */
function runDnsperf(args, t, timeoutMs, onLine) {
  return new Promise((resolve, reject) => {
    // Its own process group, remembered, so that an interrupted run kills it too.
    const child = spawn(...pinned('dnsperf', args, t.cpus, t.nice), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) remember(child.pid);
    let text = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`dnsperf did not finish within ${timeoutMs} ms`)); }, timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (onLine && line.startsWith('> ')) onLine(line);
      else text += line + '\n';
    });
    child.stderr.on('data', (b) => { err = (err + b.toString()).slice(-4000); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (child.pid !== undefined) forget(child.pid);
      if (code !== 0) reject(new Error(`dnsperf exited ${code}: ${err}${text.slice(-2000)}`));
      else resolve(text);
    });
  });
}

/**
 * @typedef {{ port: number, queryFile: string, seconds: number, cpus: string, nice?: number }} Target
 * @typedef {{ clients: number, outstanding: number, timeoutS: number }} Load
 */

/** Dnsperf's own arguments for a target (UDP, no EDNS: dnsperf's defaults). */
const base = (/** @type {Target} */ t) => ['-s', '127.0.0.1', '-p', String(t.port), '-d', t.queryFile, '-l', String(t.seconds)];

/**
 * Saturating run: `load.clients` sockets with at most `load.outstanding` queries in flight.
 * @param {Target} t @param {Load} load
 * @returns {Promise<Summary>}
 */
export async function throughput(t, load) {
  const text = await runDnsperf([...base(t), '-c', String(load.clients), '-q', String(load.outstanding), '-t', String(load.timeoutS)],
    t, (t.seconds + load.timeoutS + 30) * 1000);
  return parseSummary(/** @type {string} */ (text));
}

/** Value at quantile q of sorted samples (nearest rank). */
const quantile = (/** @type {Float64Array} */ s, /** @type {number} */ q) => s.length ? /** @type {number} */ (s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]) : NaN;

/**
 * Fixed-rate run (`-Q rate`): latency of every answered query from `-v`. Lost queries are not
 * in the percentiles; they are counted in `lost`.
 * @param {Target} t @param {number} rate
 * @returns {Promise<LatencySummary>}
 */
export async function latency(t, rate) {
  const samples = new Float64Array(Math.ceil(rate * t.seconds * 1.2) + 1000);
  let n = 0;
  const text = await runDnsperf([...base(t), '-Q', String(rate), '-c', '1', '-q', '100', '-t', '2', '-v'], t, (t.seconds + 40) * 1000,
    (line) => {
      const s = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (n < samples.length && Number.isFinite(s)) samples[n++] = s * 1000;
    });
  // Per second of the run (answers in the order dnsperf reports them, `rate` a second): p99 and max.
  /** @type {{ second: number, p99Ms: number, maxMs: number }[]} */
  const seconds = [];
  for (let i = 0; i < n; i += rate) {
    const part = samples.slice(i, Math.min(n, i + rate)).sort();
    seconds.push({ second: i / rate, p99Ms: quantile(part, 0.99), maxMs: /** @type {number} */ (part[part.length - 1]) });
  }
  const sorted = samples.subarray(0, n).sort();
  return {
    ...parseSummary(/** @type {string} */ (text)),
    p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), p999Ms: quantile(sorted, 0.999),
    maxMs: n ? /** @type {number} */ (sorted[n - 1]) : NaN, samples: n, seconds,
  };
}
