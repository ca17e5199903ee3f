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

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { PassThrough } = require('stream');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

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

// Every real S3 makes a PUT visible whole: a GET beside it returns the
// old object or the new one.  s3rver truncates the object's file and
// writes it in place (and resolves before a buffer is written), so a
// GET of a root being rewritten could read half of it.  Here a PUT
// writes a file of its own beside the object and renames it over the
// object, and GETs, PUTs and DELETEs of one key take turns: a GET
// takes the metadata and opens the file in its turn, then reads the
// inode it opened whatever PUT comes next.
const keyTurns = new Map();
function inTurn(key, fn) {
  const before = keyTurns.get(key) || Promise.resolve();
  const run = before.then(fn, fn);
  const after = run.catch(() => {});
  keyTurns.set(key, after);
  after.then(() => { if (keyTurns.get(key) === after) keyTurns.delete(key); });
  return run;
}
let tmpSeq = 0;
const putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  // Not "._S3rver_object" at its end: listings never see it.
  const tmp = `${objectPath}.put-${process.pid}-${++tmpSeq}`;
  const md5Context = crypto.createHash('md5');
  let size = 0;
  try {
    // The DELETE of another key may remove the directory just made
    // (it was empty): make it again.
    for (let attempt = 0; ; attempt++) {
      await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
      try {
        await (await fs.promises.open(tmp, 'w')).close();
        break;
      } catch (err) {
        if (err.code !== 'ENOENT' || attempt >= 10) throw err;
      }
    }
    await new Promise((resolve, reject) => {
      const out = fs.createWriteStream(tmp);
      out.on('error', reject).on('close', resolve);
      if (Buffer.isBuffer(object.content)) {
        md5Context.update(object.content);
        size = object.content.length;
        out.end(object.content);
      } else {
        object.content.on('error', reject);
        object.content.on('data', (c) => { md5Context.update(c); size += c.length; });
        object.content.pipe(out);
      }
    });
    const md5 = md5Context.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    await fs.promises.rename(tmp, objectPath);
    return { size, md5 };
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => {});
    throw err;
  }
};
// s3rver's own DELETE reads the object's directory synchronously after
// each delete to see whether it is empty: with thousands of objects
// under one prefix (cas/data/, blocks/E/) every DELETE stalled the
// whole server for a directory read, and gc's sweeps ran at about 130
// DELETEs a second.  rmdir removes a directory only if it is empty, so
// it is the same test in one system call.
const deleteObject = async function (bucket, key) {
  await Promise.all(['object', 'object.md5', 'metadata.json'].map((r) =>
    fs.promises.unlink(this.getResourcePath(bucket, key, r)).catch((err) => {
      if (err.code !== 'ENOENT') throw err;
    })));
  const parts = key.split('/');
  parts.pop();                  // the object's name, not a directory
  for (; parts.length; parts.pop()) {
    try {
      await fs.promises.rmdir(path.join(this.getBucketPath(bucket), ...parts));
    } catch (err) {
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST' || err.code === 'ENOENT') break;
      throw err;
    }
  }
};
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.putObject = function (object) {
  return inTurn(`${object.bucket}/${object.key}`, () => putObject.call(this, object));
};
FilesystemStore.prototype.getObject = function (bucket, key, options) {
  return inTurn(`${bucket}/${key}`, () => getObject.call(this, bucket, key, options));
};
FilesystemStore.prototype.deleteObject = function (bucket, key) {
  return inTurn(`${bucket}/${key}`, () => deleteObject.call(this, bucket, key));
};

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
