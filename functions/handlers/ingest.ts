import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { IngestStoppedError, ingestObject, LeaseBusyError, type IngestDeps, type IngestOutcome } from '../domain/ingest/ingest-object.js';
import { objectRefsOf } from '../domain/ingest/s3-event.js';
import { uploadId } from '../domain/ids.js';
import { locateObject } from '../domain/object-key.js';
import type { ObjectRef } from '../domain/ports.js';
import { config } from '../shared/config.js';
import { METRIC } from '../shared/metric-names.js';
import { flushMetrics, log, metricsFor, MetricUnit, startInvocation, withLogKeys } from '../shared/observability.js';
import { ingestDeps } from '../shared/services.js';

const metrics = metricsFor();

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
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    startInvocation(context);
    const results = await Promise.allSettled(
      event.Records.map((record) => withLogKeys({ messageId: record.messageId }, () => processMessage(options, record))),
    );
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const record = event.Records[i]!;
      const reason = r.reason instanceof Error ? r.reason.message : String(r.reason);
      const receiveCount = record.attributes.ApproximateReceiveCount;
      if (r.reason instanceof LeaseBusyError || r.reason instanceof IngestStoppedError) {
        // Not failures: another worker (a duplicate delivery, or create ingesting inline) has the file and this one waits
        // its turn, or the worker is stopping; either way the message is delivered again.
        const msg =
          r.reason instanceof LeaseBusyError
            ? 'another worker holds the lease on the object; the message will be delivered again'
            : 'stopped mid-file; the message will be delivered again';
        log({ level: 'info', msg, messageId: record.messageId, receiveCount, reason });
      } else {
        log({ level: 'error', msg: 'ingest message failed', messageId: record.messageId, receiveCount, reason });
      }
      options.onMessageFailure?.(record.messageId, reason);
      batchItemFailures.push({ itemIdentifier: record.messageId });
    });
    flushMetrics(metrics);
    return { batchItemFailures };
  };
}

/** The keys every line about one object carries: its key, tenant and (when the event names its version) upload id. */
function objectKeys(ref: ObjectRef): Record<string, unknown> {
  const where = locateObject(ref.key);
  if (where.kind !== 'trace-file') return { objectKey: ref.key };
  const version = ref.versionId ?? ref.eTag?.replace(/"/g, '');
  return {
    objectKey: ref.key,
    organizationId: where.organizationId,
    projectId: where.projectId,
    ...(version
      ? { uploadId: uploadId({ organizationId: where.organizationId, projectId: where.projectId, objectKey: ref.key, version }) }
      : {}),
  };
}

/** Traces, bad lines, bytes, duration and lag (object creation to completion) of a completed upload. */
function recordIngest(outcome: IngestOutcome): void {
  if (outcome.status !== 'completed') return;
  const { upload, summary } = outcome;
  metrics.addMetric(METRIC.tracesIngested, MetricUnit.Count, summary.traces);
  metrics.addMetric(METRIC.badLines, MetricUnit.Count, summary.errorCount);
  metrics.addMetric(METRIC.bytesIngested, MetricUnit.Bytes, upload.size ?? 0);
  metrics.addMetric(METRIC.ingestDurationMs, MetricUnit.Milliseconds, summary.durationMs);
  const lag = Date.parse(summary.completedAt) - Date.parse(upload.createdAt);
  if (Number.isFinite(lag)) metrics.addMetric(METRIC.ingestLagMs, MetricUnit.Milliseconds, Math.max(0, lag));
}

async function processMessage(options: SqsIngestOptions, record: SQSRecord): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  const finalAttempt = receiveCount >= options.maxReceiveCount();
  // Objects of one message one after another: a failure fails the whole message, and the retry skips what completed.
  for (const ref of objectRefsOf(record.body)) {
    recordIngest(await withLogKeys(objectKeys(ref), () => ingestObject(options.deps(), ref, { finalAttempt })));
  }
}

export const handler = makeSqsIngestHandler({ deps: ingestDeps, maxReceiveCount: () => config().MAX_RECEIVE_COUNT });
