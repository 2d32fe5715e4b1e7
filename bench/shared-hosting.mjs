// shared-hosting.mjs: the same Express app (ending in app.listen()) of a shared-hosting account (its own user, files
// under /var/www where Debian's suexec runs programs) under one Apache three ways, in one run:
// `libfcgi init` where Apache has no mod_proxy_fcgi (mod_fcgid and the relays), `libfcgi init` where it has it (requests
// go straight to the site's Node process once it runs), and Phusion Passenger (Debian's libapache2-mod-passenger), the
// module shared hosts offer Node with. Each round starts a fresh Apache per setup and measures, in this order: the
// first response from cold (Apache started, no app process), 20 concurrent requests of 1 s, hello world under
// `ab -k -c16`, and the summed RSS of the site's processes (Passenger's own agents included). Prints a table and
// writes results/shared-hosting.json and .md.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apacheBase,
  expressApp,
  expressSite,
  fcgidModule,
  get,
  siteProcesses,
  startApache,
  stopApache,
} from './apache.mjs';
import { ab as abFor, interleavedRounds, median, sleep, writeResults } from './harness.mjs';

const rounds = Number(process.env.BENCH_SHARED_ROUNDS ?? 3);
const helloRequests = Number(process.env.BENCH_SHARED_REQUESTS ?? 20_000);
const burst = 20;
// With no relay left, the Node process ends once the direct path has been quiet 5 s (lib/http/http.ts).
const graceMs = 10_000;
const passengerAgents = /^Passenger/;

// The account: suexec runs app.fcgi as it, Passenger runs server.js as its owner.
const account = `lfbench${process.pid}`;
const run = join('/var/www', `libfcgi-bench-${process.pid}`);
execFileSync('useradd', ['-M', '-d', run, '-s', '/usr/sbin/nologin', account]);
const accountUid = Number(execFileSync('id', ['-u', account], { encoding: 'utf8' }));
mkdirSync(run, { mode: 0o755 });
chmodSync(run, 0o755);
process.on('exit', () => {
  rmSync(run, { recursive: true, force: true });
  execFileSync('userdel', [account]);
});

const siteDirectory = (docroot, directives = '') => `DocumentRoot "${docroot}"
<Directory "${docroot}">
  Require all granted
  AllowOverride FileInfo Options
  Options +ExecCGI -MultiViews
  ${directives}
</Directory>
`;

function initSetup(name, withProxyFcgi) {
  const site = expressSite(run, name, expressApp, [], account);
  const proxy = withProxyFcgi
    ? `LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
`
    : '';
  return {
    name: withProxyFcgi
      ? '`libfcgi init`, Apache with mod_proxy_fcgi'
      : '`libfcgi init`, Apache without mod_proxy_fcgi',
    flag: withProxyFcgi ? join(site.dir, '.libfcgi-proxy', 'live') : null,
    config: (port, dir) => `${apacheBase(port, dir)}${fcgidModule(dir)}${proxy}\
LoadModule suexec_module /usr/lib/apache2/modules/mod_suexec.so
SuexecUserGroup ${account} ${account}
${siteDirectory(site.docroot)}`,
  };
}

function passengerSetup() {
  const site = expressSite(run, 'passenger', expressApp, null, account);
  mkdirSync(join(site.dir, 'public'));
  writeFileSync(join(site.dir, 'public', 'ready.txt'), 'ready\n'); // what startApache asks for
  execFileSync('chown', ['-R', `${account}:${account}`, join(site.dir, 'public')]);
  const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libapache2-mod-passenger'], { encoding: 'utf8' });
  return {
    name: `Phusion Passenger ${version.replace(/\+.*/, '')} (Debian's mod_passenger)`,
    flag: null,
    also: passengerAgents,
    // As a host sets it up for a Node app: the app runs as its files' owner, Passenger's defaults otherwise.
    config: (
      port,
      dir,
    ) => `${apacheBase(port, dir)}LoadModule passenger_module /usr/lib/apache2/modules/mod_passenger.so
PassengerRoot /usr/lib/ruby/vendor_ruby/phusion_passenger/locations.ini
PassengerDefaultRuby /usr/bin/ruby
PassengerInstanceRegistryDir "${dir}"
PassengerNodejs "${process.execPath}"
${siteDirectory(join(site.dir, 'public'))}PassengerAppRoot "${site.dir}"
PassengerAppType node
PassengerStartupFile server.js
`,
  };
}

