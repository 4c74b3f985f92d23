// The pure parts of the soak (test/soak/soak.test.ts): the zone versions it serves and breaks,
// dnsperf's query mix and report, and the wrong-answer analysis: which DNS answers held a VIP that
// the client could not reach at that moment, beyond the documented detection/failover windows.

export const ORIGIN = 'example.com.';

/** How an edit breaks the zone file (every one is an error for the zone loader). */
export type BrokenKind = 'bad-address' | 'unclosed-paren' | 'unknown-type';
export const BROKEN_KINDS: readonly BrokenKind[] = ['bad-address', 'unclosed-paren', 'unknown-type'];

/**
 * One version of the soak's zone: the cluster's names and VIPs (never edited: the agents share
 * them) plus names that change with every edit (SOA serial, a TXT, a name that comes and goes).
 * A broken version has a higher serial too, so serving it by mistake would show in the SOA.
 */
export function zoneText(vips: readonly string[], serial: number, edit: number, broken?: BrokenKind): string {
  const lines = [
    `$ORIGIN ${ORIGIN}`, '$TTL 60', `@ SOA ns1 hostmaster ${serial} 3600 600 86400 60`, '@ NS ns1', 'ns1 A 198.51.100.53',
    'www1 A 198.51.100.2', 'www2 A 198.51.100.3', 'www3 A 198.51.100.4', ...vips.map((v) => `www A ${v}`),
    ...Array.from({ length: 10 }, (_, i) => `host${i + 1} A 198.51.100.${110 + i}`),
    'v6 AAAA 2001:db8::99', 'alias CNAME www1', 'mail MX 10 www1',
    `rev TXT "edit ${edit}"`, `edit${edit} A 198.51.100.${150 + (edit % 50)}`,
  ];
  if (broken === 'bad-address') lines.push(`broken${edit} A 198.51.100.300`);
  if (broken === 'unclosed-paren') lines.push(`broken${edit} TXT ( "never closed"`);
  if (broken === 'unknown-type') lines.push(`broken${edit} NOSUCHTYPE 1 2 3`);
  return lines.join('\n') + '\n';
}

/**
 * dnsperf's query file: 100 lines, interleaved: 30 % www A (the health-managed name), other
 * names of the zone (A, AAAA, CNAME, MX, TXT that changes on every edit), NODATA, NXDOMAIN, SOA, NS.
 */
export function queryFile(): string {
  const q: string[] = [];
  const add = (n: number, f: (i: number) => string) => { for (let i = 0; i < n; i++) q.push(f(i)); };
  add(30, () => 'www.example.com A');
  add(15, (i) => `www${(i % 3) + 1}.example.com A`);
  add(10, (i) => `host${i + 1}.example.com A`);
  add(8, () => 'v6.example.com AAAA');
  add(2, () => 'www1.example.com AAAA'); // NODATA
  add(10, (i) => `nx${i + 1}.example.com A`); // NXDOMAIN
  add(5, () => 'example.com SOA');
  add(3, () => 'example.com NS');
  add(5, () => 'alias.example.com A');
  add(2, () => 'mail.example.com MX');
  add(5, () => 'rev.example.com TXT');
  add(5, () => 'www.example.com AAAA'); // the pool name has no AAAA: NODATA
  // A fixed shuffle (LCG), so every run sends the same sequence.
  let s = 12345;
  for (let i = q.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [q[i], q[j]] = [q[j]!, q[i]!];
  }
  return q.join('\n') + '\n';
}

export interface DnsperfSummary {
  sent: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  qps: number;
  meanLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  stddevLatencyMs: number;
  runTimeS: number;
  /** "[Timeout] Query timed out" lines (dnsperf prints one per lost query). */
  timeoutLines: number;
}

