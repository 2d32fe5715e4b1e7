#!/usr/bin/env node
// The fault soak's app (fd 0): answers each request with its method, its X-Token header and the SHA-256 of its body
// as headers and the body itself, so a client can check the answer byte for byte; `?size=N` answers N bytes instead,
// for peers that close mid-response. On createServer, or on the accept() loop with the argument `accept`.
'use strict';
const { createHash } = require('node:crypto');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { accept, createServer } = require('libfcgi');

const block = Buffer.alloc(64 * 1024, 'x');

function sizeAsked(query) {
  return Number(/(?:^|&)size=(\d+)/.exec(query ?? '')?.[1] ?? 0);
}

function* blocks(size) {
  for (let left = size; left > 0; left -= block.length) yield left < block.length ? block.subarray(0, left) : block;
}

function echoHeaders(method, token, body) {
  return {
    'Content-Type': 'application/octet-stream',
    'X-Method': method,
    'X-Token': token,
    'X-Body-Sha256': createHash('sha256').update(body).digest('hex'),
    'Content-Length': String(body.length),
  };
}

function serveWithCreateServer() {
  const server = createServer(async (req, res) => {
    try {
      const size = sizeAsked(req.fcgi?.params.QUERY_STRING);
      if (size > 0) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        await pipeline(Readable.from(blocks(size)), res);
        return;
      }
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      res.writeHead(200, echoHeaders(req.method, req.headers['x-token'] ?? '', body));
      res.end(body);
    } catch {
      // The peer aborted or went away; the server has already ended the request.
    }
  });
  server.listen();
}

function serveWithAccept() {
  for (let request; (request = accept());) {
    try {
      const { params } = request;
      const size = sizeAsked(params.QUERY_STRING);
      if (size > 0) {
        request.write('Content-Type: application/octet-stream\r\n\r\n');
        for (const piece of blocks(size)) if (!request.write(piece)) break;
        continue;
      }
      const body = request.readAll();
      const headers = echoHeaders(params.REQUEST_METHOD, params.HTTP_X_TOKEN ?? '', body);
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      request.write(Buffer.concat([Buffer.from(head.join('') + '\r\n'), body]));
    } catch {
      // An aborted request's body read throws; the next accept() finishes it.
    }
  }
}

if (process.argv[2] === 'accept') serveWithAccept();
else serveWithCreateServer();
