/**
 * What expires, and when (DynamoDB TTL, `expires_at` in epoch seconds). Traces do not: they go
 * through the retention sweep's delete path (retention.ts), which moves the counters that count
 * them. Items no counter counts carry a TTL instead (the README's Retention section lists them):
 *
 *   spans                         first stored + retention (their horizon)
 *   root spans (the root index's)  their horizon + ROOT_SPAN_BACKSTOP_DAYS, a backstop only: the retention
 *                                 sweep deletes them at their horizon with their log-root member and its counters
 *   evaluations                   created + retention + EXPIRY_GRACE_DAYS, a backstop only: the sweep deletes them
 *                                 with their trace (moving the evaluation counters) at the trace's horizon
 *   upload records, their id chunks, completion markers and filename-order items,
 *   object leases (latest upload)  the upload's creation + retention + EXPIRY_GRACE_DAYS
 *   span-stats hours               the hour + retention + EXPIRY_GRACE_DAYS
 *   jobs                          started + 30 days while they run, finished + JOB_KEEP_DAYS; export parts: started + 30 days
 *
 * Never by TTL: what the counters count (traces, their status and judge members, a root span's
 * log-root member in the get_trace_logs index, the counters),
 * tenancy, and the search indexer's pending work and lease (the indexer removes its work once done;
 * work that expired undone would leave a deleted trace in the index).
 *
 * The grace keeps what a trace's own reads or ingest checks rely on (its upload, the key's lease
 * history) until well after the sweep has deleted the trace. DynamoDB deletes an expired item
 * some time after its `expires_at` (within days), so reads treat an item past it as gone.
 */

export const TTL_DAY_SECONDS = 86_400;
/** Days past retention that upload state outlives its traces (a sweep that falls behind still finds them). */
export const EXPIRY_GRACE_DAYS = 7;
/**
 * Days a root span's TTL comes after its retention horizon: the sweep deletes it (and its member,
 * moving the root index's counters) at the horizon; DynamoDB's TTL would move no counter.
 */
export const ROOT_SPAN_BACKSTOP_DAYS = EXPIRY_GRACE_DAYS;
/** Days a finished job (and an export's download) is kept. */
export const JOB_KEEP_DAYS = 7;

/** Epoch seconds at which something that started at `fromMs` expires; undefined when retention is off. */
export function expiresAt(retentionDays: number | undefined, fromMs: number, graceDays = 0): number | undefined {
  if (retentionDays === undefined) return undefined;
  return Math.floor(fromMs / 1000) + (retentionDays + graceDays) * TTL_DAY_SECONDS;
}

/** An item whose `expires_at` has passed: gone for every read, whether or not DynamoDB has removed it yet. */
export function isExpired(value: unknown, nowMs = Date.now()): boolean {
  return typeof value === 'number' && value * 1000 <= nowMs;
}

/** The item with its `expires_at` when there is one. */
export function withExpiry<T extends Record<string, unknown>>(item: T, at: number | undefined): T & { expires_at?: number } {
  return at === undefined ? item : { ...item, expires_at: at };
}
