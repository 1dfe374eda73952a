import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // type-graphql (CJS build under vitest) and our ESM code would otherwise load two copies of graphql-js,
    // and graphql-js refuses schema objects from "another module or realm". One path for everybody.
    alias: { graphql: fileURLToPath(new URL('./node_modules/graphql/index.js', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['reflect-metadata'],
    // Argon2 and database round trips: generous, but a hung test still ends.
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
