// Full-stack frameworks' builds on Apache + mod_fcgid through `libfcgi init`, the real frameworks (test/frameworks/,
// pinned versions; Next.js standalone and Astro's Node adapter, and on Node 22, where scripts/test-node-lines.sh runs this
// file too, SvelteKit's adapter-node and Nuxt, which need 22.17 and 22.22): its pages and API routes served by Node, its static files by Apache itself from the document root
// (hashed ones with a year's immutable Cache-Control), and a redeploy of a new build with no failed request.
import {
  chmodSync,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, stopAll } from '../helpers/apps';
import { buildFramework, uploadBuild } from '../helpers/framework-builds';
import { runInit } from '../helpers/site';
import { httpGet, startWebServer, type WebServer } from '../helpers/webservers';
import { waitUntil } from '../helpers/wait';

afterAll(stopAll);

/** A node outside every PATH, as a user's own install is: a link to this node. */
function nodeIn(run: string): string {
  const bin = join(run, 'opt', 'node', 'bin');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  const node = join(bin, 'node');
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }
  return node;
}

/**
 * Every file of a tree owned by uid (the account's; www-data here, with no suexec), as an upload makes it. Links are
 * changed, not followed: node_modules/libfcgi links to this checkout.
 */
function chownTree(path: string, uid: number): void {
  lchownSync(path, uid, uid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid);
}

interface FrameworkCase {
  name: string;
  /** The oldest Node the framework builds and runs on, where it is newer than the package's own. */
  minNode?: [number, number];
  fixture: string;
  /** What a deploy uploads of the build, relative to the project. */
  outputs: string[];
  /** Whether the build runs from the project's node_modules (Next's standalone output carries its own). */
  needsNodeModules: boolean;
  entry: string;
  /** How init names the static files it copied. */
  copied: RegExp;
  /** The build label the page shows (baked in at build time) from this variable, and how it shows. */
  labelVariable: string;
  shows: (label: string) => string;
  /** The hashed files a page's HTML loads, and the folder of the build (relative to the project) they come from. */
  assets: RegExp;
  assetFile: (url: string) => string;
  api: Record<string, string>;
}

