import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The default `forks` pool: each test file in its own process, as native addons need.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
