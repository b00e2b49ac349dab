import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // onnxruntime sessions use native threads; forks isolate them and keep memory bounded
    pool: 'forks',
    // dist/ is built once, before any file runs (test/setup/build-dist.ts)
    globalSetup: ['test/setup/build-dist.ts'],
  },
})
