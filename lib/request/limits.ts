// The limits every request is held to before the app sees it, with node:http's names and defaults, and what happens
// to a request the addon's record guard refuses.
import type { FcgiError } from '../addon/errors';

export interface RequestLimits {
  /**
   * Bytes of FastCGI parameters (the CGI variables and HTTP headers, with their lengths) a request may declare; a
   * larger request is answered 431 before the app sees it. Default 2 MiB.
   */
  maxParamsSize?: number;
  /** Milliseconds from a request's first byte to the end of its parameters (answered 408); 0 for none. Default 60000. */
  headersTimeout?: number;
  /** Milliseconds from a request's first byte to the end of its body; 0 for none. Default 300000, as node:http. */
  requestTimeout?: number;
}

export const defaultLimits: Required<RequestLimits> = {
  maxParamsSize: 2 * 1024 * 1024,
  headersTimeout: 60_000,
  requestTimeout: 300_000,
};

const maxTimeout = 2 ** 31 - 1;

/** The limits with defaults applied, checked so the addon can take them as they are. */
export function resolveLimits(options: RequestLimits): Required<RequestLimits> {
  const limits = { ...defaultLimits };
  for (const name of Object.keys(defaultLimits) as Array<keyof RequestLimits>) {
    const value = options[name];
    if (value === undefined) continue;
    const ceiling = name === 'maxParamsSize' ? Number.MAX_SAFE_INTEGER : maxTimeout;
    if (!Number.isInteger(value) || value < 0 || value > ceiling) {
      throw new TypeError(`${name} must be an integer from 0 to ${ceiling}`);
    }
    limits[name] = value;
  }
  if (limits.maxParamsSize === 0) throw new TypeError('maxParamsSize must be at least 1');
  return limits;
}

/** Where a refused request is reported when nobody listens: one line on stderr, which web servers log. */
export function reportRefusal(error: FcgiError): void {
  process.stderr.write(`libfcgi: refused a request: ${error.message}\n`);
}
