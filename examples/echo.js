#!/usr/bin/env node
// Echoes a request back as JSON: method, URI, every parameter, and the body's length and SHA-256.
'use strict';
const { createHash } = require('node:crypto');
const fcgi = require('libfcgi');

for (let request; (request = fcgi.accept());) {
  const body = request.readAll();
  const reply = {
    method: request.params.REQUEST_METHOD,
    uri: request.params.REQUEST_URI,
    params: request.params,
    bodyLength: body.length,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
  request.write('Status: 200 OK\r\nContent-Type: application/json\r\n\r\n');
  request.write(JSON.stringify(reply, null, 2) + '\n');
}
