// What the launcher that `libfcgi init` writes calls before it loads the app: the app's .env, its log file, the start
// guard, and serving the app's own listen(). Kept here, not in the launcher, so that `npm update` brings fixes to
// every site without init writing the launcher again.
import './adopt';

export { loadEnvFile } from './env-file';
export { startAppLog } from './app-log';
export { logSlowRequests } from './http/request-activity';
export { guardStart } from './restart/crash-guard';