/** ab's requests per second; any failed or non-2xx request fails the bench. */
function ab(port, requests, path = '/hello') {
  const { rps, failed, non2xx, output } = abFor(port, path, requests);
  if (failed !== 0 || non2xx !== 0) throw new Error(`ab: ${failed} failed, ${non2xx} not 2xx\n${output}`);
  return rps;
}

async function measure(setup) {
  const apache = await startApache(run, setup.config);
  const cold = await get(apache.port, '/hello');
  if (cold.status !== 200 || cold.body !== 'Hello, world!\n') {
    throw new Error(`${setup.name}: the first request got ${cold.status} ${cold.body}`);
  }
  if (setup.flag !== null) {
    const deadline = performance.now() + 5000;
    while (!existsSync(setup.flag) && performance.now() < deadline) await sleep(20);
    if (!existsSync(setup.flag)) throw new Error(`${setup.name}: the direct path never opened`);
  }
  const started = performance.now();
  const replies = await Promise.all(Array.from({ length: burst }, () => get(apache.port, '/slow')));
  const burstMs = performance.now() - started;
  if (replies.some((reply) => reply.status !== 200)) throw new Error(`${setup.name}: a slow request failed`);
  ab(apache.port, Math.min(2000, helloRequests));
  const helloPerSecond = ab(apache.port, helloRequests);
  const staticPerSecond = ab(apache.port, helloRequests, '/ready.txt');
  const processes = siteProcesses(setup.also, accountUid);
  const leftAfterStop = await stopApache(apache, setup.also, accountUid, graceMs);
  return {
    coldMs: cold.ms,
    burstMs,
    helloPerSecond,
    staticPerSecond,
    rssMb: processes.reduce((sum, p) => sum + p.rssKb, 0) / 1024,
    processes: processes.length,
    leftAfterStop,
  };
}

const setups = [initSetup('relay-path', false), initSetup('direct-path', true), passengerSetup()];
const results = await interleavedRounds(rounds, setups, measure, (round, setup, result) =>
  process.stderr.write(
    `round ${round + 1} ${setup.name}: cold ${result.coldMs.toFixed(0)} ms, burst ` +
      `${(result.burstMs / 1000).toFixed(2)} s, hello ${result.helloPerSecond.toFixed(0)}/s\n`,
  ),
);

const summary = results.map(({ name, rounds: measured }) => {
  const pick = (key) => median(measured.map((result) => result[key]));
  const range = (key) => [Math.min(...measured.map((r) => r[key])), Math.max(...measured.map((r) => r[key]))];
  return {
    name,
    helloPerSecond: pick('helloPerSecond'),
    helloRange: range('helloPerSecond'),
    staticPerSecond: pick('staticPerSecond'),
    burstMs: pick('burstMs'),
    coldMs: pick('coldMs'),
    rssMb: pick('rssMb'),
    processes: pick('processes'),
    leftAfterStop: Math.max(...measured.map((result) => result.leftAfterStop)),
  };
});
const passenger = summary[summary.length - 1];
const lines = [
  `The same Express app under one Apache (event MPM) three ways; medians of ${rounds} rounds, a fresh Apache each`,
  '',
  `| Apache + … | hello, ab -k -c16 (req/s) | × Passenger | a static file (req/s) | ${burst} concurrent 1-s requests | ` +
    `cold first response | processes | summed RSS | left ${graceMs / 1000} s after stop |`,
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...summary.map(
    (row) =>
      `| ${row.name} | ${row.helloPerSecond.toFixed(0)} (${row.helloRange.map((v) => v.toFixed(0)).join('–')}) | ` +
      `${(row.helloPerSecond / passenger.helloPerSecond).toFixed(2)} | ${row.staticPerSecond.toFixed(0)} | ` +
      `${(row.burstMs / 1000).toFixed(2)} s | ` +
      `${(row.coldMs / 1000).toFixed(2)} s | ${row.processes} | ${row.rssMb.toFixed(0)} MB | ${row.leftAfterStop} |`,
  ),
];
process.stdout.write(`\n${lines.join('\n')}\n`);
writeResults('shared-hosting', { date: new Date().toISOString(), rounds, helloRequests, summary }, lines.join('\n'));
