// Holds the zones being served and replaces them atomically on reload (SIGHUP, file change).
// Policy (CoreDNS reload.go): a broken file never replaces the good version of its zone;
// the error is logged once with file:line, counted, and shown in /status.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { DnsMetrics } from './metrics.js';
import { loadZoneFile } from './zone-check.js';
import type { ZoneProblem } from './zone-parser.js';
import { formatProblem } from './zone-state.js';
import { ZoneLoader } from './zone-loader.js';
import { collectGarbage } from './gc.js';
import { buildZone, ZoneSet, type Zone } from './zone.js';

/** Files at least this large are parsed in the worker thread on reload (smaller ones parse in a few ms). */
export const WORKER_MIN_BYTES = 256 * 1024;

export interface ZoneStatus {
  origin: string;
  file: string;
  serial: number | null;
  records: number;
  loadedAt: string | null;
  lastResult: 'ok' | 'error';
  lastError: string | null;
  lastAttemptAt: string;
}

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoadReport {
  changed: string[];
  failed: { file: string; problems: ZoneProblem[] }[];
}

export { formatProblem };

/** Lists the zone files of a source: every *.zone in a folder, or the given files. */
export function zoneFiles(source: string | string[]): string[] {
  if (Array.isArray(source)) return source;
  if (statSync(source).isDirectory()) {
    return readdirSync(source).filter((f) => f.endsWith('.zone')).sort().map((f) => path.join(source, f));
  }
  return [source];
}

/** Loads one file into a Zone, or returns its problems. */
export function loadZone(file: string): { zone?: Zone; problems: ZoneProblem[] } {
  const parsed = loadZoneFile(file, {});
  const problems = [...parsed.problems];
  if (problems.some((p) => p.severity === 'error')) return { problems };
  return { zone: buildZone(parsed.origin, parsed.records), problems };
}

export class ZoneStore {
  private set = new ZoneSet(new Map());
  /** File -> zone currently served from it. */
  private readonly byFile = new Map<string, Zone>();
  private readonly statuses = new Map<string, ZoneStatus>();
  private watcher: FSWatcher | undefined;
  private readonly listeners: ((zones: ZoneSet) => void)[] = [];
  /** File -> mtime and size at its last failed load, so a watch event on the same broken file is not reported twice. */
  private readonly failedStamp = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** File -> sha256 of the packed records of the zone served from it (worker-loaded files only). */
  private readonly digests = new Map<string, string>();
  private loader: ZoneLoader | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private queued: Promise<LoadReport> | undefined;
  private queuedReason = 'start';

  constructor(private readonly source: string | string[], private readonly log: Logger, private readonly metrics: DnsMetrics) {}

  /** The zones being served; callers must not hold it across reloads. */
  current(): ZoneSet {
    return this.set;
  }

  /** Calls `fn` with the new set after every swap. */
  onSwap(fn: (zones: ZoneSet) => void): void {
    this.listeners.push(fn);
  }

  status(): ZoneStatus[] {
    return [...this.statuses.values()];
  }

  /**
   * (Re)loads every file at once, on this thread; returns what changed and what failed. Never
   * throws for bad zone data. For start-up; reloads while serving go through reload().
   */
  load(reason: string): LoadReport {
    const report: LoadReport = { changed: [], failed: [] };
    const files = zoneFiles(this.source);
    const now = new Date().toISOString();
    let parsed = 0;
    for (const { file, stamp } of this.toLoad(files, reason)) {
      parsed += stampSize(stamp);
      const { zone, problems } = loadZone(file);
      this.digests.delete(file);
      this.apply(file, stamp, zone, problems, reason, now, report);
    }
    this.finishLoad(files, report);
    // Parsed here, not in a worker: the parse's garbage is in this heap (server/gc.ts).
    if (parsed >= WORKER_MIN_BYTES) collectGarbage();
    return report;
  }

