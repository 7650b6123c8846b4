import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);

/** Lets browsers PUT to presigned URLs on the local endpoint, as the AWS bucket's CORS rule does. */
const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

export interface RawS3Event {
  Records: Array<{
    eventName: string;
    eventTime: string;
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer?: string } };
  }>;
}

export interface LocalS3 {
  endpoint: string;
  /** s3rver's own notifications (keys NOT URL-encoded, unlike real S3), with the version id each PUT made. */
  onEvent(listener: (event: RawS3Event) => void): void;
  stop(): Promise<void>;
}

/** s3rver with the bucket created, listening on 127.0.0.1. Its data lives in `dir`. */
export async function startLocalS3(options: { port: number; dir: string; bucket: string }): Promise<LocalS3> {
  mkdirSync(options.dir, { recursive: true });
  const server = new S3rver({
    port: options.port,
    address: '127.0.0.1',
    directory: options.dir,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [CORS] }],
  });
  guardLongKeys(server);
  const versionOf = emulateVersioning(server);
  const address = (await server.run()) as { port: number };
  const http = (server as unknown as { httpServer: Server }).httpServer;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    onEvent: (listener) =>
      server.on('event', (event: RawS3Event) => {
        const versionId = versionOf();
        if (versionId && event.Records[0]) event.Records[0].s3.object.versionId = versionId;
        listener(event);
      }),
    stop: async () => {
      http.closeAllConnections?.();
      await server.close();
    },
  };
}

/** The longest file name the file systems s3rver stores objects on take (ext4, APFS, NTFS: 255 bytes). */
const NAME_MAX_BYTES = 255;
/** s3rver keeps an object as files named `<last key segment>._S3rver_<resource>`; the longest resource is `metadata.json`. */
const LONGEST_SUFFIX_BYTES = Buffer.byteLength('._S3rver_metadata.json');

/** Whether s3rver can keep this key on disk: each `/`-separated segment becomes a directory or a file name. */
export function fitsLocalStore(key: string): boolean {
  const parts = key.split('/');
  const last = parts.pop() ?? '';
  return parts.every((p) => Buffer.byteLength(p) <= NAME_MAX_BYTES) && Buffer.byteLength(last) + LONGEST_SUFFIX_BYTES <= NAME_MAX_BYTES;
}

/**
 * Whether s3rver keeps this key under its own name: it joins the segments into a file path, so an
 * empty, `.` or `..` segment would put the object under ANOTHER key (`drop/x/../<org>/<project>/f`
 * landed as `drop/<org>/<project>/f`, and the next start's reconcile ingested it into that project).
 */
export function keepsItsName(key: string): boolean {
  const parts = key.split('/');
  const last = parts.pop() ?? '';
  return parts.every((p) => p !== '' && p !== '.' && p !== '..') && last !== '.' && last !== '..';
}

interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  existsObject(bucket: string, key: string): Promise<boolean>;
}

/**
 * A key whose file name is too long for the disk made s3rver write to a stream without an error
 * listener: ENAMETOOLONG killed the whole process (the stack with it). S3 itself takes keys up to
 * 1,024 bytes; the stand-in now answers what S3 answers for a key it cannot take (400
 * KeyTooLongError) when asked to store one, and "no such key" when asked to read one.
 */
function guardLongKeys(server: S3rver): void {
  const store = (server as unknown as { store: S3rverStore }).store;
  const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string) => Error;
  const resourcePath = store.getResourcePath.bind(store);
  store.getResourcePath = (bucket, key, resource) => {
    if (key !== undefined && !fitsLocalStore(key)) {
      throw new S3Error(
        'KeyTooLongError',
        `the local S3 stand-in (s3rver) keeps each key segment as a file name of at most ${NAME_MAX_BYTES} bytes, with a ${LONGEST_SUFFIX_BYTES}-byte suffix on the last one; this key does not fit (S3 itself takes it)`,
      );
    }
    if (key !== undefined && !keepsItsName(key)) {
      throw new S3Error(
        'InvalidArgument',
        'the local S3 stand-in (s3rver) keeps keys as file paths: a key with an empty, "." or ".." segment would be stored under another key (S3 itself takes it as it is)',
      );
    }
    return resourcePath(bucket, key, resource);
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) =>
    fitsLocalStore(key) && keepsItsName(key) ? getObject(bucket, key, options) : Promise.resolve(null);
  const existsObject = store.existsObject.bind(store);
  store.existsObject = (bucket, key) => (fitsLocalStore(key) && keepsItsName(key) ? existsObject(bucket, key) : Promise.resolve(false));
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  status: number;
  req: { headers: Record<string, string | string[] | undefined> };
  response: { get(name: string): string };
  set(name: string, value: string): void;
}

