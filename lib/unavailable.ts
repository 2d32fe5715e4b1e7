// The stand-in that a crashed app becomes while it waits to start again (crash-guard.ts): it answers every request at
// once with a 503 and Retry-After, so visitors get a page and the web server no hang or refusal, and after the back-off
// (or as soon as the app's script changes: the fix is deployed) becomes the app again, with the same pid.
// argv: node unavailable.js DELAY_MS SCRIPT STAMPS FILE ARG0 ARG1…, where STAMPS (JSON) is what the script's files
// were when the crashed image started, and FILE and ARGs start the app as it was started.
import { createServer } from './http/http';
import { native } from './addon/native';
import { bytes, startEnvironment } from './restart/command';
import { ScriptWatch, watchInterval } from './restart/script-watch';

const [delayText = '1000', script = '', stampsText = '[]', file = '', ...args] = process.argv.slice(2);
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
  server.close(() => native().replaceProcess(bytes(file), args.map(bytes), startEnvironment()));
}

const stamps = JSON.parse(stampsText) as string[];
const watch = script === '' ? null : new ScriptWatch(script, stamps.length === 2 ? stamps : undefined);
const backoff = setTimeout(startApp, delayMs);
const watching = setInterval(() => {
  if (watch?.changed()) startApp();
}, watchInterval);
server.listen();
if (watch?.changed()) startApp(); // new code came while the crashed one ran: no back-off for it
