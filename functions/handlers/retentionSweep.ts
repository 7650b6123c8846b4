import type { Context } from 'aws-lambda';
import { sweepExpired, type SweepResult } from '../domain/retention.js';
import { config } from '../shared/config.js';
import { retentionDeps } from '../shared/services.js';
import { flushMetrics, log, metricsFor, startInvocation } from '../shared/observability.js';

const metrics = metricsFor();

/** Time left to finish the delete in flight and log, when the run stops early (the next run continues). */
export const STOP_MARGIN_MS = 30_000;

/**
 * Scheduled by EventBridge (hourly): deletes every trace created more than
 * RETENTION_DAYS ago, through the trace delete use case (counters, sources,
 * evaluations, offloaded documents). Without RETENTION_DAYS it does nothing.
 */
export async function handler(_event: unknown, context?: Context): Promise<SweepResult> {
  startInvocation(context);
  const retentionDays = config().RETENTION_DAYS;
  const result = await sweepExpired(retentionDeps(), {
    retentionDays,
    now: new Date(),
    shouldStop: () => (context ? context.getRemainingTimeInMillis() < STOP_MARGIN_MS : false),
  });
  log({
    msg: retentionDays === undefined ? 'retention sweep: no RETENTION_DAYS, traces are kept' : 'retention sweep',
    retentionDays: retentionDays ?? null,
    ...result,
  });
  flushMetrics(metrics);
  return result;
}
