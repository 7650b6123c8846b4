/**
 * The functions' own metrics (CloudWatch embedded metric format, written by Powertools Metrics):
 * their namespace, service dimension and names. Plain data, so the CDK app's dashboard and alarms
 * name exactly what the functions emit without loading the functions.
 */
export const SERVICE_NAME = 'trace-ingest';
export const METRICS_NAMESPACE = 'TraceIngest';

export const METRIC = {
  /** Ingest worker, per completed upload (dimension service). */
  tracesIngested: 'TracesIngested',
  badLines: 'BadLines',
  bytesIngested: 'BytesIngested',
  /** From the worker starting the file to its completion. */
  ingestDurationMs: 'IngestDurationMs',
  /** From the object's creation (its S3 event time) to its completion. */
  ingestLagMs: 'IngestLagMs',
  /** DynamoDB calls throttled (and retried) during an invocation, any function. */
  throttledRetries: 'ThrottledRetries',
  /** HTTP answers by route (dimensions service, route): 4xx and 5xx. */
  clientErrors: 'ClientErrors',
  serverErrors: 'ServerErrors',
} as const;

/** The dimension HTTP metrics carry: the route's handler name (one function per handler). */
export const ROUTE_DIMENSION = 'route';
