import { randomUUID } from 'node:crypto';
import { BATCH_WRITE_SIZE, ID_CHUNK_SIZE, MAX_FILE_BYTES, MAX_REPORTED_ERRORS } from '../limits.js';
import { locateObject } from '../object-key.js';
import { parserFor } from '../parse/index.js';
import type { ParseEvent } from '../parse/types.js';
import type {
  LineError,
  ObjectRef,
  ObjectStorage,
  StoredTrace,
  TenantDirectory,
  TraceWriter,
  UploadRecord,
  UploadStore,
  UploadSummary,
} from '../ports.js';
import { uploadId as deriveUploadId } from '../ids.js';
import { buildTrace, storedTrace, type TraceDraft, type UploadContext } from '../trace.js';
import type { Tenant } from '../tenancy.js';

/**
 * Where records that are experiment trace log spans (a string `trace_id`) also go, stored as if
 * posted: idempotent upserts (the same record again changes nothing). Throws only when the store
 * fails (the batch is retried like its traces); records that are not valid spans are skipped.
 */
export interface SpanRecorder {
  recordMany(tenant: Tenant, records: readonly Record<string, unknown>[], nowIso: string): Promise<void>;
}

export interface IngestDeps {
  storage: ObjectStorage;
  uploads: UploadStore;
  traces: TraceWriter;
  tenants: TenantDirectory;
  /** Optional: records with a string `trace_id` are also stored as experiment trace log spans. */
  spans?: SpanRecorder;
  /** BatchWriteItem calls in flight at once. */
  writeConcurrency?: number;
  leaseMs?: number;
  /**
   * Records the counts so far on the upload record at most this often while a file is read (default
   * PROGRESS_EVERY_MS): `GET .../uploads/{id}` shows them. One small write each time: modest on AWS.
   */
  progressEveryMs?: number;
  /** Aborts an attempt in flight (the local stack uses it to stop cleanly); the message stays to be redelivered. */
  signal?: AbortSignal;
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
}

export type IngestOutcome =
  | { status: 'completed'; upload: UploadRecord; summary: UploadSummary }
  | { status: 'already-done'; upload: UploadRecord }
  | { status: 'refused'; upload: UploadRecord | null; reason: string }
  | { status: 'ignored'; reason: string };

/** An attempt that may succeed later: the message must be retried. */
export class RetryableIngestError extends Error {
  override name = 'RetryableIngestError';
}

/** Another worker holds the object's lease: retry later, or wait for it. */
export class LeaseBusyError extends RetryableIngestError {
  override name = 'LeaseBusyError';
}

/** The worker was told to stop (IngestDeps.signal): the attempt ended cleanly, its lease released, for a later delivery. */
export class IngestStoppedError extends RetryableIngestError {
  override name = 'IngestStoppedError';
}

/** How often, at most, an ingest in progress records its counts so far (one UpdateItem each). */
export const PROGRESS_EVERY_MS = 3_000;

export interface IngestOptions {
  /** When true and this attempt fails, the upload is marked failed for good. */
  finalAttempt?: boolean;
}

/**
 * Ingests one object: every good record becomes a trace, every bad record a
 * line in the report. Safe to call any number of times for the same object,
 * concurrently too: trace ids are deterministic, a per-key lease admits one
 * worker at a time, and counters move once per upload.
 */
