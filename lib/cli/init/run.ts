// `libfcgi init [DIR] [options]`: reads the command line, writes the layout, copies a framework build's static files
// into the document root, and prints what to do next.
import { resolve } from 'node:path';
import { publishAssets, type Published } from '../../site/framework-assets';
import { parseInitArgs } from './args';
import { writeLayout } from './layout';
import { nextSteps } from './next-steps';
import { InitError } from './project';

export function runInit(argv: string[]): void {
  const options = parseInitArgs(argv);
  const files = writeLayout(options);
  let published: Published | null;
  try {
    published = publishAssets(resolve(options.dir), resolve(options.dir, options.docroot));
  } catch (error) {
    // The layout is written; the launcher tries again at every start.
    throw new InitError(`could not copy the build's static files into ${options.docroot}: ${(error as Error).message}`);
  }
  process.stdout.write(nextSteps(options, files, published));
}
