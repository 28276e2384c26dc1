import { defineConfig } from 'vitest/config';

/** `npm run chaos`: every chaos scenario, fast and slow, one file at a time. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts', 'test/chaos/figures-setup.ts'],
    setupFiles: ['test/helpers/leak-check.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default', ['json', { outputFile: '.taskq/chaos-results.json' }]],
  },
});
