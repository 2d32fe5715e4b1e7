#!/usr/bin/env node
// Express hello world in a node:cluster of WORKERS processes sharing PORT, as a VPS runs it to use every core: on
// libfcgi's createServer (SERVER=fastcgi, behind fastcgi_pass) or on node:http (SERVER=http, behind proxy_pass). The
// same app as express.js and express-http.js. EXCLUSIVE=1: createServer's workers each bind a socket of their own
// (SO_REUSEPORT) instead of sharing the primary's.
'use strict';
const cluster = require('node:cluster');

if (cluster.isPrimary) {
  for (let i = 0; i < Number(process.env.WORKERS ?? 2); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  const express = require('express');
  const app = express();
  app.get('/hello', (req, res) => res.type('text/plain').send('Hello, world!\n'));
  if (process.env.SERVER === 'http') {
    const server = require('node:http').createServer(app);
    server.keepAliveTimeout = 60_000;
    server.listen(Number(process.env.PORT), '127.0.0.1');
  } else {
    const exclusive = process.env.EXCLUSIVE === '1';
    require('libfcgi')
      .createServer(app)
      .listen({ port: Number(process.env.PORT), host: '127.0.0.1', exclusive });
  }
}