const cases: FrameworkCase[] = [
  {
    name: 'Next.js standalone',
    fixture: 'next-app',
    outputs: ['.next', 'public'],
    needsNodeModules: false,
    entry: '.next/standalone/server.js',
    copied: /Next\.js's static files \(\.next\/static, public\): \d+ copied/,
    labelVariable: 'NEXT_PUBLIC_BUILD_LABEL',
    shows: (label) => `Hello from Next.js (<!-- -->${label}<!-- -->)`,
    assets: /\/_next\/static\/[^"'\s)]+\.js/g,
    assetFile: (url) => url.replace('/_next/', '.next/'),
    api: { hello: 'next', url: '/api/hello' },
  },
  {
    name: "Astro's Node adapter (standalone)",
    fixture: 'astro-app',
    outputs: ['dist', 'public'],
    needsNodeModules: true,
    entry: 'dist/server/entry.mjs',
    copied: /Astro's static files \(dist\/client\): \d+ copied/,
    labelVariable: 'PUBLIC_BUILD_LABEL',
    shows: (label) => `Hello from Astro (${label})`,
    assets: /\/_astro\/[^"'\s)]+\.(?:js|css)/g,
    assetFile: (url) => `dist/client${url}`,
    api: { hello: 'astro', url: '/api/hello' },
  },
  {
    name: "SvelteKit's adapter-node",
    minNode: [22, 17],
    fixture: 'sveltekit-app',
    outputs: ['build'],
    needsNodeModules: true,
    entry: 'build/index.js',
    copied: /SvelteKit's static files \(build\/client\): \d+ copied/,
    labelVariable: 'VITE_BUILD_LABEL',
    shows: (label) => `Hello from SvelteKit (${label})`,
    assets: /\/_app\/immutable\/[^"'\s)]+\.js/g,
    assetFile: (url) => `build/client${url}`,
    api: { hello: 'sveltekit', url: '/api/hello' },
  },
  {
    name: "Nuxt (Nitro's node-server)",
    minNode: [22, 22],
    fixture: 'nuxt-app',
    outputs: ['.output'],
    needsNodeModules: false,
    entry: '.output/server/index.mjs',
    copied: /Nuxt's static files \(\.output\/public\): \d+ copied/,
    labelVariable: 'BUILD_LABEL',
    shows: (label) => `Hello from Nuxt (${label})`,
    assets: /\/_nuxt\/[^"'\s)]+\.js/g,
    assetFile: (url) => `.output/public${url}`,
    api: { hello: 'nuxt', url: '/api/hello' },
  },
];

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const runsHere = ({ minNode }: FrameworkCase): boolean =>
  minNode === undefined || major > minNode[0] || (major === minNode[0] && minor >= minNode[1]);

describe.each(cases.filter(runsHere))('$name on Apache + mod_fcgid through libfcgi init', (framework) => {
  let server: WebServer;
  let site = '';
  let fixture = '';
  const assetsOf = (html: string): string[] => [...new Set(html.match(framework.assets) ?? [])];
  const build = (label: string): string => buildFramework(framework.fixture, { [framework.labelVariable]: label });

  beforeAll(async () => {
    fixture = build('v1');
    server = await startWebServer('apache', 'apache-fcgid-site.conf', {}, (run) => {
      mkdirSync(join(run, 'fcgid'));
      chmodSync(join(run, 'fcgid'), 0o777);
      const node = nodeIn(run);
      site = join(run, 'site');
      mkdirSync(join(site, 'node_modules'), { recursive: true });
      symlinkSync(repoRoot, join(site, 'node_modules', 'libfcgi')); // npm install libfcgi
      if (framework.needsNodeModules) {
        // npm install on the host: the project's own dependencies, linked from the fixture's.
        for (const name of readdirSync(join(fixture, 'node_modules'))) {
          if (name !== 'libfcgi' && !name.startsWith('.')) {
            symlinkSync(join(fixture, 'node_modules', name), join(site, 'node_modules', name));
          }
        }
      }
      copyFileSync(join(fixture, 'package.json'), join(site, 'package.json'));
      uploadBuild(fixture, framework.outputs, site);
      const init = runInit([site], { node });
      expect(init.status, init.stderr).toBe(0);
      expect(init.stdout).toContain(`loads ${framework.entry}`);
      expect(init.stdout).toMatch(framework.copied);
      chownTree(site, 33);
    });
  }, 600_000);

  it('serves the page and the API route through Node', async () => {
    const page = await httpGet(server.port, '/');
    expect(page.status, server.errorLog()).toBe(200);
    expect(page.body.toString()).toContain(framework.shows('v1'));
    const api = await httpGet(server.port, '/api/hello');
    expect(api.status).toBe(200);
    expect(api.headers['cache-control']).not.toBe('public, max-age=0'); // the app's own headers, untouched
    expect(JSON.parse(api.body.toString())).toMatchObject(framework.api);
  });

  it("serves the page's hashed files from Apache with a year's immutable Cache-Control, and public/ files", async () => {
    const assets = assetsOf((await httpGet(server.port, '/')).body.toString());
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const reply = await httpGet(server.port, asset);
      expect(reply.status, asset).toBe(200);
      expect(reply.headers['cache-control'], asset).toBe('public, max-age=31536000, immutable');
      // Byte for byte the build's file, with Apache's own static-file headers.
      expect(reply.body.equals(readFileSync(join(fixture, framework.assetFile(asset))))).toBe(true);
      expect(reply.headers['accept-ranges']).toBe('bytes');
      expect(reply.headers.etag).toBeDefined();
    }
    const publicFile = await httpGet(server.port, '/hello.txt');
    expect(publicFile.status).toBe(200);
    expect(publicFile.body.toString()).toBe('public file\n');
    expect(publicFile.headers['cache-control']).toBe('public, max-age=0'); // not hashed: revalidated at every use
  });

  it('goes over to a new build on a redeploy with no failed request, its new files served by Apache', async () => {
    const oldAssets = assetsOf((await httpGet(server.port, '/')).body.toString());
    build('v2');
    const statuses: number[] = [];
    let newPage = '';
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const path = statuses.length % 2 === 0 ? '/' : '/api/hello';
        const reply = await httpGet(server.port, path);
        statuses.push(reply.status);
        if (path === '/' && reply.body.toString().includes(framework.shows('v2'))) newPage = reply.body.toString();
      }
    };
    const clients = Array.from({ length: 2 }, () => client());
    uploadBuild(fixture, framework.outputs, site);
    chownTree(site, 33);
    const now = Date.now() / 1000;
    utimesSync(join(site, 'public_html', 'app.fcgi'), now, now);
    const switched = await waitUntil(() => newPage !== '', 60_000);
    stop = true;
    await Promise.all(clients);
    expect(switched, server.errorLog()).toBe(true);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    const newAssets = assetsOf(newPage);
    expect(newAssets.filter((asset) => !oldAssets.includes(asset)).length).toBeGreaterThan(0);
    // The new build's files, and the old ones that pages already open still ask for.
    for (const asset of [...newAssets, ...oldAssets]) {
      const reply = await httpGet(server.port, asset);
      expect(reply.status, asset).toBe(200);
      expect(reply.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    }
  }, 300_000);
});
