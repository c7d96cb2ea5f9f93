import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One fake and one app for the file; starting them takes a few seconds.
    hookTimeout: 60000,
    testTimeout: 30000,
    fileParallelism: false,
  },
});
