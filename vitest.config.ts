import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: integration files start real servers; keep them from starving each other.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'tests', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/soak/**'] } },
      // The soak keeps most of a core busy for a minute (dnsperf, a cluster, faults) and measures
      // latency and failover windows: it runs after every other file, alone, so neither disturbs the other.
      { extends: true, test: { name: 'soak', include: ['test/soak/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
