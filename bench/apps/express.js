#!/usr/bin/env node
// Hello world in Express 5 on createServer() (fd 0).
'use strict';
const express = require('express');
const { createServer } = require('libfcgi');

const app = express();
app.get('/hello', (req, res) => res.type('text/plain').send('Hello, world!\n'));
createServer(app).listen();
