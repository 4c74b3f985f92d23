// @ts-check
// Turns the measured rounds into the markdown report: machine and conditions, the main table
// (medians, ratios to NSD and to Node's ceiling on the same zone), the issue's targets, zone load
// and memory, and every round's raw numbers so noise is visible.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * @typedef {import('./dnsperf.mjs').Summary & { cpuSeconds: number, cpuPercent: number, perCpuSecond: number }} Throughput
 * @typedef {import('./dnsperf.mjs').LatencySummary} Latency
 * @typedef {{ throughput: Throughput, latency: Latency }} Round
 * @typedef {{ key: string, label: string, zone: 'small' | 'large', kind: string, readyS: number, pssMiB: number, rssMiB: number,
 *   records: number, problems: string[], rounds: Round[] }} Entry
 * @typedef {{ tool: string, zone: string, seconds: number, maxRssMiB: number, ok: boolean, note: string }} CheckTiming
 * @typedef {{ started: string, finished: string, mode: string, machine: Record<string, string>, conditions: string[],
 *   entries: Entry[], checks: CheckTiming[], notes: string[] }} Results
 */

const allOutput = (/** @type {string} */ cmd, /** @type {string[]} */ args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
};
const firstLine = (/** @type {string} */ cmd, /** @type {string[]} */ args) => allOutput(cmd, args).split('\n').find((l) => l.trim()) ?? 'unknown';

