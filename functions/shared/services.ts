import { DynamoTenantStore } from '../adapters/dynamo/tenant-store.js';
import { DynamoTraceStore } from '../adapters/dynamo/trace-store.js';
import { S3PayloadReader } from '../adapters/s3/payload-reader.js';
import { DynamoTraceWriter } from '../adapters/dynamo/trace-writer.js';
import { DynamoUploadStore } from '../adapters/dynamo/upload-store.js';
import { S3ObjectStorage } from '../adapters/s3/object-storage.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient, dynamoClient, newDocumentClient } from '../adapters/clients.js';
import { functionsS3, presignS3 } from '../adapters/s3/lazy-sdk.js';
import type { IngestDeps } from '../domain/ingest/ingest-object.js';
import { config } from './config.js';
import { log } from './observability.js';
import { DynamoEvaluationStore } from '../adapters/dynamo/evaluation-store.js';
import { DynamoTraceMaintenance } from '../adapters/dynamo/trace-maintenance.js';
import type { EvaluationDeps } from '../domain/evaluations.js';
import type { TraceMaintenanceDeps } from '../domain/trace-maintenance.js';
import { S3UploadUrlSigner } from '../adapters/s3/presigner.js';
import type {
  EvaluationCleaner,
  EvaluationStore,
  SpanRangeStore,
  SpanStatsSink,
  SpanStore,
  StatsReader,
  TenantStore,
  TraceRangeReader,
  TraceReader,
  UploadStore,
} from '../domain/ports.js';
import type { CreateTracesDeps } from '../domain/uploads/create-traces.js';
import type { UploadUrlSigner } from '../domain/uploads/presign-upload.js';
import { DynamoSpanStore } from '../adapters/dynamo/span-store.js';
import { spanSink, type TraceLogDeps } from '../domain/parea/index.js';
import { DynamoExpiredTraceFinder } from '../adapters/dynamo/retention-store.js';
import type { RetentionDeps } from '../domain/retention.js';
import { DynamoStatsStore } from '../adapters/dynamo/stats-store.js';
import { DynamoOtelTraceStore } from '../adapters/dynamo/otel-trace-store.js';
import type { OtelIngestDeps } from '../domain/otel/ingest.js';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { JobDeps, JobQueue } from '../domain/jobs.js';
import { DynamoJobStore } from '../adapters/dynamo/job-store.js';
import { SqsJobQueue } from '../adapters/sqs/job-queue.js';
import { S3ExportStorage } from '../adapters/s3/export-storage.js';
import { DynamoExperimentStore } from '../adapters/dynamo/experiment-store.js';
import { DynamoTraceLogRoots } from '../adapters/dynamo/trace-log-roots.js';
import type { ExperimentDeps } from '../domain/parea/experiments.js';
import type { TraceLogListDeps } from '../domain/parea/index.js';

/**
 * The adapters the handlers use, wired from the environment once per module. Each is answered as
 * the port (the domain's interface) it is used through, never as its adapter class.
 */
let tenants: TenantStore | undefined;
let ingest: IngestDeps | undefined;

export function tenantStore(): TenantStore {
  tenants ??= new DynamoTenantStore(documentClient(), config().TABLE_NAME);
  return tenants;
}

export function ingestDeps(): IngestDeps {
  ingest ??= ingestDepsOn();
  return ingest;
}

/**
 * The ingest's adapters, wired as ingestDeps() wires them, with every DynamoDB call on the given
 * client (by default the functions' own); tests pass one whose endpoint is a fault-injecting proxy.
 */
export function ingestDepsOn(dynamo?: DynamoDBClient): IngestDeps {
  const c = config();
  const doc = dynamo ? newDocumentClient(dynamo) : documentClient();
  return {
    storage: new S3ObjectStorage(functionsS3, c.BUCKET_NAME),
    uploads: new DynamoUploadStore(doc, c.TABLE_NAME, { retentionDays: c.RETENTION_DAYS, searchWork: searchWork() }),
    traces: new DynamoTraceWriter(dynamo ?? dynamoClient(), c.TABLE_NAME),
    tenants: dynamo ? new DynamoTenantStore(doc, c.TABLE_NAME) : tenantStore(),
    writeConcurrency: c.INGEST_WRITE_CONCURRENCY,
    log,
    // Records with a string trace_id are also experiment trace log spans.
    spans: spanSink(
      dynamo ? { ...traceLogDeps(), store: new DynamoSpanStore(doc, c.TABLE_NAME, { retentionDays: c.RETENTION_DAYS }) } : traceLogDeps(),
    ),
  };
}

