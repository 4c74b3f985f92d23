// rise/fall: table-driven sequences of probe results and the state after each, with a fake clock.
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { applyProbeResult, initialThresholdState, type ProbeState, type Thresholds } from '../../health/thresholds.js';

interface Case {
  name: string;
  t: Thresholds;
  /** '+' pass, '-' fail, one per probe round. */
  results: string;
  /** U up, D down, ? unknown: the state after each result. */
  states: string;
}

const cases: Case[] = [
  { name: 'first pass is up at once', t: { rise: 2, fall: 3 }, results: '+', states: 'U' },
  { name: 'first failure is down at once', t: { rise: 2, fall: 3 }, results: '-', states: 'D' },
  { name: 'up falls after `fall` consecutive failures', t: { rise: 2, fall: 3 }, results: '+---', states: 'UUUD' },
  { name: 'a pass resets the failure count', t: { rise: 2, fall: 3 }, results: '+--+--+', states: 'UUUUUUU' },
  { name: 'down rises after `rise` consecutive passes', t: { rise: 2, fall: 3 }, results: '-++', states: 'DDU' },
  { name: 'a failure resets the pass count', t: { rise: 2, fall: 3 }, results: '-+-+-++', states: 'DDDDDDU' },
  { name: 'full cycle', t: { rise: 2, fall: 3 }, results: '++---+++', states: 'UUUUDDUU' },
  { name: 'rise 1 fall 1 follows every result', t: { rise: 1, fall: 1 }, results: '+-+-', states: 'UDUD' },
  { name: 'rise 3', t: { rise: 3, fall: 1 }, results: '+-++-+++', states: 'UDDDDDDU' },
  { name: 'zero thresholds act as 1', t: { rise: 0, fall: 0 }, results: '+-+', states: 'UDU' },
];

const letter: Record<ProbeState, string> = { unknown: '?', up: 'U', down: 'D' };

describe('applyProbeResult', () => {
  test.each(cases)('$name: $results -> $states', ({ t, results, states }) => {
    const clock = { t: 1_700_000_000_000, now() { return this.t; } };
    let s = initialThresholdState(clock.now());
    let seen = '';
    let since = s.since;
    for (const r of results) {
      clock.t += 1000; // one probe round
      const step = applyProbeResult(s, r === '+', t, clock.now());
      // `since` moves exactly on the edges, to the time of the result that made the edge.
      if (step.changed) {
        expect(step.next.since).toBe(clock.now());
        since = clock.now();
      } else {
        expect(step.next.since).toBe(since);
      }
      expect(step.changed).toBe(step.next.state !== s.state);
      s = step.next;
      seen += letter[s.state];
    }
    expect(seen).toBe(states);
  });

  test('starts unknown with no counts', () => {
    expect(initialThresholdState(5)).toEqual({ state: 'unknown', passes: 0, failures: 0, since: 5 });
  });

  test('property: the state only changes after rise passes or fall failures in a row (once established)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), (rise, fall, results) => {
        let s = initialThresholdState(0);
        results.forEach((ok, i) => {
          const prev = s.state;
          s = applyProbeResult(s, ok, { rise, fall }, i).next;
          if (prev === 'up' && s.state === 'down') expect(results.slice(i - fall + 1, i + 1).every((x) => !x)).toBe(true);
          if (prev === 'down' && s.state === 'up') expect(results.slice(i - rise + 1, i + 1).every((x) => x)).toBe(true);
          expect(s.state).not.toBe('unknown');
        });
      }),
    );
  });
});
