#!/usr/bin/env node
// Hello world on the synchronous accept loop (fd 0).
'use strict';
const { accept } = require('libfcgi');

for (let request; (request = accept());) request.write('Content-Type: text/plain\r\n\r\nHello, world!\n');
