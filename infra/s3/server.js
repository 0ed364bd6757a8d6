'use strict';
// The S3-compatible server for machines without Docker: s3rver, plus the two multipart
// operations it lacks, AbortMultipartUpload and ListMultipartUploads. With them an
// aborted upload frees its parts here as it does on S3 and MinIO, and tests can see that
// nothing is left pending.
//
// usage: node server.js <directory> <address> <port> <bucket>
const fs = require('fs/promises');
const path = require('path');
const S3rver = require('s3rver');

const [directory, address, port, bucket] = process.argv.slice(2);
const server = new S3rver({
  directory,
  address,
  port: Number(port),
  silent: true,
  configureBuckets: [{ name: bucket, configs: [] }],
});

const uploadsOf = name => server.store.getResourcePath(name, undefined, 'uploads');
const isUploadId = id => /^[0-9a-f]{32}$/.test(id);

async function multipart(ctx, next) {
  const [, name, ...rest] = ctx.path.split('/');
  const key = rest.filter(segment => segment.length > 0);
  if (ctx.method === 'DELETE' && key.length > 0 && 'uploadId' in ctx.query) {
    const id = ctx.query.uploadId;
    const dir = path.join(uploadsOf(name), id);
    if (!isUploadId(id) || !(await exists(dir))) {
      ctx.status = 404;
      ctx.body = { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.', UploadId: id } };
      return;
    }
    await fs.rm(dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'GET' && key.length === 0 && name && 'uploads' in ctx.query) {
    const ids = (await exists(uploadsOf(name))) ? await fs.readdir(uploadsOf(name)) : [];
    const uploads = [];
    for (const id of ids.filter(isUploadId)) {
      const uploadKey = await fs.readFile(path.join(uploadsOf(name), id, 'key'), 'utf8').catch(() => null);
      if (uploadKey !== null) uploads.push({ Key: uploadKey, UploadId: id });
    }
    ctx.body = {
      ListMultipartUploadsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: name,
        IsTruncated: false,
        Upload: uploads,
      },
    };
    return;
  }
  await next();
}

async function exists(p) {
  return fs.access(p).then(() => true, () => false);
}

// Just before s3rver's router, after its logging, XML and virtual-host middleware.
server.middleware.splice(server.middleware.length - 1, 0, multipart);
server.run().then(
  ({ port: listening }) => console.log(`s3 server listening on ${address}:${listening}, bucket ${bucket}`),
  err => {
    console.error(err);
    process.exit(1);
  },
);
