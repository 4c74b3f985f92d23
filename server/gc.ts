// A full garbage collection on demand, for the one moment it pays: right after a large zone file
// was parsed on this thread (at start-up). The parse leaves about 200 MB of garbage a million
// records in the heap; the zone itself is typed arrays (name-table.ts), so nothing else
// allocates enough for V8 to collect it soon, and an idle server would keep it for hours.
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;

/** Runs a full collection; false where V8 offers none. */
export function collectGarbage(): boolean {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void; // a context made after the flag has gc()
      if (typeof gc !== 'function') gc = null;
    } catch {
      gc = null;
    }
  }
  if (!gc) return false;
  gc();
  return true;
}
