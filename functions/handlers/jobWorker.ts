import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { flushMetrics, log, metricsFor, startInvocation, withLogKeys } from '../shared/observability.js';
import * as z from 'zod';
import { runJob, type JobDeps } from '../domain/jobs.js';
import { config } from '../shared/config.js';
import { searchJobDeps } from '../shared/search-aware-traces.js';

const metrics = metricsFor();

const Message = z.object({
  organizationId: z.string().min(1),
  projectId: z.string().min(1),
  jobId: z.string().min(1).max(64),
  step: z.number().int().min(0),
});

/**
 * The job queue's consumer: each message is one step of an export or a delete-by-filter job
 * (functions/domain/jobs.ts). A failed step fails its message, which the queue delivers again
 * (the step runs again from the job's committed state); on the last delivery the job is marked failed.
 */
export function makeJobWorker(options: { deps: () => JobDeps; maxReceiveCount: () => number }) {
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    startInvocation(context);
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      const parsed = Message.safeParse(safeJson(record.body));
      if (!parsed.success) {
        log({ level: 'error', msg: 'job message is not a job step; dropped', messageId: record.messageId });
        continue;
      }
      const finalAttempt = Number(record.attributes.ApproximateReceiveCount ?? '1') >= options.maxReceiveCount();
      const m = parsed.data;
      try {
        await withLogKeys({ jobId: m.jobId, step: m.step, organizationId: m.organizationId, projectId: m.projectId }, () =>
          runJob(options.deps(), m, { finalAttempt }),
        );
      } catch (err) {
        log({
          level: 'error',
          msg: 'job step failed; the queue delivers it again',
          jobId: m.jobId,
          reason: err instanceof Error ? err.message : String(err),
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    flushMetrics(metrics);
    return { batchItemFailures };
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

export const handler = makeJobWorker({ deps: searchJobDeps, maxReceiveCount: () => config().MAX_RECEIVE_COUNT });
