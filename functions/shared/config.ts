import * as z from 'zod';

/**
 * The functions' environment, read once and validated. On AWS the stack sets
 * TABLE_NAME and BUCKET_NAME; the local stack also sets the endpoints and
 * path-style addressing for s3rver and DynamoDB Local.
 */
const EnvSchema = z.object({
  TABLE_NAME: z.string().min(1),
  BUCKET_NAME: z.string().min(1),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** How long the authorizer keeps a resolved key (0: no cache; the local stack, so a revoked key is refused at once). */
  AUTHORIZER_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(60_000),
  /** How long the tree builder reads an experiment before it answers a page with X-Next-Cursor (its function times out at 29 s). */
  TRACE_LOGS_READ_BUDGET_MS: z.coerce.number().int().min(100).max(25_000).default(20_000),
  MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).default(5),
  INGEST_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  /** The endpoint presigned URLs point at, when it differs from the one the functions use. */
  S3_PUBLIC_ENDPOINT: z.url().optional(),
  /**
   * How long `POST .../traces` may ingest an upload itself (or wait for the worker ingesting it)
   * before it answers 202 "processing": keeps the answer inside API Gateway's 29 s.
   */
  CREATE_INGEST_BUDGET_MS: z.coerce.number().int().min(100).max(25_000).default(20_000),
  /** Days a trace is kept (the retention sweep deletes older ones); absent: kept forever, the sweep does nothing. */
  RETENTION_DAYS: z.coerce.number().int().min(1).optional(),
  /** The job queue (export and delete-by-filter steps); the local stack sends to its own in-process queue instead. */
  JOBS_QUEUE_URL: z.string().min(1).optional(),
  /** How long one job worker invocation runs steps before it hands the next one to the queue. */
  JOB_STEP_BUDGET_MS: z.coerce.number().int().min(100).max(600_000).default(120_000),
  /** An export part's size: S3 takes parts of at least 5 MiB (but the last); smaller only for tests on the local stack. */
  EXPORT_PART_BYTES: z.coerce.number().int().min(1024).max(512 * 1024 * 1024).default(8 * 1024 * 1024),
  /** A job that has not moved for this long, met by a stale message, gets its step's message again (longer than a step runs). */
  JOB_STALL_MS: z.coerce.number().int().min(0).default(25 * 60_000),
  /**
   * Where the full-text index lives: a directory (the local stack: DATA_DIR/search) or, on AWS,
   * `s3+ddb://<bucket>/search?ddbTableName=<commit table>`. Absent: traces are not indexed.
   */
  SEARCH_INDEX_URI: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export type Config = z.infer<typeof EnvSchema>;

let cached: Config | undefined;

export function config(): Config {
  if (cached) return cached;
  const parsed = EnvSchema.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`invalid function environment: ${z.prettifyError(parsed.error)}`);
  }
  cached = parsed.data;
  return cached;
}
