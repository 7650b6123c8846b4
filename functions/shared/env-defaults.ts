/**
 * The defaults of the functions' environment (functions/shared/config.ts validates it): the one owner
 * of these values and of their reasons. The CDK app (lib/stateless-stack.ts) passes them to the
 * functions and sizes the functions around them; the local stack's queue delivers like SQS with
 * MAX_RECEIVE_COUNT. Plain data, so the CDK app reads them without loading the functions.
 */

/**
 * How long a warm authorizer keeps a resolved key (functions/shared/api-key-auth.ts; API Gateway's own
 * authorizer cache is off, see the authorizer in lib/stateless-stack.ts): a revoked key is refused
 * within a minute. 0 turns the cache off (the local stack, so a revoked key is refused at once).
 */
export const AUTHORIZER_CACHE_TTL_MS = 60_000;

/**
 * How long the experiment routes read spans before they answer: the tree builder (GET trace logs)
 * then answers the trees read so far with X-Next-Cursor, the stats (finish, stats) answer too_large.
 * Their functions time out at API Gateway's 29 s: the rest is for building and sending the answer.
 */
export const TRACE_LOGS_READ_BUDGET_MS = 20_000;

/**
 * Deliveries of an ingest or job message before it moves to its dead-letter queue (the redrive
 * policy's maxReceiveCount); the worker reads it to spot a message's last attempt.
 */
export const MAX_RECEIVE_COUNT = 5;

/** Trace batch writes one ingest keeps in flight. */
export const INGEST_WRITE_CONCURRENCY = 8;

/**
 * How long `POST .../traces` may ingest an upload itself (or wait for the worker ingesting it) before
 * it answers 202 "processing": inside API Gateway's 29 s (the createTraces timeout), the rest for the answer.
 */
export const CREATE_INGEST_BUDGET_MS = 20_000;

/** How long one job worker invocation runs steps before it sends the next step's message (well inside its 5-minute timeout). */
export const JOB_STEP_BUDGET_MS = 120_000;

/** An export part's size: S3 takes parts of at least 5 MiB (but the last); smaller only for tests on the local stack. */
export const EXPORT_PART_BYTES = 8 * 1024 * 1024;

/**
 * A job that has not moved for this long, met by a redelivered message, gets its step's message again
 * (that message was lost): longer than a step runs (the worker's 5-minute timeout), shorter than the
 * job queue's visibility timeout (6 × that timeout), after which a crashed step is delivered again anyway.
 */
export const JOB_STALL_MS = 25 * 60_000;
