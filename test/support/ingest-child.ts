/**
 * An ingest worker in a process of its own, for tests that kill it outright
 * (SIGKILL) part-way through a file. It runs the real SQS handler on one
 * message, wired from the environment exactly as a Lambda is (TABLE_NAME,
 * BUCKET_NAME, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3,
 * S3_FORCE_PATH_STYLE and credentials, as startLocalStack sets them).
 *
 *   node --import tsx test/support/ingest-child.ts '<S3 notification JSON>'
 *
 * INGEST_LEASE_MS sets the object lease (default 60 s). Prints one JSON line
 * with the handler's answer if it lives that long.
 */
import { makeSqsIngestHandler } from '../../functions/handlers/ingest.js';
import { ingestDeps } from '../../functions/shared/services.js';
import { sqsRecord } from '../../local/events.js';

const body = process.argv[2];
if (!body) {
  console.error('usage: ingest-child.ts <S3 notification JSON>');
  process.exit(2);
}
const leaseMs = Number(process.env.INGEST_LEASE_MS ?? 60_000);
const handler = makeSqsIngestHandler({ deps: () => ({ ...ingestDeps(), leaseMs, log: () => {} }), maxReceiveCount: () => 5 });
const out = await handler({ Records: [sqsRecord({ messageId: 'child-1', body })] });
process.stdout.write(`${JSON.stringify(out)}\n`);
