import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { IngestStoppedError, ingestObject, LeaseBusyError, type IngestDeps } from '../domain/ingest/ingest-object.js';
import { objectRefsOf } from '../domain/ingest/s3-event.js';
import { config } from '../shared/config.js';
import { ingestDeps } from '../shared/services.js';

export interface SqsIngestOptions {
  deps: () => IngestDeps;
  maxReceiveCount: () => number;
  /** Told why a message failed (the local queue keeps it for its dead-letter record). */
  onMessageFailure?: (messageId: string, reason: string) => void;
}

/**
 * The SQS consumer: each message holds an S3 object-created notification.
 * A message whose ingest fails is reported in batchItemFailures, so SQS
 * redelivers it, and after maxReceiveCount moves it to the dead-letter queue;
 * on that last delivery the upload is marked failed with the reason.
 */
export function makeSqsIngestHandler(options: SqsIngestOptions) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const results = await Promise.allSettled(event.Records.map((record) => processMessage(options, record)));
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const record = event.Records[i]!;
      const reason = r.reason instanceof Error ? r.reason.message : String(r.reason);
      const receiveCount = record.attributes.ApproximateReceiveCount;
      if (r.reason instanceof LeaseBusyError || r.reason instanceof IngestStoppedError) {
        // Not failures: another worker (a duplicate delivery, or create ingesting inline) has the file and this one waits
        // its turn, or the worker is stopping; either way the message is delivered again.
        const msg = r.reason instanceof LeaseBusyError ? 'another worker holds the lease on the object; the message will be delivered again' : 'stopped mid-file; the message will be delivered again';
        console.log(JSON.stringify({ level: 'info', msg, messageId: record.messageId, receiveCount, reason }));
      } else {
        console.error(JSON.stringify({ level: 'error', msg: 'ingest message failed', messageId: record.messageId, receiveCount, reason }));
      }
      options.onMessageFailure?.(record.messageId, reason);
      batchItemFailures.push({ itemIdentifier: record.messageId });
    });
    return { batchItemFailures };
  };
}

async function processMessage(options: SqsIngestOptions, record: SQSRecord): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  const finalAttempt = receiveCount >= options.maxReceiveCount();
  // Objects of one message one after another: a failure fails the whole message, and the retry skips what completed.
  for (const ref of objectRefsOf(record.body)) {
    await ingestObject(options.deps(), ref, { finalAttempt });
  }
}

export const handler = makeSqsIngestHandler({ deps: ingestDeps, maxReceiveCount: () => config().MAX_RECEIVE_COUNT });
