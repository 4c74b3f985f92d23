// What a fuzzer counts over its inputs (test/server/zone-fuzz.test.ts, test/cli/config-fuzz.test.ts):
// accepted, rejected, the slowest, and the first failures with how to replay them.
export interface FuzzResult {
  failure?: string;
  outcome?: { accepted: boolean; ms: number };
}

export class Tally {
  tried = 0;
  accepted = 0;
  rejected = 0;
  maxMs = 0;
  failures: string[] = [];

  /** One input's result; `shown` (the input for the report) is made only for a failure, of which the first 5 are kept. */
  record(caseNo: number, what: string, replay: string, shown: () => string, r: FuzzResult): void {
    this.tried++;
    if (r.failure) {
      if (this.failures.length < 5) this.failures.push(`input #${caseNo} (${what}; replay: ${replay}): ${r.failure}\n  input: ${shown()}`);
      return;
    }
    if (r.outcome!.accepted) this.accepted++;
    else this.rejected++;
    this.maxMs = Math.max(this.maxMs, r.outcome!.ms);
  }

  /** The one-line summary a fuzz run prints. */
  report(fuzzer: string, seed: number, label: string, startedAt: number): void {
    console.log(`${fuzzer} ${label}: seed ${seed}: ${this.tried} inputs, ${this.accepted} accepted, ${this.rejected} rejected, ` +
      `slowest ${this.maxMs.toFixed(1)} ms, ${((performance.now() - startedAt) / 1000).toFixed(1)} s in all`);
  }
}
