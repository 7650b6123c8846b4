import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** A UUID-shaped id (version 8, RFC 9562 "custom") made from the first 16 bytes of a SHA-256 digest. */
export function uuidFromDigest(digest: Buffer): string {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80; // version 8
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The id of the trace made from one record. It depends only on where the
 * record lives (organization, project, object key, 1-based position) and on
 * its content, so any redelivery, retry or re-upload of the same bytes gives
 * the same id, while identical lines at different positions stay distinct.
 */
export function traceId(parts: { organizationId: string; projectId: string; objectKey: string; position: number; raw: string }): string {
  // One pass: the fixed fields first, NUL-separated (ids, digits and S3 keys hold no NUL), then the record's bytes.
  const h = createHash('sha256');
  h.update(`trace\0${parts.organizationId}\0${parts.projectId}\0${parts.objectKey}\0${parts.position}\0`);
  h.update(parts.raw);
  return uuidFromDigest(h.digest());
}

/** The id of one upload: one object version (or, on an unversioned bucket, one ETag) of one key. */
export function uploadId(parts: { organizationId: string; projectId: string; objectKey: string; version: string }): string {
  return uuidFromDigest(
    createHash('sha256').update(`upload\0${parts.organizationId}\0${parts.projectId}\0${parts.objectKey}\0${parts.version}`).digest(),
  );
}

/** A short, stable handle for an object key, safe to use inside a DynamoDB sort key. */
export function objectKeyHash(objectKey: string): string {
  return createHash('sha256').update(objectKey).digest('hex');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function newId(): string {
  return randomUUID();
}

/** A new API key: 32 random bytes, URL-safe, with a recognisable prefix. */
export function newApiKey(): string {
  return `tik_${randomBytes(32).toString('base64url')}`;
}

/**
 * The most characters an id or a name may have: a trace, evaluation, judge or span id, a source, a
 * project or experiment name. No stored id is longer (ours are 36 characters); a longer one in a
 * request names nothing, and would overflow the table's keys.
 */
export const MAX_ID_CHARS = 256;

/** The message of a zod `.max(MAX_ID_CHARS, ...)`. */
export const ID_TOO_LONG = `must be at most ${MAX_ID_CHARS} characters`;
