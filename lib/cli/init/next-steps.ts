// What `libfcgi init` prints once the layout is written: each file and what became of it, then the steps from
// `npm install` to a redeploy on the host.
import { join, relative, resolve } from 'node:path';
import type { Published } from '../../site/framework-assets';
import type { InitOptions } from './args';
import type { Outcome, ScaffoldFile } from './layout';
import { dependsOnLibfcgi } from './project';
import { posix } from './texts';

type Written = ScaffoldFile & { outcome: Outcome };

/** The files, one a line: the path in DIR, what init did with it, what it is; and a framework's copied static files. */
function fileList(options: InitOptions, files: Written[], published: Published | null): string {
  const shown = (path: string): string => relative(options.dir, path);
  const width = Math.max(...files.map((file) => shown(file.path).length));
  const done = { written: '', updated: '(updated) ', kept: '(yours, left as it is) ' };
  const assets =
    published === null
      ? ''
      : `\n  ${posix(options.docroot).padEnd(width)}  ${published.framework.name}'s static files (${published.framework.assets
          .map((asset) => asset.from)
          .join(', ')}): ${published.copied} copied, for Apache to serve; copied again at each start`;
  return (
    files.map((file) => `  ${shown(file.path).padEnd(width)}  ${done[file.outcome]}${file.about}`).join('\n') + assets
  );
}

/** What to do next, as init prints it. */
export function nextSteps(options: InitOptions, files: Written[], published: Published | null = null): string {
  const app = files.find((file) => file.kind === 'project' && file.path === resolve(options.dir, options.app));
  const visit =
    app?.outcome === 'written'
      ? 'Visit your site at / and at any other path: the page shows the path, the process id and when it started.'
      : `Visit your site: ${posix(options.app)} answers every URL that is not a file in ${posix(options.docroot)}.`;
  const rebuild =
    published === null ? '' : ` (a new ${published.framework.name} build: its static files are copied at the start)`;
  const install = dependsOnLibfcgi(options.dir) ? 'npm install' : 'npm install libfcgi';
  const where = relative(process.cwd(), options.dir);
  const cd = where === '' ? '' : `cd ${where.includes(' ') ? JSON.stringify(where) : where} && `;
  const docroot = posix(options.docroot);
  const script = posix(join(options.docroot, options.script));
  const serve = docroot === 'public_html' ? 'npx libfcgi serve' : `npx libfcgi serve --docroot ${docroot}`;
  return `Created in ${options.dir}:
${fileList(options, files, published)}

Next:
  1. ${cd}${install}
  2. Try it here, run the way Apache runs it: ${serve}   (then open http://127.0.0.1:8080/anything)
  3. On the host, ${docroot} must be the site's document root (on cPanel, ~/public_html is the main domain's).
     suexec runs only files that are yours and not writable by others:
       chmod 755 ${script} && chmod go-w . ${docroot} && chmod 644 ${docroot}/.htaccess package.json ${posix(options.app)}
     (go-w keeps your host's 711 or 750 on the folders: suexec only asks that nobody else may write there)
     ${script} ${options.relay === null ? `starts ${options.node}` : `names fcgi-relay and ${options.node}`}: made on another machine, run init again on the host.
  4. ${visit}
  5. To redeploy: upload the new code (npm install if dependencies changed)${rebuild}, then
       touch ${script}   (or ${docroot}/restart.txt)
${
  options.relay === null
    ? `     Each process tries the new code and, if it starts, restarts in place with it (a new start time, the same
     process id); if it does not start, the old code serves on and logs/app.log says why.`
    : `     The Node process tries the new code and, if it starts, hands over to a new process running it (a new start
     time and process id); if it does not start, the old code serves on and logs/app.log says why.`
}
`;
}
