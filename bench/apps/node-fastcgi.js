#!/usr/bin/env node
// Hello world on the node-fastcgi package, the pure-JavaScript peer (fd 0).
'use strict';
const fcgi = require('node-fastcgi');

fcgi
  .createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end('Hello, world!\n');
  })
  .listen();
