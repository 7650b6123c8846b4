import * as z from 'zod';
import * as DEFAULT from './env-defaults.js';

/**
 * The functions' environment, read once and validated. On AWS the stack sets
 * TABLE_NAME and BUCKET_NAME; the local stack also sets the endpoints and
 * path-style addressing for s3rver and DynamoDB Local. The defaults, and why
 * they are what they are, are in env-defaults.ts.
 */
const EnvSchema = z.object({
  TABLE_NAME: z.string().min(1),
  BUCKET_NAME: z.string().min(1),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  AUTHORIZER_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(DEFAULT.AUTHORIZER_CACHE_TTL_MS),
  TRACE_LOGS_READ_BUDGET_MS: z.coerce.number().int().min(100).max(25_000).default(DEFAULT.TRACE_LOGS_READ_BUDGET_MS),
  MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).default(DEFAULT.MAX_RECEIVE_COUNT),
  INGEST_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(DEFAULT.INGEST_WRITE_CONCURRENCY),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  /** The endpoint presigned URLs point at, when it differs from the one the functions use. */
  S3_PUBLIC_ENDPOINT: z.url().optional(),
  CREATE_INGEST_BUDGET_MS: z.coerce.number().int().min(100).max(25_000).default(DEFAULT.CREATE_INGEST_BUDGET_MS),
  /** Days a trace is kept (the retention sweep deletes older ones); absent: kept forever, the sweep does nothing. */
  RETENTION_DAYS: z.coerce.number().int().min(1).optional(),
  /** The job queue (export and delete-by-filter steps); the local stack sends to its own in-process queue instead. */
  JOBS_QUEUE_URL: z.string().min(1).optional(),
  JOB_STEP_BUDGET_MS: z.coerce.number().int().min(100).max(600_000).default(DEFAULT.JOB_STEP_BUDGET_MS),
  EXPORT_PART_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(512 * 1024 * 1024)
    .default(DEFAULT.EXPORT_PART_BYTES),
  JOB_STALL_MS: z.coerce.number().int().min(0).default(DEFAULT.JOB_STALL_MS),
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
