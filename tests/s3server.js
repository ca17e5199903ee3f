#!/usr/bin/env node
// SPDX-License-Identifier: BSD-3-Clause
// Copyright (C) 2026 the s3blocks authors; see LICENSE.
// Start s3rver (the project's pinned test S3 server) on 127.0.0.1 and
// write "HOST:PORT" to --port-file once it listens.  Port 0 picks a
// free port, so parallel tests never collide.
//
//   node tests/s3server.js --dir DIR --port-file FILE [--port N]
//                          [--strict] [--key KEY --cert CERT] [--log FILE]
//                          [--faults FILE]
//
// --strict checks V2 signatures (for the wrong-credentials tests);
// without it s3rver accepts any well-formed signature, because it
// computes the string to sign for bucket-level requests differently
// from libs3.
//
// --faults FILE injects server errors: while FILE holds
// "STATUS COUNT SUBSTRING", the next COUNT requests whose path contains
// SUBSTRING are answered with HTTP STATUS (an S3 error document) and
// COUNT goes down by one each time.  "STATUS COUNT SUBSTRING SKIP"
// lets SKIP matching requests through first.  STATUS "hang" holds the
// request unanswered (for 120 s, then 503): a server stuck mid-request,
// for tests that SIGKILL the plugin at that point.  STATUS "cut" sends
// the real answer's headers and half its body, then drops the
// connection: a transfer that dies mid-body, which the client retries.
// --requests FILE appends "METHOD PATH" for every request.

'use strict';

const fs = require('fs');
const { PassThrough } = require('stream');
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--strict') opt.strict = true;
  else if (a.startsWith('--') && i + 1 < args.length) opt[a.slice(2)] = args[++i];
  else {
    console.error(`s3server.js: unexpected argument ${a}`);
    process.exit(2);
  }
}
if (!opt.dir || !opt['port-file']) {
  console.error('s3server.js: --dir and --port-file are required');
  process.exit(2);
}

const options = {
  address: '127.0.0.1',
  port: Number(opt.port || 0),
  directory: opt.dir,
  silent: !opt.log,
  allowMismatchedSignatures: !opt.strict,
  vhostBuckets: false,
};
if (opt.key) options.key = fs.readFileSync(opt.key);
if (opt.cert) options.cert = fs.readFileSync(opt.cert);

const server = new S3rver(options);

function injectedFault(path) {
  let spec;
  try {
    spec = fs.readFileSync(opt.faults, 'utf8').trim().split(/\s+/);
  } catch (e) {
    return null;
  }
  const [status, count, substring, skip] =
    [spec[0] === 'hang' || spec[0] === 'cut' ? spec[0] : Number(spec[0]),
     Number(spec[1]),
     spec[2] || '', Number(spec[3] || 0)];
  if (!(count > 0) || !path.includes(substring)) return null;
  if (skip > 0) {
    fs.writeFileSync(opt.faults, `${spec[0]} ${count} ${substring} ${skip - 1}\n`);
    return null;
  }
  fs.writeFileSync(opt.faults, `${spec[0]} ${count - 1} ${substring}\n`);
  return status;
}

// Every real S3 stores a PUT whole or not at all; s3rver writes the
// body straight into its file, so a client killed mid-upload would
// leave a truncated object.  Take the whole body first, and store
// nothing if the connection dies before it is complete.
server.middleware.unshift(async (ctx, next) => {
  if (ctx.method !== 'PUT' || ctx.get('x-amz-copy-source')) return next();
  const chunks = [];
  let got = 0;
  const complete = await new Promise((resolve) => {
    ctx.req.on('data', (c) => { chunks.push(c); got += c.length; });
    ctx.req.on('end', () => resolve(true));
    ctx.req.on('aborted', () => resolve(false));
    ctx.req.on('error', () => resolve(false));
  });
  const length = ctx.get('content-length');
  if (!complete || (length !== '' && got !== Number(length))) {
    ctx.status = 400;
    return;
  }
  const body = new PassThrough();
  body.end(Buffer.concat(chunks));
  ctx.req = body;
  return next();
});

if (opt.requests) {
  server.middleware.unshift(async (ctx, next) => {
    fs.appendFileSync(opt.requests, `${ctx.method} ${ctx.url}\n`);
    return next();
  });
}
if (opt.faults) {
  // Koa composes its middleware when the server starts listening, so
  // this runs before any of s3rver's own.
  server.middleware.unshift(async (ctx, next) => {
    let status = injectedFault(ctx.path);
    if (status === null) return next();
    if (status === 'cut') {
      await next();
      const chunks = [];
      if (ctx.body && typeof ctx.body.pipe === 'function') {
        for await (const c of ctx.body) chunks.push(c);
      } else if (ctx.body) {
        chunks.push(Buffer.from(ctx.body));
      }
      const data = Buffer.concat(chunks);
      // The headers as s3rver set them, in their case (libs3 matches
      // names case-sensitively).
      ctx.set('Content-Length', String(data.length));
      ctx.respond = false;
      ctx.res.writeHead(ctx.status);
      ctx.res.write(data.subarray(0, Math.floor(data.length / 2)),
                    () => ctx.res.socket.destroy());
      return;
    }
    if (status === 'hang') {
      await new Promise((resolve) => setTimeout(resolve, 120000));
      status = 503;
    }
    ctx.status = status;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
      (status === 503 ? 'SlowDown' : 'InternalError') +
      '</Code><Message>injected by the test</Message></Error>\n';
  });
}
server.run((err, address) => {
  if (err) {
    console.error(`s3server.js: ${err.message}`);
    process.exit(1);
  }
  const hostport = `${address.address}:${address.port}`;
  fs.writeFileSync(opt['port-file'] + '.tmp', hostport + '\n');
  fs.renameSync(opt['port-file'] + '.tmp', opt['port-file']);
  console.log(`s3rver listening on ${hostport} (pid ${process.pid})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
