#!/usr/bin/env node
// Hello world on createServer() (fd 0).
'use strict';
const { createServer } = require('libfcgi');

createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('Hello, world!\n');
}).listen();
