// The one error class of the package: libfcgi's FCGX_* codes and errno names, with what was being done.
import { getSystemErrorMap } from 'node:util';

const libfcgiCodes: Record<string, string> = {
  FCGX_UNSUPPORTED_VERSION: 'the web server spoke an unsupported FastCGI version',
  FCGX_PROTOCOL_ERROR: 'the FastCGI stream was malformed or the request was aborted',
  FCGX_PARAMS_ERROR: 'the request parameters were malformed',
  FCGX_CALL_SEQ_ERROR: 'called out of sequence',
  FCGI_PARAMS_TOO_LARGE: 'the request parameters exceed maxParamsSize',
};

function describe(code: string, errno: number): string {
  const known = libfcgiCodes[code];
  if (known !== undefined) return known;
  const system = errno > 0 ? getSystemErrorMap().get(-errno) : undefined;
  return system ? system[1] : 'unknown error';
}

/**
 * An error from libfcgi or from a socket call. `code` is the C name: `FCGX_PROTOCOL_ERROR`, `EADDRINUSE`, `EPIPE`…
 * `errno` follows Node's convention (negative for system errors); `syscall` says what was being done.
 */
export class FcgiError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  /** `detail`, when given, says what happened in place of the code's generic description. */
  constructor(syscall: string, code: string, result: number, detail?: string) {
    super(`${syscall} failed: ${code} (${detail ?? describe(code, result)})`);
    this.name = 'FcgiError';
    this.code = code;
    this.syscall = syscall;
    this.errno = result > 0 ? -result : result;
  }
}

/** An FcgiError for a failed Node.js fs call (the CGI fallback's reads and writes). */
export function fcgiErrorFromNode(syscall: string, error: unknown): FcgiError {
  const nodeError = error as NodeJS.ErrnoException | null;
  return new FcgiError(syscall, nodeError?.code ?? 'EIO', -(nodeError?.errno ?? 0));
}