export async function ingestObject(deps: IngestDeps, ref: ObjectRef, options: IngestOptions = {}): Promise<IngestOutcome> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  const location = locateObject(ref.key);
  if (location.kind === 'ignored') {
    log({ msg: 'object ignored', key: ref.key, reason: location.reason });
    return { status: 'ignored', reason: location.reason };
  }
  const { organizationId, projectId, filename, defaultSource } = location;

  let eTag = ref.eTag ? stripQuotes(ref.eTag) : undefined;
  let versionId = ref.versionId;
  let size = ref.size;
  if (eTag === undefined) {
    const head = await deps.storage.head(ref);
    if (!head) return { status: 'ignored', reason: `object ${ref.key} no longer exists` };
    eTag = stripQuotes(head.eTag);
    versionId ??= head.versionId;
    size ??= head.size;
  }
  const version = versionId ?? eTag;
  const upload = await deps.uploads.ensureUpload({
    uploadId: deriveUploadId({ organizationId, projectId, objectKey: ref.key, version }),
    organizationId,
    projectId,
    bucket: ref.bucket,
    objectKey: ref.key,
    filename,
    source: defaultSource,
    version,
    size: size ?? null,
    // One ISO form (with milliseconds) for every trace: list sort keys and time ranges compare it as text.
    createdAt: isoOrNull(ref.eventTime) ?? new Date(now()).toISOString(),
  });
  if (upload.status === 'completed' || upload.status === 'failed') return { status: 'already-done', upload };

  const refusal = await refusalReason(deps, upload, filename, size);
  if (refusal !== null) {
    await deps.uploads.refuse(upload, refusal);
    log({ msg: 'upload refused', uploadId: upload.uploadId, key: ref.key, reason: refusal });
    return { status: 'refused', upload, reason: refusal };
  }

  const owner = randomUUID();
  const leaseMs = deps.leaseMs ?? 60_000;
  const lease = await deps.uploads.acquireLease(upload, owner, now(), leaseMs);
  if (!lease.acquired) {
    throw new LeaseBusyError(
      `${ref.key} is being ingested by another worker (lease held until ${new Date(lease.heldUntil).toISOString()})`,
    );
  }
  const heartbeat = startHeartbeat(deps, upload, owner, leaseMs, now);
  let body: { destroy?: () => void } | undefined;
  try {
    const startedAt = now();
    await deps.uploads.markProcessing(upload, new Date(startedAt).toISOString());
    const opened = await deps.storage.open({ ...ref, eTag, versionId });
    if (opened !== 'gone') body = opened.body as { destroy?: () => void };
    if (opened === 'gone') {
      const reason = 'the object was deleted or replaced before it could be read';
      await deps.uploads.refuse(upload, reason);
      return { status: 'refused', upload, reason };
    }
    if (opened.size > MAX_FILE_BYTES) {
      const reason = tooBig(opened.size);
      await deps.uploads.refuse(upload, reason);
      return { status: 'refused', upload, reason };
    }
    const ctx: UploadContext = {
      organizationId,
      projectId,
      objectKey: ref.key,
      filename,
      defaultSource,
      createdAt: upload.createdAt,
      uploadId: upload.uploadId,
    };
    const parse = parserFor(filename)!;
    const counted = await writeAll(deps, upload, ctx, parse(opened.body), lease.fresh, heartbeat);
    const completedAt = now();
    const summary: UploadSummary = {
      ...counted,
      startedAt: new Date(startedAt).toISOString(),
      completedAt: new Date(completedAt).toISOString(),
      durationMs: completedAt - startedAt,
    };
    heartbeat.check();
    const result = await deps.uploads.complete(upload, owner, summary);
    log({ msg: 'upload ingested', uploadId: upload.uploadId, key: ref.key, ...countsOf(summary), result });
    return { status: 'completed', upload, summary };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    // A stop is no verdict on the file, even on the last delivery.
    await deps.uploads.recordFailure(upload, reason, options.finalAttempt === true && !(err instanceof IngestStoppedError)).catch(() => {});
    throw err instanceof RetryableIngestError ? err : new RetryableIngestError(reason, { cause: err });
  } finally {
    body?.destroy?.(); // no-op once fully read; frees the connection otherwise
    heartbeat.stop();
    await deps.uploads.releaseLease(upload, owner).catch(() => {});
  }
}

async function refusalReason(deps: IngestDeps, upload: UploadRecord, filename: string, size: number | undefined): Promise<string | null> {
  if (parserFor(filename) === null) return `unsupported file type: ${JSON.stringify(filename)} must end in .json or .jsonl`;
  if (size !== undefined && size > MAX_FILE_BYTES) return tooBig(size);
  if (!(await deps.tenants.projectExists(upload.organizationId, upload.projectId))) {
    return `unknown organization or project: ${upload.organizationId}/${upload.projectId}`;
  }
  return null;
}

function tooBig(size: number): string {
  return `file is ${size} bytes; the limit is ${MAX_FILE_BYTES} bytes (50 MiB)`;
}

