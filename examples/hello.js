#!/usr/bin/env node
// The design thread's minimal FastCGI program: a page with a request counter, served by a synchronous accept loop.
'use strict';
const fcgi = require('libfcgi');

let count = 0;
for (let request; (request = fcgi.accept()); count++) {
  request.printf('Content-type: text/html\r\n\r\n<title>CGI Hello!</title><h1>CGI Hello!</h1><body>%d</body>\n', count);
}