  /**
   * Reloads without stalling queries: large files are parsed in a worker thread and built in
   * slices of a few ms (zone-loader.ts); the swap is one assignment as in load(). Reloads run
   * one at a time; a request while one runs is coalesced into one more run after it.
   */
  reload(reason: string): Promise<LoadReport> {
    // A coalesced SIGHUP must not become a 'file change' run (which skips files that failed unchanged).
    if (this.queued) {
      if (reason !== 'file change') this.queuedReason = reason;
      return this.queued;
    }
    this.queuedReason = reason;
    const run = this.running.then(() => { this.queued = undefined; return this.loadAsync(this.queuedReason); });
    this.queued = run;
    this.running = run.catch(() => undefined);
    return run;
  }

  private async loadAsync(reason: string): Promise<LoadReport> {
    const report: LoadReport = { changed: [], failed: [] };
    const files = zoneFiles(this.source);
    const now = new Date().toISOString();
    for (const { file, stamp } of this.toLoad(files, reason)) {
      const size = stampSize(stamp);
      if (size < WORKER_MIN_BYTES || !ZoneLoader.available()) {
        const { zone, problems } = loadZone(file);
        this.digests.delete(file);
        this.apply(file, stamp, zone, problems, reason, now, report);
        continue;
      }
      this.loader ??= new ZoneLoader();
      let r: Awaited<ReturnType<ZoneLoader['load']>>;
      try {
        r = await this.loader.load(file, this.byFile.has(file) ? this.digests.get(file) : undefined);
      } catch (err) {
        this.log.error({ file, err: (err as Error).message }, 'bug: zone worker failed; loading on the main thread');
        this.digests.delete(file);
        const { zone, problems } = loadZone(file);
        this.apply(file, stamp, zone, problems, reason, now, report);
        continue;
      }
      if (!r.zone && r.digest !== undefined) { // same data as the zone being served
        for (const p of r.problems.filter((x) => x.severity === 'warning')) this.log.warn({ file: p.file, line: p.line, code: p.code }, formatProblem(p));
        this.failedStamp.delete(file);
        this.statuses.get(file)!.lastAttemptAt = now;
        continue;
      }
      if (r.zone && r.digest) this.digests.set(file, r.digest);
      const old = this.byFile.get(file);
      const same = old !== undefined && r.zone !== undefined && old.serial === r.zone.serial && sameRecords(old, r.zone);
      this.apply(file, stamp, r.zone, r.problems, reason, now, report, same);
    }
    // The worker's heap holds the parse's garbage until it collects, which an idle thread never
    // does: end it (the next reload starts another in a few ms).
    this.loader?.close();
    this.loader = undefined;
    this.finishLoad(files, report);
    return report;
  }

  /** The files to (re)load with their stamps: a folder-watch event skips a file that failed and has not changed since. */
  private toLoad(files: string[], reason: string): { file: string; stamp: string | undefined }[] {
    return files.map((file) => ({ file, stamp: fileStamp(file) }))
      .filter(({ file, stamp }) => !(reason === 'file change' && stamp !== undefined && this.failedStamp.get(file) === stamp));
  }

