// Builds the playground into playground/dist, served by the gateway at /playground (src/http/playground.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Every asset under one path, all same-origin.
  base: '/playground/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Module preload polyfill is an inline script; the CSP allows none.
    modulePreload: { polyfill: false },
    // Our own asset imports (Monaco's codicon font) stay files, not data: URLs. GraphiQL's stylesheet embeds its
    // fonts as data: URLs itself, hence font-src data: in the CSP (src/http/playground.ts).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 8000,
    rolldownOptions: {
      // React libraries mark modules "use client"; meaningless in a plain bundle.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  worker: { format: 'es' },
  oxc: { jsx: { runtime: 'automatic' } },
});
