import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { uploadId } from '../functions/domain/ids.js';
import { locateObject } from '../functions/domain/object-key.js';
import type { UploadStore } from '../functions/domain/ports.js';
import { INGEST_PREFIXES } from '../functions/routes.js';

/**
 * Objects stored while the local stack was down (or whose notification was
 * lost in a crash before it was journaled) have no upload record. On start,
 * each one is given a notification again; the worker skips whatever turns
 * out to be done. Answers the keys it queued.
 */
export async function reconcile(options: {
  s3: S3Client;
  bucket: string;
  uploads: Pick<UploadStore, 'getUpload'>;
  /** Objects older than this many days are past retention (their upload records may have expired): not ingested again. */
  retentionDays?: number | undefined;
  notify: (key: string, eventTime: string) => Promise<void>;
}): Promise<string[]> {
  const queued: string[] = [];
  for (const prefix of INGEST_PREFIXES) {
    let token: string | undefined;
    do {
      const page = await options.s3.send(new ListObjectsV2Command({ Bucket: options.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const obj of page.Contents ?? []) {
        if (!obj.Key || !obj.ETag) continue;
        if (
          options.retentionDays !== undefined &&
          obj.LastModified &&
          obj.LastModified.getTime() < Date.now() - options.retentionDays * 86_400_000
        )
          continue;
        const where = locateObject(obj.Key);
        if (where.kind !== 'trace-file') continue;
        // The version the worker will name the upload by: the stored object's version id (local/s3.ts), else its ETag.
        const head = await options.s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: obj.Key })).catch(() => null);
        if (!head) continue; // deleted meanwhile
        const version = head.VersionId && head.VersionId !== 'null' ? head.VersionId : obj.ETag.replace(/"/g, '');
        const id = uploadId({ organizationId: where.organizationId, projectId: where.projectId, objectKey: obj.Key, version });
        if (await options.uploads.getUpload(where.organizationId, where.projectId, id)) continue;
        await options.notify(obj.Key, (obj.LastModified ?? new Date()).toISOString());
        queued.push(obj.Key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return queued;
}
