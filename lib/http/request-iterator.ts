// `for await (const { req, res } of server)`: a server's 'request' events as an async iterator, until 'close'.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function requestIterator(
  server: EventEmitter,
): AsyncIterableIterator<{ req: IncomingMessage; res: ServerResponse }> {
  type Item = { req: IncomingMessage; res: ServerResponse };
  const queued: Item[] = [];
  const waiting: Array<(result: IteratorResult<Item>) => void> = [];
  let done = false;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const next = waiting.shift();
    if (next) next({ value: { req, res }, done: false });
    else queued.push({ req, res });
  };
  const finish = (): IteratorResult<Item> => {
    done = true;
    server.off('request', onRequest);
    server.off('close', onClose);
    for (const next of waiting.splice(0)) next({ value: undefined, done: true });
    return { value: undefined, done: true };
  };
  const onClose = (): void => void finish();
  server.on('request', onRequest);
  server.once('close', onClose);
  return {
    next: () => {
      const item = queued.shift();
      if (item) return Promise.resolve({ value: item, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return: () => Promise.resolve(finish()),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
