#!/usr/bin/env node
// Hello world in Express 5 on Node's own http server, for nginx proxy_pass: the same app as express.js, without FastCGI.
'use strict';
const http = require('node:http');
const express = require('express');

const app = express();
app.get('/hello', (req, res) => res.type('text/plain').send('Hello, world!\n'));
const server = http.createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
