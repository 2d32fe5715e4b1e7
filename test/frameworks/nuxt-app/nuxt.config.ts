// Nitro's default node-server preset makes .output/server/index.mjs, which starts its own server: what `libfcgi init`
// finds. BUILD_LABEL is baked into the page and its client bundle, so that a new build has new hashed files.
export default defineNuxtConfig({
  telemetry: false,
  vite: { define: { __BUILD_LABEL__: JSON.stringify(process.env.BUILD_LABEL ?? 'build') } },
});