function isoOrNull(value: string | undefined): string | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function stripQuotes(eTag: string): string {
  return eTag.replace(/"/g, '');
}

function countsOf(s: UploadSummary) {
  return { records: s.records, traces: s.traces, newTraces: s.newTraces, errors: s.errorCount, durationMs: s.durationMs };
}

interface Heartbeat {
  stop(): void;
  /** Throws if the lease was lost: another worker may own the key now. */
  check(): void;
}

function startHeartbeat(deps: IngestDeps, upload: UploadRecord, owner: string, leaseMs: number, now: () => number): Heartbeat {
  let lost: string | null = null;
  const timer = setInterval(
    () => {
      deps.uploads
        .renewLease(upload, owner, now(), leaseMs)
        .then((ok) => {
          if (!ok) lost = 'lost the lease on the object';
        })
        .catch((e: unknown) => {
          // A failed renewal is not yet a lost lease; the next one may work.
          deps.log?.({ msg: 'lease renewal failed', uploadId: upload.uploadId, error: String(e) });
        });
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    check: () => {
      if (lost !== null) throw new RetryableIngestError(lost);
      if (deps.signal?.aborted) throw new IngestStoppedError('the worker is stopping; the file will be ingested on redelivery');
    },
  };
}

type Counted = Omit<UploadSummary, 'startedAt' | 'completedAt' | 'durationMs'>;

/**
 * Parses the stream, writes traces in batches of 25 with bounded
 * concurrency, keeps the first errors, and records the ids in chunks.
 */
async function writeAll(
  deps: IngestDeps,
  upload: UploadRecord,
  ctx: UploadContext,
  events: AsyncIterable<ParseEvent[]>,
  fresh: boolean,
  heartbeat: Heartbeat,
): Promise<Counted> {
  const concurrency = deps.writeConcurrency ?? 8;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  const counted: Counted = { records: 0, traces: 0, newTraces: 0, newBySource: {}, errorCount: 0, errors: [], idChunks: 0 };
  let batch: TraceDraft[] = [];
  let spans: Record<string, unknown>[] = [];
  let chunk: string[] = [];

  const submit = async (work: () => Promise<void>) => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== null) throw failure;
    heartbeat.check();
    const p: Promise<void> = work()
      .catch((e: unknown) => {
        failure ??= e;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const flushBatch = async () => {
    if (batch.length === 0) return;
    const traces = batch;
    const batchSpans = spans;
    batch = [];
    spans = [];
    await submit(async () => {
      const written = await writeBatch(deps, ctx, traces, fresh, batchSpans);
      for (const t of written) {
        counted.newTraces++;
        counted.newBySource[t.source] = (counted.newBySource[t.source] ?? 0) + 1;
      }
    });
  };
  const flushChunk = async () => {
    if (chunk.length === 0) return;
    const ids = chunk;
    const index = counted.idChunks++;
    chunk = [];
    await submit(() => deps.uploads.putIdChunk(upload, index, ids));
  };

  const now = deps.now ?? Date.now;
  const progressEvery = deps.progressEveryMs ?? PROGRESS_EVERY_MS;
  let progressAt = now();
  /** Best effort: a failed progress write is no reason to fail the file. */
  const recordProgress = async () => {
    progressAt = now();
    await deps.uploads
      .recordProgress(upload, { records: counted.records, traces: counted.traces, errorCount: counted.errorCount })
      .catch((e: unknown) => deps.log?.({ msg: 'progress write failed', uploadId: upload.uploadId, error: String(e) }));
  };

  const readAll = async () => {
    for await (const group of events) {
      for (const ev of group) {
        counted.records++;
        if (ev.kind === 'error') {
          counted.errorCount++;
          if (counted.errors.length < MAX_REPORTED_ERRORS)
            counted.errors.push({ line: ev.position, message: ev.message } satisfies LineError);
          continue;
        }
        const trace = buildTrace(ctx, ev);
        counted.traces++;
        batch.push(trace);
        if (deps.spans && typeof ev.value.trace_id === 'string') spans.push(ev.value);
        chunk.push(trace.id);
        if (batch.length === BATCH_WRITE_SIZE) {
          // Before a batch waits for a free write slot: the counts so far, now and then.
          if (now() - progressAt >= progressEvery) await recordProgress();
          await flushBatch();
        }
        if (chunk.length === ID_CHUNK_SIZE) await flushChunk();
      }
    }
    await flushBatch();
    await flushChunk();
  };

  try {
    await readAll();
  } finally {
    // However the attempt ends, none of its writes may land after it (the lease is released next).
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }
  if (failure !== null) throw failure;
  return counted;
}

/**
 * Writes one batch; answers the traces this upload owns (new ones, and ones
 * an earlier attempt of this same upload already wrote). A trace that exists
 * already is never written again: one of this upload's is identical (its id
 * and item derive from the same bytes) and may carry evaluations since; one
 * of another upload (a re-upload of identical content) is not ours to count.
 */
async function writeBatch(
  deps: IngestDeps,
  ctx: UploadContext,
  drafts: TraceDraft[],
  fresh: boolean,
  spans: readonly Record<string, unknown>[] = [],
): Promise<TraceDraft[]> {
  // Spans first and on every attempt (their upserts are idempotent): a retry after a crash between
  // the two writes finds the traces there, yet still completes the spans.
  if (deps.spans && spans.length > 0) {
    await deps.spans.recordMany({ organizationId: ctx.organizationId, projectId: ctx.projectId }, spans, ctx.createdAt);
  }
  let mine = drafts;
  let missing = drafts;
  if (!fresh) {
    const owners = await deps.traces.owners(
      ctx.organizationId,
      ctx.projectId,
      drafts.map((t) => t.id),
    );
    mine = drafts.filter((t) => {
      const owner = owners.get(t.id);
      return owner === undefined || owner === ctx.uploadId;
    });
    missing = drafts.filter((t) => !owners.has(t.id));
  }
  if (missing.length === 0) return mine;
  const stored: StoredTrace[] = await Promise.all(
    missing.map(async (t) => {
      const { stored: s, payload } = storedTrace(t);
      if (payload !== null) await deps.storage.putPayload(payload.key, payload.body);
      return s;
    }),
  );
  await deps.traces.writeBatch(stored);
  return mine;
}
