#!/usr/bin/env node
// Hello world on createServer() (fd 0) whose handler first awaits a 200 ms timer, to hold many requests in flight.
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');
const { createServer } = require('libfcgi');

createServer(async (req, res) => {
  await sleep(200);
  res.setHeader('Content-Type', 'text/plain');
  res.end('Hello, world!\n');
}).listen();
