import type { Context } from 'aws-lambda';
import { sweepExpired, type SweepResult } from '../domain/retention.js';
import { config } from '../shared/config.js';
import { retentionDeps } from '../shared/services.js';

/** Time left to finish the delete in flight and log, when the run stops early (the next run continues). */
export const STOP_MARGIN_MS = 30_000;

/**
 * Scheduled by EventBridge (daily): deletes every trace created more than
 * RETENTION_DAYS ago, through the trace delete use case (counters, sources,
 * evaluations, offloaded documents). Without RETENTION_DAYS it does nothing.
 */
export async function handler(_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SweepResult> {
  const retentionDays = config().RETENTION_DAYS;
  const result = await sweepExpired(retentionDeps(), {
    retentionDays,
    now: new Date(),
    shouldStop: () => (context ? context.getRemainingTimeInMillis() < STOP_MARGIN_MS : false),
  });
  console.log(JSON.stringify({ level: 'info', msg: retentionDays === undefined ? 'retention sweep: no RETENTION_DAYS, traces are kept' : 'retention sweep', retentionDays: retentionDays ?? null, ...result }));
  return result;
}
