import * as z from 'zod';
import { decodeEventKey } from '../object-key.js';
import type { ObjectRef } from '../ports.js';

/** The parts of an S3 event notification the worker reads (extra fields are ignored). */
const S3EventRecord = z.object({
  eventName: z.string(),
  eventTime: z.string().optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

const S3EventBody = z.object({ Records: z.array(S3EventRecord) });
const S3TestEvent = z.object({ Event: z.literal('s3:TestEvent') });

/** The object-created references of an SQS message body that holds an S3 notification. */
export function objectRefsOf(body: string): ObjectRef[] {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new Error('message body is not JSON');
  }
  if (S3TestEvent.safeParse(raw).success) return [];
  const parsed = S3EventBody.safeParse(raw);
  if (!parsed.success) throw new Error(`message body is not an S3 event notification: ${z.prettifyError(parsed.error)}`);
  return parsed.data.Records.filter((r) => r.eventName.startsWith('ObjectCreated:')).map((r) => ({
    bucket: r.s3.bucket.name,
    key: decodeEventKey(r.s3.object.key),
    size: r.s3.object.size,
    eTag: r.s3.object.eTag,
    versionId: r.s3.object.versionId,
    eventTime: r.eventTime,
  }));
}
