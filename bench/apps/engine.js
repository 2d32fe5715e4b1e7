#!/usr/bin/env node
// Hello world on the event-loop server itself (lib/event-loop), without the node:http layer: its cost alone.
'use strict';
const { LoopBridge } = require('../../dist/event-loop/loop-bridge.js');
const { defaultLimits } = require('../../dist/request/limits.js');

const hello = 'Content-Type: text/plain\r\n\r\nHello, world!\n';
const done = () => {};
new LoopBridge({
  fd: 0,
  webServerAddrs: '',
  webServerUids: [],
  concurrency: Infinity,
  limits: defaultLimits,
  onRequest: (request) => request.write(hello, true, 0, done),
  onRefused: (error) => process.stderr.write(`${error.message}\n`),
  onClose: () => {},
}).start();
