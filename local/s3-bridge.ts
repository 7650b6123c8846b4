import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { INGEST_PREFIXES } from '../functions/routes.js';
import { s3Notification } from './events.js';
import type { RawS3Event } from './s3.js';

/**
 * Turns one of s3rver's notifications into exactly what S3 sends to SQS from
 * a versioned bucket (events.ts s3Notification), with the object's real size, ETag and
 * version id (two PUTs of the same bytes are two uploads, as on AWS). Answers null for
 * objects outside the ingest prefixes or events that are not object-created.
 */
export async function toS3Notification(raw: RawS3Event, s3: S3Client, region: string): Promise<string | null> {
  const r = raw.Records[0];
  if (!r?.eventName.startsWith('ObjectCreated:')) return null;
  const key = r.s3.object.key;
  if (!INGEST_PREFIXES.some((p) => key.startsWith(p))) return null;
  const bucket = r.s3.bucket.name;
  // s3rver's multipart events lack a reliable size and ETag: ask the object itself.
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return s3Notification({
    bucket,
    key,
    size: head.ContentLength ?? r.s3.object.size ?? 0,
    eTag: (head.ETag ?? r.s3.object.eTag ?? '').replace(/"/g, ''),
    // The PUT's own version (local/s3.ts); a multipart upload's is the one stored now.
    versionId: r.s3.object.versionId ?? head.VersionId,
    eventTime: r.eventTime,
    eventName: r.eventName,
    region,
    ...(r.s3.object.sequencer ? { sequencer: r.s3.object.sequencer } : {}),
  });
}