/**
 * With a full-text index (SEARCH_INDEX_URI), the writers record the indexer's work in their own
 * transactions (an upload's completion, a delete, an OTel trace's write); the index itself is
 * wired in search-services.ts, which only the functions that search or index import.
 */
export function searchWork(): boolean {
  return config().SEARCH_INDEX_URI !== undefined;
}

let traces: (TraceReader & TraceRangeReader) | undefined;

/** Reads traces (get and list), resolving offloaded documents from S3. */
export function traceStore(): TraceReader & TraceRangeReader {
  traces ??= new DynamoTraceStore(documentClient(), config().TABLE_NAME, new S3PayloadReader(functionsS3, config().BUCKET_NAME));
  return traces;
}

let evaluations: (EvaluationStore & EvaluationCleaner) | undefined;
let maintenance: TraceMaintenanceDeps | undefined;

function evaluationStore(): EvaluationStore & EvaluationCleaner {
  evaluations ??= new DynamoEvaluationStore(documentClient(), config().TABLE_NAME, { retentionDays: config().RETENTION_DAYS });
  return evaluations;
}

/** Trace evaluations: create (with the trace's summary, race-safe), get, list. */
export function evaluationDeps(): EvaluationDeps {
  return { store: evaluationStore() };
}

/** Trace deletion (counters, sources, evaluations, offloaded documents) and the project's sources. */
export function traceMaintenanceDeps(): TraceMaintenanceDeps {
  if (maintenance) return maintenance;
  const c = config();
  maintenance = {
    store: new DynamoTraceMaintenance(documentClient(), c.TABLE_NAME, { searchWork: searchWork() }),
    evaluations: evaluationStore(),
    payloads: new S3ObjectStorage(functionsS3, c.BUCKET_NAME),
    log,
  };
  return maintenance;
}

let signer: UploadUrlSigner | undefined;

/** Presigns upload URLs against the endpoint callers can reach (S3_PUBLIC_ENDPOINT, else the functions' own). */
export function uploadUrlSigner(): UploadUrlSigner {
  signer ??= new S3UploadUrlSigner(presignS3, config().BUCKET_NAME);
  return signer;
}

/** Upload records (the worker's own store): status, counts, errors, trace ids. */
export function uploadStore(): UploadStore {
  return ingestDeps().uploads;
}

/** Create-by-filename: the worker's ingest core, the bucket, and the time budget (CREATE_INGEST_BUDGET_MS). */
export function createTracesDeps(): CreateTracesDeps {
  const c = config();
  return { ingest: ingestDeps(), bucket: c.BUCKET_NAME, budgetMs: c.CREATE_INGEST_BUDGET_MS };
}

let traceLogs: TraceLogDeps | undefined;
let spans: DynamoSpanStore | undefined;

function dynamoSpans(): DynamoSpanStore {
  spans ??= new DynamoSpanStore(documentClient(), config().TABLE_NAME, { retentionDays: config().RETENTION_DAYS });
  return spans;
}

/** Spans in the table (trace logs, their exports and deletes), with their TTL. */
export function spanStore(): SpanStore & SpanRangeStore {
  return dynamoSpans();
}

/** Experiment trace logs (Parea wire format): spans in the table. */
export function traceLogDeps(): TraceLogDeps {
  traceLogs ??= {
    store: spanStore(),
    readBudgetMs: config().TRACE_LOGS_READ_BUDGET_MS,
    log,
    stats: statsStore(),
  };
  return traceLogs;
}

let stats: (StatsReader & SpanStatsSink) | undefined;

