import { s3With, type S3ClientSource } from './lazy-sdk.js';
import { PAYLOADS_PREFIX } from '../../domain/layout.js';
import type { ObjectHead, ObjectRef, ObjectStorage, OpenedObject } from '../../domain/ports.js';

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return (
    e?.name === 'NotFound' ||
    e?.name === 'NoSuchKey' ||
    e?.name === 'NoSuchVersion' ||
    status === 404 ||
    status === 412 ||
    e?.name === 'PreconditionFailed'
  );
}

export class S3ObjectStorage implements ObjectStorage {
  constructor(
    private readonly s3: S3ClientSource,
    private readonly bucket: string,
  ) {}

  async head(ref: ObjectRef): Promise<ObjectHead | null> {
    const { sdk, client } = await s3With(this.s3);
    try {
      const out = await client.send(
        new sdk.HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(ref.versionId ? { VersionId: ref.versionId } : {}) }),
      );
      return {
        size: out.ContentLength ?? 0,
        eTag: out.ETag ?? '',
        versionId: out.VersionId && out.VersionId !== 'null' ? out.VersionId : undefined,
        lastModified: out.LastModified,
      };
    } catch (err) {
      // A role without s3:ListBucket (ours: object grants only) gets 403, not 404, for a missing key;
      // a HEAD has no body to tell the two apart, and the role may read the key, so it is missing.
      if (isMissing(err) || (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 403) return null;
      throw err;
    }
  }

  /** Streams exactly the version the event named: by version id, or by ETag on an unversioned bucket. */
  async open(ref: ObjectRef & { eTag: string }): Promise<OpenedObject | 'gone'> {
    const { sdk, client } = await s3With(this.s3);
    try {
      const out = await client.send(
        new sdk.GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(ref.versionId ? { VersionId: ref.versionId } : { IfMatch: `"${ref.eTag}"` }),
        }),
      );
      const body = out.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
      if (!body) return 'gone';
      // A store that ignores If-Match (s3rver, the local stack's S3, does) answers whatever is stored now:
      // another version's bytes are not this event's to ingest.
      if (!ref.versionId && out.ETag && out.ETag.replace(/"/g, '') !== ref.eTag.replace(/"/g, '')) {
        body.destroy?.();
        return 'gone';
      }
      return { size: out.ContentLength ?? 0, body };
    } catch (err) {
      if (isMissing(err)) return 'gone';
      throw err;
    }
  }

  async putPayload(key: string, body: string): Promise<void> {
    const { sdk, client } = await s3With(this.s3);
    await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json' }));
  }

  /** Deletes an offloaded document (only ever under payloads/); a missing one is not an error. */
  async deletePayload(key: string): Promise<void> {
    if (!key.startsWith(PAYLOADS_PREFIX)) throw new Error(`refusing to delete ${key}: not an offloaded document`);
    const { sdk, client } = await s3With(this.s3);
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