const VERSION_HEADER = 'x-amz-version-id';
const MAX_REMEMBERED_VERSIONS = 100_000;

/**
 * The trace bucket is versioned on AWS, so every PUT is an upload of its own, even of the same bytes
 * (a re-upload after its traces were deleted brings them back). s3rver keeps no versions; this gives
 * it S3's view of the current one: each PUT (and each multipart upload) gets a new version id, kept in
 * the object's metadata and answered in `x-amz-version-id` by PUT, GET and HEAD, and named in the
 * PUT's event. s3rver keeps only a key's latest bytes: a GET or HEAD of an older version is served
 * when that version held the same bytes (a re-upload of identical content, which S3 would serve from
 * the old version) and is S3's 404 NoSuchVersion otherwise, as if deleted. Which version held which
 * bytes is remembered for this process's PUTs (the latest MAX_REMEMBERED_VERSIONS): after a restart
 * only the current version is readable. Answers, inside s3rver's event, the version the PUT being
 * handled made.
 */
function emulateVersioning(server: S3rver): () => string | undefined {
  const S3Object = require('s3rver/lib/models/object') as { ALLOWED_METADATA: string[] };
  if (!S3Object.ALLOWED_METADATA.includes(VERSION_HEADER)) S3Object.ALLOWED_METADATA.push(VERSION_HEADER);
  const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, string>) => Error;
  const store = (server as unknown as { store: { getMetadata(bucket: string, key: string): Promise<Record<string, string>> } }).store;
  const current = new AsyncLocalStorage<string>();
  /** Version id → the ETag its PUT stored. */
  const etags = new Map<string, string>();
  const middleware = (server as unknown as { middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>> }).middleware;
  middleware.unshift(async (ctx, next) => {
    const [, bucket, ...rest] = ctx.path.split('/');
    if (!bucket || rest.length === 0 || rest.join('') === '') return next();
    const q = ctx.query;
    const makesVersion =
      (ctx.method === 'PUT' && !('partNumber' in q) && !('tagging' in q) && !('acl' in q)) || (ctx.method === 'POST' && 'uploads' in q);
    if (makesVersion) {
      const versionId = randomBytes(24).toString('base64url');
      ctx.req.headers[VERSION_HEADER] = versionId; // s3rver keeps it with the object's metadata
      await current.run(versionId, next);
      if (ctx.method === 'PUT' && ctx.status === 200) {
        ctx.set(VERSION_HEADER, versionId);
        etags.set(versionId, ctx.response.get('etag'));
        if (etags.size > MAX_REMEMBERED_VERSIONS) etags.delete(etags.keys().next().value!);
      }
      return;
    }
    const wanted = typeof q.versionId === 'string' ? q.versionId : undefined;
    if (wanted !== undefined && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      let key: string;
      try {
        key = decodeURIComponent(rest.join('/'));
      } catch {
        return next();
      }
      const stored = await store.getMetadata(decodeURIComponent(bucket), key).catch(() => null);
      if (stored && stored[VERSION_HEADER] !== wanted && wanted !== 'null') {
        if (etags.get(wanted) !== stored.etag)
          throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: wanted });
        await next(); // the same bytes as the version asked for
        if (ctx.status === 200) ctx.set(VERSION_HEADER, wanted);
        return;
      }
    }
    return next();
  });
  return () => current.getStore();
}
