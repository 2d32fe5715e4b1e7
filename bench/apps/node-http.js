#!/usr/bin/env node
// Hello world on Node's own http server, for nginx proxy_pass: what a Node user would do without FastCGI.
'use strict';
const http = require('node:http');

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('Hello, world!\n');
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