/** Versions and hardware, as the README asks for. */
export function machine() {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return {
    nproc: String(os.availableParallelism()), cpu, memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(), node: process.version,
    dnsperf: /Version (\S+)/.exec(allOutput('dnsperf', ['-h']))?.[1] ?? 'unknown',
    nsd: firstLine('/usr/sbin/nsd', ['-v']).replace(/^NSD version /, ''),
    knot: firstLine('/usr/sbin/knotd', ['--version']).replace(/^knotd \(Knot DNS\), version /, ''),
    bind: firstLine('/usr/sbin/named', ['-v']).replace(/^BIND /, '').replace(/ \(.*$/, ''),
    loadavgStart: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

/** Median of numbers (NaN-free); NaN for none. */
export function median(/** @type {number[]} */ xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? /** @type {number} */ (s[m]) : (/** @type {number} */ (s[m - 1]) + /** @type {number} */ (s[m])) / 2;
}

/** The medians of an entry's rounds. */
export function summarize(/** @type {Entry} */ e) {
  const t = e.rounds.map((r) => r.throughput);
  const l = e.rounds.map((r) => r.latency);
  const sent = t.reduce((a, x) => a + x.sent, 0) + l.reduce((a, x) => a + x.sent, 0);
  const lost = t.reduce((a, x) => a + x.lost, 0) + l.reduce((a, x) => a + x.lost, 0);
  return {
    qps: median(t.map((x) => x.qps)), perCpu: median(t.map((x) => x.perCpuSecond)), cpuPercent: median(t.map((x) => x.cpuPercent)),
    lostPercent: sent ? (100 * lost) / sent : NaN, responseBytes: median(t.map((x) => x.responseBytes)),
    meanMs: median(l.map((x) => x.meanMs)), p99Ms: median(l.map((x) => x.p99Ms)),
    // Noise on a shared machine only adds latency: the least disturbed round is the best estimate.
    p99BestMs: Math.min(...l.map((x) => x.p99Ms)),
  };
}

const fmt = (/** @type {number} */ x, /** @type {number} */ digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (Number.isFinite(a / b) && b > 0 ? `${fmt(a / b, 2)}` : '–');

/** Finds the entry of a system on a zone. */
const find = (/** @type {Entry[]} */ es, /** @type {string} */ key) => es.find((e) => e.key === key);

/** The main table: one row per server and zone. */
function mainTable(/** @type {Entry[]} */ entries) {
  const rows = [
    '| server | zone | q/s | × NSD | × ceiling | q per server CPU-s | × NSD | × ceiling | server CPU | lost | reply B | mean ms @5k | p99 ms @5k | p99 − NSD ms | p99 best round | best − NSD best |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const ceiling = find(entries, 'ceiling');
  const c = ceiling ? summarize(ceiling) : undefined;
  for (const e of entries) {
    const s = summarize(e);
    const nsdEntry = entries.find((x) => x.key.startsWith('nsd') && x.zone === e.zone);
    const n = nsdEntry ? summarize(nsdEntry) : undefined;
    const warn = e.problems.length ? ' ⚠' : '';
    rows.push(`| ${e.label}${warn} | ${e.zone === 'large' ? '1M' : 'small'} | ${fmt(s.qps)} | ${ratio(s.qps, n?.qps ?? NaN)} | ${ratio(s.qps, c?.qps ?? NaN)} ` +
      `| ${fmt(s.perCpu)} | ${ratio(s.perCpu, n?.perCpu ?? NaN)} | ${ratio(s.perCpu, c?.perCpu ?? NaN)} | ${fmt(s.cpuPercent)} % | ${fmt(s.lostPercent, 3)} % ` +
      `| ${fmt(s.responseBytes)} | ${fmt(s.meanMs, 3)} | ${fmt(s.p99Ms, 3)} | ${n && e !== nsdEntry ? fmt(s.p99Ms - n.p99Ms, 3) : '–'} ` +
      `| ${fmt(s.p99BestMs, 3)} | ${n && e !== nsdEntry ? fmt(s.p99BestMs - n.p99BestMs, 3) : '–'} |`);
  }
  return rows.join('\n');
}

/** The issue's targets, each as measured in this run (both throughput measures). */
function targetsTable(/** @type {Entry[]} */ entries) {
  const get = (/** @type {string} */ k) => { const e = find(entries, k); return e ? summarize(e) : undefined; };
  const [r, pool, w2, big, c, nsd, naive] = ['roamdns', 'roamdns-pool', 'roamdns-w2', 'roamdns-1m', 'ceiling', 'nsd', 'dns2'].map(get);
  const rows = ['| target (issue 5) | measured: q/s | measured: q per CPU-s | paired: q/s, median of the rounds\' ratios | met (q/s · CPU-s · paired) |', '|---|--:|--:|--:|---|'];
  /** The median over rounds of entry a's q/s ÷ entry b's in the same round. */
  const paired = (/** @type {string} */ a, /** @type {string} */ b) => {
    const [ea, eb] = [find(entries, a), find(entries, b)];
    if (!ea || !eb) return NaN;
    return median(ea.rounds.map((x, i) => x.throughput.qps / (eb.rounds[i]?.throughput.qps ?? NaN)));
  };
  /** @param {string} what @param {number} a @param {number} b @param {number} p @param {((x: number) => boolean) | null} ok */
  const add = (what, a, b, p, ok) => {
    const met = (/** @type {number} */ x) => (!ok ? 'n/a' : Number.isFinite(x) ? (ok(x) ? 'yes' : 'no') : '–');
    rows.push(`| ${what} | ${fmt(a, 2)} | ${fmt(b, 2)} | ${fmt(p, 2)} | ${met(a)} · ${met(b)} · ${met(p)} |`);
  };
  if (r && c) add('roamdns ÷ Node ceiling ≥ 0.90', r.qps / c.qps, r.perCpu / c.perCpu, paired('roamdns', 'ceiling'), (x) => x >= 0.9);
  if (r && naive) add('roamdns ÷ naive dns2 (about 7–10)', r.qps / naive.qps, r.perCpu / naive.perCpu, paired('roamdns', 'dns2'), (x) => x >= 7);
  if (r && nsd) add('roamdns ÷ NSD (reported beside)', r.qps / nsd.qps, r.perCpu / nsd.perCpu, paired('roamdns', 'nsd'), null);
  if (r && pool) add('health-managed ÷ static ≥ 0.95', pool.qps / r.qps, pool.perCpu / r.perCpu, paired('roamdns-pool', 'roamdns'), (x) => x >= 0.95);
  if (r && big) add('1M-record zone ÷ small zone ≥ 0.90', big.qps / r.qps, big.perCpu / r.perCpu, paired('roamdns-1m', 'roamdns'), (x) => x >= 0.9);
  if (r && w2) add('2 workers ÷ 1 worker (grows with cores)', w2.qps / r.qps, NaN, paired('roamdns-w2', 'roamdns'), (x) => x > 1);
  if (r && nsd) {
    const [d, b] = [r.p99Ms - nsd.p99Ms, r.p99BestMs - nsd.p99BestMs];
    rows.push(`| p99 at 5,000 q/s within 0.5 ms of NSD's (median of rounds · best round) | ${fmt(d, 3)} ms · ${fmt(b, 3)} ms | | | ${d <= 0.5 ? 'yes' : 'no'} · ${b <= 0.5 ? 'yes' : 'no'} |`);
  }
  return rows.join('\n');
}

/** Zone load and memory: servers (spawn → last record answered) and the zone checkers. */
function loadTable(/** @type {Entry[]} */ entries, /** @type {CheckTiming[]} */ checks) {
  const rows = ['| server | zone | records | ready s (spawn → last name answered) | memory PSS MiB | RSS MiB | bytes per record (1M − small, PSS) |', '|---|---|--:|--:|--:|--:|--:|'];
  for (const e of entries) {
    const small = e.zone === 'large' ? entries.find((x) => x.zone === 'small' && x.key === e.key.replace(/-1m$/, '')) : undefined;
    const perRecord = small ? ((e.pssMiB - small.pssMiB) * 2 ** 20) / (e.records - small.records) : NaN;
    rows.push(`| ${e.label} | ${e.zone === 'large' ? '1M' : 'small'} | ${fmt(e.records)} | ${fmt(e.readyS, 2)} | ${fmt(e.pssMiB, 1)} | ${fmt(e.rssMiB, 1)} | ${fmt(perRecord)} |`);
  }
  if (checks.length) {
    rows.push('', '| zone checker | zone | wall s | max RSS MiB | result |', '|---|---|--:|--:|---|');
    for (const c of checks) rows.push(`| \`${c.tool}\` | ${c.zone} | ${fmt(c.seconds, 2)} | ${fmt(c.maxRssMiB, 1)} | ${c.ok ? 'ok' : `failed: ${c.note}`} |`);
  }
  return rows.join('\n');
}

/** Every round, so a noisy round can be seen for what it is. */
function roundsTable(/** @type {Entry[]} */ entries) {
  const n = Math.max(...entries.map((e) => e.rounds.length));
  const head = Array.from({ length: n }, (_, i) => `round ${i + 1}: q/s · per CPU-s · CPU % · p99 ms`);
  const rows = [`| server | zone | ${head.join(' | ')} |`, `|---|---|${head.map(() => '--:').join('|')}|`];
  for (const e of entries) {
    rows.push(`| ${e.label} | ${e.zone === 'large' ? '1M' : 'small'} | ${e.rounds.map((r) => `${fmt(r.throughput.qps)} · ${fmt(r.throughput.perCpuSecond)} · ${fmt(r.throughput.cpuPercent)} · ${fmt(r.latency.p99Ms, 2)}`).join(' | ')} |`);
  }
  return rows.join('\n');
}

/** The whole report. */
export function markdown(/** @type {Results} */ res) {
  const m = res.machine;
  const problems = res.entries.flatMap((e) => e.problems.map((p) => `- ⚠ ${e.label} (${e.zone}): ${p}`));
  return [
    `# DNS benchmark, ${res.started.slice(0, 10)} (${res.mode})`,
    '',
    `Run ${res.started} → ${res.finished}. Machine: nproc ${m.nproc}, CPU ${m.cpu}, ${m.memory}, kernel ${m.kernel}, Node ${m.node}, ` +
      `dnsperf ${m.dnsperf}, NSD ${m.nsd}, Knot ${m.knot}, BIND ${m.bind}. Load average at start ${m.loadavgStart}, at end ${m.loadavgEnd}.`,
    '',
    ...res.conditions.map((c) => `- ${c}`),
    '',
    '## Throughput and latency (medians of the rounds)',
    '',
    mainTable(res.entries),
    '',
    '## Targets',
    '',
    targetsTable(res.entries),
    '',
    '## Zone load and memory',
    '',
    loadTable(res.entries, res.checks),
    '',
    '## Every round',
    '',
    roundsTable(res.entries),
    ...(problems.length || res.notes.length ? ['', '## Notes', '', ...problems, ...res.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}
