// Builds the web app (examples/web-app/app) into examples/web-app/dist, served by examples/web-app/serve.ts.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./app', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    // The module preload polyfill is an inline script; the app's CSP allows none.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
