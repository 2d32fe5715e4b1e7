// The stand-in that a crashed app becomes while it waits to start again (crash-guard.ts): it answers every request at
// once with a 503 and Retry-After, so visitors get a page and the web server no hang or refusal, and after the back-off
// (or as soon as the app's script changes: the fix is deployed) becomes the app again, with the same pid.
// argv: node unavailable.js DELAY_MS SCRIPT FILE ARG0 ARG1…, where FILE and ARGs start the app as it was started.
import { createServer } from '../http/http';
import { ScriptWatch, watchInterval } from '../lifecycle';
import { native } from '../native';
import { startEnvironment } from './command';

const [delayText = '1000', script = '', file = '', ...args] = process.argv.slice(2);
const delayMs = Number(delayText);
const until = Date.now() + delayMs;
const page =
  '<!DOCTYPE html>\n<title>503 Service Unavailable</title>\n<h1>Service Unavailable</h1>\n' +
  '<p>The application is restarting. Please try again in a moment.</p>\n';

const server = createServer(
  { watchScript: false, restartInPlace: false, maxRequests: 0, idleTimeout: 0 },
  (_req, res) => {
    res.writeHead(503, {
      'Content-Type': 'text/html; charset=utf-8',
      'Retry-After': String(Math.max(1, Math.ceil((until - Date.now()) / 1000))),
      'Cache-Control': 'no-store',
    });
    res.end(page);
  },
);

let starting = false;
function startApp(): void {
  if (starting) return;
  starting = true;
  clearTimeout(backoff);
  clearInterval(watching);
  // Closing stops accepting and lets answers in flight go; fd 0 stays open for the app.
  server.close(() => native.replaceProcess(file, args, startEnvironment()));
}

const backoff = setTimeout(startApp, delayMs);
const watch = script === '' ? null : ScriptWatch.of(script);
const watching = setInterval(() => {
  if (watch?.changed()) startApp();
}, watchInterval);
server.listen();