/** The project's numbers per hour: the hourly trace counters and the span stats (read and added to). */
export function statsStore(): StatsReader & SpanStatsSink {
  stats ??= new DynamoStatsStore(documentClient(), config().TABLE_NAME, { retentionDays: config().RETENTION_DAYS });
  return stats;
}

let retention: RetentionDeps | undefined;

/** The retention sweep: the projects, their expired traces and trace-log roots, and the delete use cases' own adapters. */
export function retentionDeps(): RetentionDeps {
  if (retention) return retention;
  const roots = new DynamoTraceLogRoots(documentClient(), config().TABLE_NAME);
  retention = {
    ...traceMaintenanceDeps(),
    projects: tenantStore(),
    expired: new DynamoExpiredTraceFinder(documentClient(), config().TABLE_NAME),
    roots: {
      retiring: (tenant, nowSeconds) => roots.retiring(tenant, nowSeconds),
      retireRoot: (tenant, root, nowSeconds) => dynamoSpans().retireRoot(tenant, root, nowSeconds),
    },
  };
  return retention;
}

let otlp: OtelIngestDeps | undefined;

/** OTLP trace exports: spans into the trace-log store, traces (and their counters) into the table, large documents into S3. */
export function otlpDeps(): OtelIngestDeps {
  if (otlp) return otlp;
  const c = config();
  otlp = {
    spans: traceLogDeps().store,
    spanStats: traceLogDeps().stats,
    traces: new DynamoOtelTraceStore(dynamoClient(), c.TABLE_NAME, new S3PayloadReader(functionsS3, c.BUCKET_NAME), {
      retentionDays: c.RETENTION_DAYS,
      searchWork: searchWork(),
    }),
    payloads: new S3ObjectStorage(functionsS3, c.BUCKET_NAME),
    log,
  };
  return otlp;
}

let jobQueueImpl: JobQueue | undefined;
let jobs: JobDeps | undefined;

/** Where job steps go: SQS (JOBS_QUEUE_URL) on AWS; the local stack hands in its own queue. */
export function useJobQueue(queue: JobQueue): void {
  jobQueueImpl = queue;
}

function jobQueue(): JobQueue {
  if (jobQueueImpl) return jobQueueImpl;
  const url = config().JOBS_QUEUE_URL;
  if (!url) throw new Error('JOBS_QUEUE_URL is not set: no queue to run jobs on');
  jobQueueImpl = new SqsJobQueue(new SQSClient({ region: config().AWS_REGION }), url);
  return jobQueueImpl;
}

/** Export and delete-by-filter jobs: their items, queue, S3 exports, the trace reader and the single delete's path. */
export function jobDeps(): JobDeps {
  if (jobs) return jobs;
  const c = config();
  const deps: JobDeps = {
    jobs: new DynamoJobStore(documentClient(), c.TABLE_NAME),
    queue: { send: (m) => jobQueue().send(m) },
    storage: new S3ExportStorage(functionsS3, c.BUCKET_NAME, presignS3),
    traces: traceStore(),
    spans: spanStore(),
    spanStats: statsStore(),
    maintenance: traceMaintenanceDeps(),
    stepBudgetMs: c.JOB_STEP_BUDGET_MS,
    partBytes: c.EXPORT_PART_BYTES,
    stallMs: c.JOB_STALL_MS,
    log,
  };
  jobs = deps;
  return deps;
}

let experiments: ExperimentDeps | undefined;

/** Parea experiments: their items and stats, and the spans their stats are computed from. */
export function experimentDeps(): ExperimentDeps {
  experiments ??= {
    experiments: new DynamoExperimentStore(documentClient(), config().TABLE_NAME),
    spans: traceLogDeps().store,
    statsBudgetMs: config().TRACE_LOGS_READ_BUDGET_MS,
  };
  return experiments;
}

let traceLogList: TraceLogListDeps | undefined;

/** get_trace_logs: the root index (members and counters) and the spans of the listed trees. */
export function traceLogListDeps(): TraceLogListDeps {
  traceLogList ??= { store: traceLogDeps().store, roots: new DynamoTraceLogRoots(documentClient(), config().TABLE_NAME) };
  return traceLogList;
}
