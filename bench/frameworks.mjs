// frameworks.mjs: full-stack frameworks' builds (the fixtures of test/frameworks/: Next.js standalone, Astro's Node
// adapter, and on Node 22 SvelteKit's adapter-node and Nuxt) laid out by `libfcgi init` under Apache + mod_fcgid, on
// each Node line given (BENCH_NODES: paths, default this node), with Node's compile cache on (as init's launcher
// enables it, from Node 22.8) and off (NODE_DISABLE_COMPILE_CACHE=1). Per setup, 3 rounds of a fresh Apache: the first
// page from cold (Apache started, no Node process), the RSS of the site's Node process after it; then `ab -k -c16` on
// a hashed static file (Apache alone). Prints a table, writes results/frameworks.json and .md.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apacheBase, fcgidModule, get, siteProcesses, startApache, stopApache, webUser } from './apache.mjs';
import { ab, median, runMain, writeResults } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const nodes = (process.env.BENCH_NODES ?? process.execPath).split(',');
const run = join('/var/www', `libfcgi-bench-frameworks-${process.pid}`);

const frameworks = [
  {
    name: 'Next.js 16 standalone',
    fixture: 'next-app',
    outputs: ['.next', 'public'],
    ownModules: false,
    asset: /\/_next\/static\/[^"'\s]+\.js/,
  },
  {
    name: 'Astro 5 (Node adapter)',
    fixture: 'astro-app',
    outputs: ['dist', 'public'],
    ownModules: true,
    asset: /\/_astro\/[^"'\s]+\.css/,
  },
  {
    name: 'SvelteKit 3 (adapter-node)',
    fixture: 'sveltekit-app',
    outputs: ['build'],
    ownModules: true,
    asset: /\/_app\/immutable\/[^"'\s]+\.js/,
    minMajor: 22,
  },
  {
    name: 'Nuxt 4 (node-server)',
    fixture: 'nuxt-app',
    outputs: ['.output'],
    ownModules: false,
    asset: /\/_nuxt\/[^"'\s]+\.js/,
    minMajor: 22,
  },
];

function build(fixture, node) {
  const dir = join(repo, 'test', 'frameworks', fixture);
  const env = {
    ...process.env,
    PATH: `${dirname(node)}:${process.env.PATH}`,
    NEXT_TELEMETRY_DISABLED: '1',
    ASTRO_TELEMETRY_DISABLED: '1',
  };
  if (!existsSync(join(dir, 'node_modules')))
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, env, stdio: 'ignore' });
  execFileSync('npm', ['run', 'build'], { cwd: dir, env, stdio: 'ignore' });
  return dir;
}

/** The site of a framework for one node: the build uploaded, node_modules, init run with that node, www-data's. */
function layOut(framework, fixtureDir, node, name) {
  const site = join(run, name);
  mkdirSync(join(site, 'node_modules'), { recursive: true });
  symlinkSync(repo, join(site, 'node_modules', 'libfcgi'));
  if (framework.ownModules) {
    for (const module of readdirSync(join(fixtureDir, 'node_modules')).filter((entry) => !entry.startsWith('.'))) {
      symlinkSync(join(fixtureDir, 'node_modules', module), join(site, 'node_modules', module));
    }
  }
  cpSync(join(fixtureDir, 'package.json'), join(site, 'package.json'));
  for (const output of framework.outputs)
    cpSync(join(fixtureDir, output), join(site, output), {
      recursive: true,
      filter: (path) => !path.includes('/.next/cache'),
    });
  const init = spawnSync(node, [join(repo, 'dist', 'cli', 'cli.js'), 'init', site], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  writeFileSync(join(site, 'public_html', 'ready.txt'), 'ready\n');
  execFileSync('chown', ['-R', '-h', 'www-data:www-data', site]);
  return site;
}

const siteConfig = (site, env) => (port, dir) =>
  `${apacheBase(port, dir)}${fcgidModule(dir)}LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
FcgidInitialEnv PATH /usr/local/bin:/usr/bin:/bin
${Object.entries(env)
  .map(([name, value]) => `FcgidInitialEnv ${name} ${value}\n`)
  .join('')}DocumentRoot "${site}/public_html"
<Directory "${site}/public_html">
  Require all granted
  AllowOverride FileInfo Options
</Directory>
`;

async function measure(framework, site, env) {
  const cold = [];
  const rss = [];
  let assetRps = 0;
  // A first round fills the compile cache where it is on: the rounds measured start from a filled one, as every start
  // after a site's first does.
  for (let round = 0; round <= rounds; round++) {
    const apache = await startApache(run, siteConfig(site, env));
    const first = await get(apache.port, '/');
    if (first.status !== 200) throw new Error(`${framework.name}: the first page answered ${first.status}`);
    if (round > 0) {
      cold.push(first.ms);
      const node = siteProcesses().filter((process_) => !process_.relay);
      rss.push(node.reduce((sum, process_) => sum + process_.rssKb, 0) / 1024);
    }
    if (round === rounds) {
      const asset = framework.asset.exec(first.body)?.[0];
      assetRps = Math.round(ab(apache.port, asset, 5000).rps || 0);
    }
    await stopApache(apache);
  }
  return { coldMs: Math.round(median(cold)), rssMb: Math.round(median(rss)), assetRps };
}

async function main() {
  mkdirSync(run, { recursive: true, mode: 0o755 });
  chownSync(run, webUser, webUser);
  const rows = [];
  for (const framework of frameworks) {
    // Built with the newest node given: SvelteKit 3 builds on Node 22.17 and later only.
    const fixtureDir = build(framework.fixture, nodes[nodes.length - 1]);
    for (const node of nodes) {
      const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(version.slice(1).split('.')[0]) < (framework.minMajor ?? 0)) continue;
      const hasCache = Number(version.slice(1).split('.')[0]) >= 23 || /^v22\.(8|9|\d\d)/.test(version);
      for (const cache of hasCache ? [true, false] : [false]) {
        const site = layOut(
          framework,
          fixtureDir,
          node,
          `${framework.fixture}-${version}-${cache ? 'cache' : 'nocache'}`,
        );
        const result = await measure(framework, site, cache ? {} : { NODE_DISABLE_COMPILE_CACHE: '1' });
        rows.push({ framework: framework.name, node: version, compileCache: cache, ...result });
        console.error(`  ${framework.name}, Node ${version}, cache ${cache ? 'on' : 'off'}: ${JSON.stringify(result)}`);
      }
    }
  }
  const table = [
    `Apache + mod_fcgid, \`libfcgi init\`; medians of ${rounds} fresh Apaches; ab -k -c16 -n5000; ${new Date().toISOString()}.`,
    '',
    '| framework | Node | compile cache | first page from cold | RSS of the Node process | hashed file from Apache, req/s |',
    '| --- | --- | --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.framework} | ${r.node} | ${r.compileCache ? 'on' : 'off'} | ${r.coldMs} ms | ${r.rssMb} MB | ${r.assetRps} |`,
    ),
  ].join('\n');
  writeResults('frameworks', { date: new Date().toISOString(), rows }, table);
  console.log(table);
}

runMain(main, () => rmSync(run, { recursive: true, force: true }));
