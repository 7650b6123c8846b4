/**
 * Every port of the domain, in one place: what the use cases are given to reach the outside world.
 * Adapters (functions/adapters) implement them on S3, DynamoDB, SQS and LanceDB; tests implement
 * them in memory; functions/shared/services.ts wires them and answers them as these interfaces.
 *
 * The ingest's ports are defined here; every other port is defined beside the use case it serves
 * and listed below, so this file names them all.
 */
import type { StoredTrace } from './trace.js';

export type { StoredTrace } from './trace.js';

// Tenants and keys (./tenancy.ts).
export type { TenantStore } from './tenancy.js';
// Traces: reading one and a list (./traces.ts), reading a range for exports (./jobs.ts).
export type { TraceReader } from './traces.js';
// Trace deletion (./trace-maintenance.ts) and retention (./retention.ts).
export type { EvaluationCleaner, PayloadRemover, TraceMaintenanceStore } from './trace-maintenance.js';
export type { ExpiredTraceFinder, ProjectDirectory } from './retention.js';
// Evaluations (./evaluations.ts).
export type { EvaluationStore } from './evaluations.js';
// Jobs: their items, queue and export files, and the ranges they read (./jobs.ts).
export type { ExportStorage, JobQueue, JobStore, SpanRangeStore, TraceRangeReader } from './jobs.js';
// Trace logs and experiments, the Parea capability (./parea/ports.ts, ./parea/experiments.ts).
export type { SpanSink, SpanStore, TraceLogRootIndex } from './parea/ports.js';
export type { ExperimentStore } from './parea/experiments.js';
// The charts' hourly numbers (./stats.ts).
export type { SpanStatsSink, StatsReader } from './stats.js';
// OTLP exports (./otel/ingest.ts).
export type { OtelTraceStore, PayloadStore } from './otel/ingest.js';
// Full-text search (./search/search-index.ts).
export type { SearchIndex, SearchSource, SearchWork } from './search/search-index.js';
// Presigned uploads (./uploads/presign-upload.ts).
export type { UploadUrlSigner } from './uploads/presign-upload.js';

// ---------------------------------------------------------------------------
// The ingest's ports
// ---------------------------------------------------------------------------

export interface ObjectRef {
  bucket: string;
  key: string;
  versionId?: string | undefined;
  eTag?: string | undefined;
  size?: number | undefined;
  /** When the object was created (ISO 8601), if the event says. */
  eventTime?: string | undefined;
}

export interface ObjectHead {
  size: number;
  eTag: string;
  versionId?: string | undefined;
  lastModified?: Date | undefined;
}

export interface OpenedObject {
  size: number;
  body: AsyncIterable<Uint8Array>;
}

export interface ObjectStorage {
  head(ref: ObjectRef): Promise<ObjectHead | null>;
  /** Opens exactly the version the ref names; 'gone' if it no longer exists or was replaced. */
  open(ref: ObjectRef & { eTag: string }): Promise<OpenedObject | 'gone'>;
  putPayload(key: string, body: string): Promise<void>;
}

export type UploadStatus = 'pending' | 'processing' | 'completed' | 'failed';

export interface LineError {
  line: number;
  message: string;
}

export interface UploadRecord {
  uploadId: string;
  organizationId: string;
  projectId: string;
  bucket: string;
  objectKey: string;
  filename: string;
  source: string;
  version: string;
  size: number | null;
  status: UploadStatus;
  createdAt: string;
  attempts: number;
  records: number;
  traces: number;
  newTraces: number;
  errorCount: number;
  errors: LineError[];
  idChunks: number;
  reason: string | null;
  lastError: string | null;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
}

/** What `UploadStore.ensureUpload` is told about an upload; the rest starts out as pending and empty. */
export type NewUpload = Omit<
  UploadRecord,
  | 'status'
  | 'attempts'
  | 'records'
  | 'traces'
  | 'newTraces'
  | 'errorCount'
  | 'errors'
  | 'idChunks'
  | 'reason'
  | 'lastError'
  | 'startedAt'
  | 'completedAt'
  | 'durationMs'
>;

/** The record of an upload just seen: pending, never attempted, nothing counted yet. */
export function newUploadRecord(u: NewUpload): UploadRecord {
  return {
    ...u,
    status: 'pending',
    attempts: 0,
    records: 0,
    traces: 0,
    newTraces: 0,
    errorCount: 0,
    errors: [],
    idChunks: 0,
    reason: null,
    lastError: null,
    startedAt: null,
    completedAt: null,
    durationMs: null,
  };
}

export interface UploadSummary {
  records: number;
  traces: number;
  newTraces: number;
  newBySource: Record<string, number>;
  errorCount: number;
  errors: LineError[];
  idChunks: number;
  startedAt: string;
  completedAt: string;
  durationMs: number;
}

/** How far an ingest in progress has read its file. */
export interface IngestProgress {
  /** Records read so far, good and bad. */
  records: number;
  traces: number;
  errorCount: number;
}

export type LeaseResult = { acquired: true; fresh: boolean } | { acquired: false; heldUntil: number };

export interface UploadStore {
  /** Creates the upload record as pending if it does not exist; answers the stored record either way. */
  ensureUpload(u: NewUpload): Promise<UploadRecord>;
  /** A terminal refusal (too big, wrong type, unknown tenant): nothing is ingested. */
  refuse(u: UploadRecord, reason: string): Promise<void>;
  /**
   * Takes the object key's lease. `fresh` is true when no ingest of this key
   * was ever started before, so none of its trace ids can exist yet.
   */
  acquireLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<LeaseResult>;
  renewLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  releaseLease(u: UploadRecord, owner: string): Promise<void>;
  markProcessing(u: UploadRecord, startedAt: string): Promise<void>;
  /** A failed attempt: back to pending with the reason, or failed for good when `final`. */
  recordFailure(u: UploadRecord, reason: string, final: boolean): Promise<void>;
  putIdChunk(u: UploadRecord, index: number, ids: string[]): Promise<void>;
  /** The counts so far of an upload being processed (a no-op once it is not processing any more). */
  recordProgress(u: UploadRecord, progress: IngestProgress): Promise<void>;
  /** Completes the upload and adds its new traces to the project's counters, exactly once, while `owner` holds the lease. */
  complete(u: UploadRecord, owner: string, summary: UploadSummary): Promise<'completed' | 'already-completed'>;
  getUpload(organizationId: string, projectId: string, uploadId: string): Promise<UploadRecord | null>;
  /** The ids of a completed upload's good traces, in file order (from its id chunks); at most `limit` when given. */
  traceIds(upload: UploadRecord, limit?: number): Promise<string[]>;
}

export interface TraceWriter {
  /** For each id that exists, the upload that wrote it. */
  owners(organizationId: string, projectId: string, ids: string[]): Promise<Map<string, string>>;
  /** Writes up to 25 traces with BatchWriteItem, retrying unprocessed items and throttling; throws if they still fail. */
  writeBatch(traces: StoredTrace[]): Promise<void>;
}

export interface TenantDirectory {
  projectExists(organizationId: string, projectId: string): Promise<boolean>;
}
