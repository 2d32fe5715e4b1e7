// What the launcher that `libfcgi init` writes calls before it loads the app: the app's .env, its log file, the start
// guard, a framework build's static files put where Apache serves them, and serving the app's own listen(). Kept here, not in the launcher, so that `npm update` brings fixes to
// every site without init writing the launcher again.
import './adopt';
import { publishAssets } from './site/framework-assets';

export { loadEnvFile } from './site/env-file';
export { startAppLog } from './site/app-log';
export { logSlowRequests } from './http/request-activity';
export { guardStart } from './restart/crash-guard';

/**
 * Copies the static files of a framework's build in appDir (Next.js, Nuxt, SvelteKit, Astro: lib/site/framework-assets.ts)
 * into the document root, where Apache serves them; nothing for any other app. A failure (a full disk) is one line
 * on stderr: the app starts all the same, and the files missing from the document root go to it.
 */
export function publishFrameworkAssets(appDir: string, docroot: string): void {
  try {
    publishAssets(appDir, docroot);
  } catch (error) {
    process.stderr.write(
      `libfcgi: could not copy the build's static files into ${docroot}: ${(error as Error).message}\n`,
    );
  }
}
