import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The slow chaos scenarios run with `npm run chaos` (vitest.chaos.config.ts).
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/chaos/slow.test.ts', '**/node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts', 'test/chaos/figures-setup.ts'],
    setupFiles: ['test/helpers/leak-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: two files at a time. Each file owns its schema and ports.
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: '.taskq/test-results.json' }]],
  },
});
