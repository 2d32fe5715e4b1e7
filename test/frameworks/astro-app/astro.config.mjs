// Astro's Node adapter in standalone mode makes dist/server/entry.mjs, which starts its own server: what `libfcgi init`
// finds. Stylesheets and scripts are never inlined, so that the page loads hashed files from /_astro.
import { defineConfig } from 'astro/config';
import node from '@astrojs/node';

export default defineConfig({
  output: 'server',
  adapter: node({ mode: 'standalone' }),
  build: { inlineStylesheets: 'never' },
  vite: { build: { assetsInlineLimit: 0 } },
});