/** Reads dnsperf 2.10's closing statistics (the max latency is on the "Average Latency" line). */
export function parseDnsperf(text: string): DnsperfSummary {
  const num = (re: RegExp, i = 1) => Number(re.exec(text)?.[i] ?? NaN);
  const rcodes: Record<string, number> = {};
  const line = /Response codes:\s+(.*)/.exec(text)?.[1] ?? '';
  for (const m of line.matchAll(/([A-Z]+) (\d+) \(/g)) rcodes[m[1]!] = Number(m[2]);
  const lat = /Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/;
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    rcodes,
    qps: num(/Queries per second:\s+([\d.]+)/),
    meanLatencyMs: num(lat, 1) * 1000,
    minLatencyMs: num(lat, 2) * 1000,
    maxLatencyMs: num(lat, 3) * 1000,
    stddevLatencyMs: num(/Latency StdDev \(s\):\s+([\d.]+)/) * 1000,
    runTimeS: num(/Run time \(s\):\s+([\d.]+)/),
    timeoutLines: (text.match(/timed out/gi) ?? []).length,
  };
}

/** One result of test/netns/poller.mjs: `<epoch ms> <vip> ok|fail <node|reason>`. */
export interface Poll { t: number; vip: string; ok: boolean; what: string }

export function parsePolls(text: string): Poll[] {
  const out: Poll[] = [];
  for (const l of text.split('\n')) {
    const [t, vip, ok, what] = l.split(' ');
    if (!Number.isFinite(Number(t)) || !vip || (ok !== 'ok' && ok !== 'fail')) continue;
    out.push({ t: Number(t), vip, ok: ok === 'ok', what: what ?? '' });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** A DNS answer seen by test/netns/dns-client.mjs: `<epoch ms> dns <vip,vip|-> <rcode> <ttl>`. */
export interface Answer { t: number; vips: string[]; rcode: string; ttl: number }
/** One fetch by dns-client.mjs from a VIP it was just given. */
export interface Fetch { t: number; vip: string; ok: boolean; what: string }

export function parseClient(text: string): { answers: Answer[]; fetches: Fetch[] } {
  const answers: Answer[] = [], fetches: Fetch[] = [];
  for (const l of text.split('\n')) {
    const [t, kind, a, b, d] = l.split(' ');
    if (!Number.isFinite(Number(t)) || !a) continue;
    if (kind === 'dns') answers.push({ t: Number(t), vips: a === '-' ? [] : a.split(','), rcode: b ?? '', ttl: Number(d) });
    else if (kind === 'get') fetches.push({ t: Number(t), vip: a, ok: b === 'ok', what: d ?? '' });
  }
  return { answers, fetches };
}

/**
 * A stretch during which a VIP was not served, as the client's poller saw it: from the last
 * successful poll before a failure (the earliest moment it can have stopped: generous to the
 * server) to the next successful poll (undefined: still unserved at the end).
 */
export interface Stretch { vip: string; onset: number; firstFail: number; end: number | undefined; fails: number; reasons: string[] }

export function unservedStretches(polls: readonly Poll[], vips: readonly string[]): Stretch[] {
  const out: Stretch[] = [];
  for (const vip of vips) {
    let lastOk: number | undefined;
    let open: Stretch | undefined;
    for (const p of polls) {
      if (p.vip !== vip) continue;
      if (p.ok) {
        if (open) { open.end = p.t; out.push(open); open = undefined; }
        lastOk = p.t;
      } else if (open) {
        open.fails++;
        if (!open.reasons.includes(p.what) && open.reasons.length < 4) open.reasons.push(p.what);
      } else {
        open = { vip, onset: lastOk ?? p.t, firstFail: p.t, end: undefined, fails: 1, reasons: [p.what] };
      }
    }
    if (open) out.push(open);
  }
  return out.sort((a, b) => a.onset - b.onset);
}

export interface Windows {
  /** Health-check detection: a VIP that stops being served is withdrawn within this. */
  detectionMs: number;
  /** A crashed node: its VIPs served again by a survivor (dead_after) or withdrawn (detection). */
  failoverMs: number;
  /** Scheduling and measurement slack on a loaded 2-core machine (poll interval, timers). */
  slackMs: number;
  /** A VIP served again is back in the answers within this (rise probes). */
  riseMs: number;
}

/** The pool's when_all_down: all: with no VIP served, every VIP is published with degraded_ttl. */
export interface FailOpen { vips: readonly string[]; ttl: number }

export type Cause = 'kill' | 'other';

export interface WrongAnswer { t: number; vip: string; ageMs: number; cause: Cause; allowedMs: number; stretch: Stretch }

export interface Judgement {
  answers: number;
  /** Fail-open answers (every VIP, degraded_ttl: when_all_down: all) while no VIP had been served for longer than the rise window. */
  failOpen: number;
  /** Fail-open answers although a VIP had been served for longer than the rise window: judged like any other. */
  failOpenUnexcused: number;
  /** Answers (rcode 0) holding at least one VIP not served at that moment. */
  withUnserved: number;
  /** ... of which every such VIP was inside its window. */
  withinWindow: number;
  wrong: WrongAnswer[];
  /** The longest time a VIP stayed in answers after it stopped being served, by cause. */
  maxPublishedUnservedMs: Record<Cause, number>;
  stretches: { count: number; byCause: Record<Cause, number>; longestMs: number; open: number };
}

/**
 * Which answers held a VIP that the client could not reach at that moment. A stretch that began
 * within `killMatchMs` of an agent kill (link down) gets the failover window, any other (a web
 * server stopped, anything unexplained) the detection window; both plus slack. A fail-open answer
 * (every VIP with degraded_ttl) is the documented policy when no VIP is served, and is excused as
 * long as no VIP had been served again for longer than the rise window (plus slack) at that moment.
 */
export function judgeAnswers(answers: readonly Answer[], stretches: readonly Stretch[], kills: readonly number[], w: Windows, failOpen?: FailOpen, killMatchMs = 1000): Judgement {
  const causeOf = (s: Stretch): Cause => (kills.some((k) => Math.abs(k - s.onset) <= killMatchMs || (k >= s.onset && k <= s.firstFail)) ? 'kill' : 'other');
  const allowed = (c: Cause) => (c === 'kill' ? w.failoverMs : w.detectionMs) + w.slackMs;
  const byVip = new Map<string, Stretch[]>();
  for (const s of stretches) byVip.set(s.vip, [...(byVip.get(s.vip) ?? []), s]);
  const j: Judgement = {
    answers: answers.length, failOpen: 0, failOpenUnexcused: 0, withUnserved: 0, withinWindow: 0, wrong: [], maxPublishedUnservedMs: { kill: 0, other: 0 },
    stretches: { count: stretches.length, byCause: { kill: 0, other: 0 }, longestMs: 0, open: 0 },
  };
  for (const s of stretches) {
    j.stretches.byCause[causeOf(s)]++;
    if (s.end === undefined) j.stretches.open++;
    else j.stretches.longestMs = Math.max(j.stretches.longestMs, s.end - s.onset);
  }
  /** How long `vip` has been served at `t` (Infinity when it was never seen unserved before). */
  const servedFor = (vip: string, t: number): number => {
    let since = -Infinity;
    for (const s of byVip.get(vip) ?? []) {
      if (s.onset >= t) break;
      if (s.end === undefined || s.end > t) return 0; // unserved now
      since = s.end;
    }
    return t - since;
  };
  const isFailOpen = (a: Answer) => failOpen !== undefined && a.ttl === failOpen.ttl && a.vips.length === failOpen.vips.length && failOpen.vips.every((v) => a.vips.includes(v));
  for (const a of answers) {
    if (a.rcode !== '0') continue;
    if (isFailOpen(a)) {
      if (a.vips.every((v) => servedFor(v, a.t) <= w.riseMs + w.slackMs)) { j.failOpen++; continue; }
      j.failOpenUnexcused++;
    }
    let unserved = false, wrong = false;
    for (const vip of a.vips) {
      const s = byVip.get(vip)?.find((x) => a.t > x.onset && (x.end === undefined || a.t < x.end));
      if (!s) continue;
      unserved = true;
      const cause = causeOf(s), ageMs = a.t - s.onset;
      j.maxPublishedUnservedMs[cause] = Math.max(j.maxPublishedUnservedMs[cause], ageMs);
      if (ageMs > allowed(cause)) {
        wrong = true;
        j.wrong.push({ t: a.t, vip, ageMs, cause, allowedMs: allowed(cause), stretch: s });
      }
    }
    if (unserved) j.withUnserved++;
    if (unserved && !wrong) j.withinWindow++;
  }
  return j;
}
