// The rise/fall state machine: turns a stream of raw probe results for one VIP into a debounced
// up/down, as gdnsd's monitors and HAProxy's `rise`/`fall` do. Pure: the caller passes the time.
//
// | state   | result | counters after          | next state                          |
// |---------|--------|-------------------------|-------------------------------------|
// | unknown | pass   | passes=1, failures=0    | up   (the first result decides)     |
// | unknown | fail   | passes=0, failures=1    | down (the first result decides)     |
// | up      | pass   | passes+1, failures=0    | up                                  |
// | up      | fail   | failures+1, passes=0    | down when failures >= fall, else up |
// | down    | fail   | failures+1, passes=0    | down                                |
// | down    | pass   | passes+1, failures=0    | up when passes >= rise, else down   |
//
// Why the first result decides at once, both ways: after a restart nothing is known, and the
// issue requires that "a restart does not publish a VIP known to be down for longer than one
// probe round", so a first failure is `down` at once. A first pass is `up` at once because the
// alternative, waiting `rise` rounds, leaves every VIP withdrawn after a restart; with
// `when_all_down: all` that would publish every VIP, the dead ones included, for rise rounds.
// Debouncing (rise/fall) only protects a state that was already established.

export type ProbeState = 'unknown' | 'up' | 'down';

export interface Thresholds {
  rise: number;
  fall: number;
}

export interface ThresholdState {
  readonly state: ProbeState;
  /** Consecutive passes (0 after a failure). */
  readonly passes: number;
  /** Consecutive failures (0 after a pass). */
  readonly failures: number;
  /** When `state` was entered (the clock's milliseconds). */
  readonly since: number;
}

export interface ThresholdStep {
  next: ThresholdState;
  /** True when `state` changed on this result (an edge). */
  changed: boolean;
}

export const DEFAULT_THRESHOLDS: Thresholds = { rise: 2, fall: 3 };

export function initialThresholdState(now: number): ThresholdState {
  return { state: 'unknown', passes: 0, failures: 0, since: now };
}

function decide(prev: ProbeState, ok: boolean, passes: number, failures: number, t: Thresholds): ProbeState {
  switch (prev) {
    case 'unknown':
      return ok ? 'up' : 'down';
    case 'up':
      return !ok && failures >= Math.max(1, t.fall) ? 'down' : 'up';
    case 'down':
      return ok && passes >= Math.max(1, t.rise) ? 'up' : 'down';
  }
}

/** Applies one probe result observed at `now`. */
export function applyProbeResult(s: ThresholdState, ok: boolean, t: Thresholds, now: number): ThresholdStep {
  const passes = ok ? s.passes + 1 : 0;
  const failures = ok ? 0 : s.failures + 1;
  const state = decide(s.state, ok, passes, failures, t);
  const changed = state !== s.state;
  return { next: { state, passes, failures, since: changed ? now : s.since }, changed };
}
