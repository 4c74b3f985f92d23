// Runs the failover benchmark alone (the default vitest.config.ts only runs test/**/*.test.ts):
//   npx vitest run --config bench/failover/vitest.config.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
  test: {
    include: ['bench/failover/failover.bench-run.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    // Each test sets its own bound from the number of trials; hooks only clean up.
    testTimeout: 600_000,
    hookTimeout: 60_000,
    // Show each trial's line as it happens rather than after the test.
    silent: false,
  },
});
