// A full-stack framework's build on Apache + mod_fcgid through `libfcgi init`, the real framework (test/frameworks/,
// pinned versions): its pages and API routes served by Node, its static files by Apache itself from the document root
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

/** The /_next/static URLs a page's HTML loads. */
const nextAssets = (html: string): string[] => [...new Set(html.match(/\/_next\/static\/[^"'\s)]+\.js/g) ?? [])];

describe('a Next.js standalone build on Apache + mod_fcgid through libfcgi init', () => {
  let server: WebServer;
  let site = '';
  let fixture = '';
  const outputs = ['.next', 'public'];

  beforeAll(async () => {
    fixture = buildFramework('next-app', { NEXT_PUBLIC_BUILD_LABEL: 'v1' });
    server = await startWebServer('apache', 'apache-fcgid-site.conf', {}, (run) => {
      mkdirSync(join(run, 'fcgid'));
      chmodSync(join(run, 'fcgid'), 0o777);
      const node = nodeIn(run);
      site = join(run, 'site');
      mkdirSync(join(site, 'node_modules'), { recursive: true });
      symlinkSync(repoRoot, join(site, 'node_modules', 'libfcgi')); // npm install libfcgi
      copyFileSync(join(fixture, 'package.json'), join(site, 'package.json'));
      uploadBuild(fixture, outputs, site);
      const init = runInit([site], { node });
      expect(init.status, init.stderr).toBe(0);
      expect(init.stdout).toContain('loads .next/standalone/server.js');
      expect(init.stdout).toMatch(/Next\.js's static files \(\.next\/static, public\): \d+ copied/);
      chownTree(site, 33);
    });
  }, 600_000);

  it('serves the page and the API route through Node', async () => {
    const page = await httpGet(server.port, '/');
    expect(page.status, server.errorLog()).toBe(200);
    expect(page.body.toString()).toContain('Hello from Next.js (<!-- -->v1<!-- -->)');
    const api = await httpGet(server.port, '/api/hello');
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body.toString())).toMatchObject({ hello: 'next', url: '/api/hello' });
  });

  it("serves the page's hashed chunks from Apache with a year's immutable Cache-Control, and public/ files", async () => {
    const html = (await httpGet(server.port, '/')).body.toString();
    const assets = nextAssets(html);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const reply = await httpGet(server.port, asset);
      expect(reply.status, asset).toBe(200);
      expect(reply.headers['cache-control'], asset).toBe('public, max-age=31536000, immutable');
      // Byte for byte the build's file, with Apache's own static-file headers (Node's standalone server has no
      // .next/static to serve).
      expect(reply.body.equals(readFileSync(join(fixture, asset.replace('/_next/', '.next/'))))).toBe(true);
      expect(reply.headers['accept-ranges']).toBe('bytes');
      expect(reply.headers.etag).toBeDefined();
    }
    const publicFile = await httpGet(server.port, '/hello.txt');
    expect(publicFile.status).toBe(200);
    expect(publicFile.body.toString()).toBe('public file\n');
    expect(publicFile.headers['cache-control']).toBeUndefined(); // not hashed: revalidated, as Next serves it
  });

  it('goes over to a new build on a redeploy with no failed request, its new chunks served by Apache', async () => {
    const oldAssets = nextAssets((await httpGet(server.port, '/')).body.toString());
    buildFramework('next-app', { NEXT_PUBLIC_BUILD_LABEL: 'v2' });
    const statuses: number[] = [];
    let newPage = '';
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const path = statuses.length % 2 === 0 ? '/' : '/api/hello';
        const reply = await httpGet(server.port, path);
        statuses.push(reply.status);
        if (path === '/' && reply.body.toString().includes('(<!-- -->v2<!-- -->)')) newPage = reply.body.toString();
      }
    };
    const clients = Array.from({ length: 2 }, () => client());
    uploadBuild(fixture, outputs, site);
    chownTree(site, 33);
    const now = Date.now() / 1000;
    utimesSync(join(site, 'public_html', 'app.fcgi'), now, now);
    const switched = await waitUntil(() => newPage !== '', 60_000);
    stop = true;
    await Promise.all(clients);
    expect(switched, server.errorLog()).toBe(true);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    const newAssets = nextAssets(newPage);
    expect(newAssets.filter((asset) => !oldAssets.includes(asset)).length).toBeGreaterThan(0);
    // The new build's chunks, and the old ones that pages already open still ask for.
    for (const asset of [...newAssets, ...oldAssets]) {
      const reply = await httpGet(server.port, asset);
      expect(reply.status, asset).toBe(200);
      expect(reply.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    }
  }, 300_000);
});
