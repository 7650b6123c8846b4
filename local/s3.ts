import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import S3rver from 's3rver';

/** Lets browsers PUT to presigned URLs on the local endpoint, as the AWS bucket's CORS rule does. */
const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

export interface RawS3Event {
  Records: Array<{
    eventName: string;
    eventTime: string;
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer?: string } };
  }>;
}

export interface LocalS3 {
  endpoint: string;
  /** s3rver's own notifications (keys NOT URL-encoded, unlike real S3). */
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
  const address = (await server.run()) as { port: number };
  const http = (server as unknown as { httpServer: Server }).httpServer;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    onEvent: (listener) => server.on('event', listener),
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
  const S3Error = createRequire(import.meta.url)('s3rver/lib/models/error') as new (code: string, message: string) => Error;
  const resourcePath = store.getResourcePath.bind(store);
  store.getResourcePath = (bucket, key, resource) => {
    if (key !== undefined && !fitsLocalStore(key)) {
      throw new S3Error('KeyTooLongError', `the local S3 stand-in (s3rver) keeps each key segment as a file name of at most ${NAME_MAX_BYTES} bytes, with a ${LONGEST_SUFFIX_BYTES}-byte suffix on the last one; this key does not fit (S3 itself takes it)`);
    }
    if (key !== undefined && !keepsItsName(key)) {
      throw new S3Error('InvalidArgument', 'the local S3 stand-in (s3rver) keeps keys as file paths: a key with an empty, "." or ".." segment would be stored under another key (S3 itself takes it as it is)');
    }
    return resourcePath(bucket, key, resource);
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) => (fitsLocalStore(key) && keepsItsName(key) ? getObject(bucket, key, options) : Promise.resolve(null));
  const existsObject = store.existsObject.bind(store);
  store.existsObject = (bucket, key) => (fitsLocalStore(key) && keepsItsName(key) ? existsObject(bucket, key) : Promise.resolve(false));
}
