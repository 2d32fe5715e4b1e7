// Request parameters as a plain object: copied out of libfcgi, lossless, and safe for any name.

/**
 * The CGI/FastCGI parameters of one request. Values are the bytes the web server sent, one character per byte
 * (latin1, as node:http does for header values): `Buffer.from(value, 'latin1')` gives the exact bytes back, and
 * `paramToUtf8()` decodes them as UTF-8. The object has no prototype, so names like `__proto__` are plain data.
 */
export type Params = Record<string, string>;

export function paramsFromPairs(pairs: readonly string[]): Params {
  const params: Params = Object.create(null);
  for (let i = 0; i + 1 < pairs.length; i += 2) params[pairs[i] as string] = pairs[i + 1] as string;
  return params;
}

/** Decodes a parameter's bytes as UTF-8 (for PATH_INFO or a header that carries UTF-8). */
export function paramToUtf8(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

/** The body length a CGI request declares: CONTENT_LENGTH, or Infinity (read to EOF) when the server sent none. */
export function declaredBodyLength(params: Params): number {
  const declared = params.CONTENT_LENGTH;
  return declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : Infinity;
}
