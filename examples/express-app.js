#!/usr/bin/env node
// An Express 5 app run as a FastCGI application: a web server spawns it with the listening socket on fd 0.
// PORT=9000 makes it listen on 127.0.0.1:9000 instead, SOCKET=/path/app.sock on a Unix socket; STATIC_DIR is the
// directory served under /static (examples/public by default, when it exists); BASE_PATH=/app serves everything under
// that prefix, for a web server that maps a path prefix to the app.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const express = require('express');
const { createServer } = require('libfcgi');

const app = express();
const routes = express.Router();

routes.get('/', (req, res) => {
  res
    .type('html')
    .send(
      '<!doctype html>\n<html><head><title>Express on FastCGI</title></head>\n' +
        '<body><h1>Express on FastCGI</h1><p>Served by libfcgi.</p>' +
        '<ul><li><a href="/json">/json</a></li><li><a href="/headers">/headers</a></li></ul></body></html>\n',
    );
});

routes.get('/json', (req, res) => {
  res.json({ hello: 'world', from: 'express', pid: process.pid });
});

routes.post('/json', express.json(), (req, res) => {
  res.json({ received: req.body });
});

routes.post('/form', express.urlencoded({ extended: false }), (req, res) => {
  res.json({ received: req.body });
});

routes.get('/redirect', (req, res) => {
  res.redirect(`${req.baseUrl}/json`);
});

routes.get('/cookie', (req, res) => {
  res.cookie('visited', 'yes', { httpOnly: true, path: '/' });
  res.json({ cookie: req.get('cookie') ?? null });
});

const staticDir = process.env.STATIC_DIR ?? join(__dirname, 'public');
if (process.env.STATIC_DIR || existsSync(staticDir)) routes.use('/static', express.static(staticDir));

routes.get('/error', () => {
  throw new Error('something broke');
});

routes.get('/slow', async (req, res) => {
  await sleep(300);
  res.json({ waited: 300 });
});

routes.get('/headers', (req, res) => {
  res.json({
    headers: req.headers,
    scriptName: req.fcgi?.params.SCRIPT_NAME ?? null,
    remoteAddress: req.socket.remoteAddress ?? null,
  });
});

// Errors thrown or passed to next() by the routes above; body parsers' errors keep their 4xx status.
app.use(process.env.BASE_PATH ?? '/', routes);

app.use((error, req, res, next) => {
  if (res.headersSent) return next(error);
  const status = Number.isInteger(error.status) && error.status >= 400 && error.status < 600 ? error.status : 500;
  res.status(status).json({ error: error.message });
});

const server = createServer(app);
const announce = () => {
  const address = server.address();
  console.error(`listening on ${typeof address === 'string' ? address : `${address.address}:${address.port}`}`);
};
if (process.env.PORT) server.listen(Number(process.env.PORT), '127.0.0.1', announce);
else if (process.env.SOCKET) server.listen(process.env.SOCKET, announce);
else server.listen();