  private apply(file: string, stamp: string | undefined, zone: Zone | undefined, problems: ZoneProblem[], reason: string, now: string, report: LoadReport, knownSame?: boolean): void {
    if (zone) this.failedStamp.delete(file);
    else if (stamp !== undefined) this.failedStamp.set(file, stamp);
    const old = this.byFile.get(file);
    for (const p of problems.filter((x) => x.severity === 'warning')) this.log.warn({ file: p.file, line: p.line, code: p.code }, formatProblem(p));
    if (!zone) {
      const errors = problems.filter((p) => p.severity === 'error');
      report.failed.push({ file, problems: errors });
      this.metrics.reloads.inc({ zone: old?.origin ?? path.basename(file), result: 'error' });
      const st = this.statuses.get(file);
      this.statuses.set(file, {
        origin: old?.origin ?? st?.origin ?? path.basename(file).replace(/\.zone$/, '.'), file, serial: old?.serial ?? null,
        records: old?.recordCount ?? 0, loadedAt: st?.loadedAt ?? null, lastResult: 'error',
        lastError: errors.slice(0, 5).map(formatProblem).join('; '), lastAttemptAt: now,
      });
      this.log.error({ file, reason, errors: errors.length, first: formatProblem(errors[0]!) }, old ? 'zone reload failed, still serving the previous version' : 'zone load failed');
      return;
    }
    if (old && old.serial === zone.serial && (knownSame ?? sameRecords(old, zone))) {
      this.statuses.get(file)!.lastAttemptAt = now;
      return;
    }
    if (old && !serialGrew(old.serial, zone.serial)) {
      this.log.warn({ zone: zone.origin, file, old: old.serial, new: zone.serial }, 'zone changed but its SOA serial did not grow; secondaries will not pick it up');
    }
    this.byFile.set(file, zone);
    report.changed.push(zone.origin);
    this.metrics.reloads.inc({ zone: zone.origin, result: 'ok' });
    this.metrics.zoneSerial.set({ zone: zone.origin }, zone.serial);
    this.metrics.zoneRecords.set({ zone: zone.origin }, zone.recordCount);
    this.statuses.set(file, { origin: zone.origin, file, serial: zone.serial, records: zone.recordCount, loadedAt: now, lastResult: 'ok', lastError: null, lastAttemptAt: now });
    this.log.info({ zone: zone.origin, serial: zone.serial, records: zone.recordCount, reason }, old ? 'zone reloaded' : 'zone loaded');
  }

  private finishLoad(files: string[], report: LoadReport): void {
    for (const file of [...this.byFile.keys()]) {
      if (!files.includes(file)) {
        this.log.info({ zone: this.byFile.get(file)!.origin, file }, 'zone file removed, no longer served');
        this.byFile.delete(file);
        this.digests.delete(file);
        this.statuses.delete(file);
        report.changed.push(file);
      }
    }
    if (report.changed.length) this.swap();
  }

  /** Builds the new set and swaps it in one assignment: a query sees the old set or the new one, never a mix. */
  private swap(): void {
    const zones = new Map<string, Zone>();
    for (const [file, z] of this.byFile) {
      if (zones.has(z.origin)) this.log.warn({ zone: z.origin, file }, 'zone defined by more than one file; the last one wins');
      zones.set(z.origin, z);
    }
    this.set = new ZoneSet(zones);
    for (const fn of this.listeners) fn(this.set);
  }

  /** Reloads when files in the source change (debounced), e.g. after `git pull`. */
  watch(debounceMs = 300): void {
    const dirs = new Set(zoneFiles(this.source).map((f) => path.dirname(f)));
    if (!Array.isArray(this.source)) dirs.add(statSync(this.source).isDirectory() ? this.source : path.dirname(this.source));
    const watchers: FSWatcher[] = [];
    const listed = new Set(zoneFiles(this.source).map((f) => path.basename(f)));
    const relevant = (name: string) => name.endsWith('.zone') || listed.has(name) || name.endsWith('.inc');
    for (const dir of dirs) {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        // Only zone files matter (a log file or an editor's swap file in the same folder must not cause reloads).
        if (filename && !relevant(String(filename))) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload('file change'), debounceMs);
      });
      w.on('error', (err) => this.log.warn({ err, dir }, 'zone folder watch failed; reload with SIGHUP'));
      watchers.push(w);
    }
    this.watcher = { close: () => watchers.forEach((w) => w.close()) } as FSWatcher;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.loader?.close();
  }
}

/** The size in bytes a stamp (fileStamp) records; 0 for a file that could not be read. */
function stampSize(stamp: string | undefined): number {
  return Number(stamp?.split(':')[1] ?? 0);
}

function fileStamp(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
  }
}

/** RFC 1982 serial arithmetic: is `b` greater than `a`? */
export function serialGrew(a: number, b: number): boolean {
  return a !== b && ((b - a) >>> 0) < 0x80000000;
}

/** Same records in the same order (the packed buffers compare in a few ms even for a million records). */
function sameRecords(a: Zone, b: Zone): boolean {
  return a.recordCount === b.recordCount && a.packed.buf.equals(b.packed.buf);
}
