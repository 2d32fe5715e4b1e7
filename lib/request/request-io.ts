// What the HTTP layer needs of a request, whichever serving mode delivers it: the event-loop server
// (lib/event-loop/loop-bridge.ts) or one CGI request (cgi-io.ts).
import type { FcgiError } from '../addon/errors';
import type { Params } from './params';

/** The size a request's body is read in and its output buffered to: node:net's and node:fs's streams' own. */
export const chunkSize = 64 * 1024;

export type ReadCallback = (error: FcgiError | null, chunk: Buffer | null) => void;
export type DoneCallback = (error: FcgiError | null) => void;

/** What the HTTP layer needs of a request: its facts, and ordered asynchronous I/O. */
export interface RequestIO {
  readonly role: number;
  readonly requestId: number;
  readonly keepConn: boolean;
  readonly params: Params;
  /** The parameters in the order they came: name, value, name, value… */
  readonly pairs: readonly string[];
  aborted: boolean;
  onAbort: (() => void) | null;
  read(size: number, callback: ReadCallback): void;
  write(chunk: string | Uint8Array | null, end: boolean, exitStatus: number, callback: DoneCallback): void;
  writeStderr(chunk: string | Uint8Array, callback: DoneCallback): void;
  startData(callback: DoneCallback): void;
}
