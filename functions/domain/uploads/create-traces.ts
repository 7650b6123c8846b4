import { setTimeout as sleep } from 'node:timers/promises';
import { traceId, uploadId as deriveUploadId } from '../ids.js';
import { ingestObject, LeaseBusyError, RetryableIngestError, type IngestDeps } from '../ingest/ingest-object.js';
import { parserFor } from '../parse/index.js';
import type { ObjectRef, UploadRecord, UploadStore } from '../ports.js';
import type { Tenant } from '../tenancy.js';
import { uploadObjectKey } from './upload-request.js';

/** How long create may ingest (or wait) before answering "processing", unless told otherwise. */
export const DEFAULT_CREATE_BUDGET_MS = 20_000;

/**
 * The most trace ids one answer lists. A 50 MiB file of tiny records holds
 * millions; 100,000 ids are about 3.9 MB of JSON, inside Lambda's 6 MB
 * response limit. Beyond it the answer says `trace_ids_truncated`.
 */
export const MAX_ANSWERED_IDS = 100_000;

export interface CreateTracesDeps {
  /** The worker's own ingest core and adapters: the same lease, ids and counters. */
  ingest: IngestDeps;
  bucket: string;
  /** After this long, an inline ingest is aborted (or waiting stops) and the answer is "processing". */
  budgetMs?: number;
  /** How often the upload record is read while another worker ingests the file. */
  pollMs?: number;
  /** How long an aborted inline attempt may take to end cleanly before the answer goes out anyway. */
  graceMs?: number;
  maxIds?: number;
  now?: () => number;
}

export type CreateTracesResult =
  | { status: 'completed'; upload: UploadRecord; traceIds: string[]; idsTruncated: boolean }
  | { status: 'no-valid-records'; upload: UploadRecord }
  | { status: 'failed'; upload: UploadRecord; reason: string }
  /** Still being ingested: `traceIds` are the ids its traces will have (computed without writing). */
  | { status: 'processing'; uploadId: string; traceIds: string[]; idsTruncated: boolean }
  | { status: 'not-found'; objectKey: string }
  /** The object was replaced or deleted while this call was working on it. */
  | { status: 'replaced'; objectKey: string };

const TIMED_OUT = Symbol('timed out');

/**
 * `POST .../traces {"filename"}`: the traces of the latest upload of that file
 * in the caller's project. A completed upload answers at once; one the queue
 * has not yet delivered is ingested right here with the worker's own core (a
 * worker that holds the object's lease is waited for instead). Past the
 * budget, the inline attempt is aborted (it releases its lease and the
 * queue's delivery finishes the job) and the answer is "processing", with
 * the ids the traces will have.
 */
export async function createTraces(deps: CreateTracesDeps, tenant: Tenant, filename: string): Promise<CreateTracesResult> {
  const now = deps.now ?? deps.ingest.now ?? Date.now;
  const deadline = now() + (deps.budgetMs ?? DEFAULT_CREATE_BUDGET_MS);
  const maxIds = deps.maxIds ?? MAX_ANSWERED_IDS;
  const uploads = deps.ingest.uploads;
  const log = deps.ingest.log ?? (() => {});
  const { organizationId, projectId } = tenant;

  const key = uploadObjectKey(tenant, filename);
  const head = await deps.ingest.storage.head({ bucket: deps.bucket, key });
  if (!head) return { status: 'not-found', objectKey: key };
  const eTag = head.eTag.replace(/"/g, '');
  // Exactly as the worker derives it, so both find the same upload record.
  const id = deriveUploadId({ organizationId, projectId, objectKey: key, version: head.versionId ?? eTag });
  const ref: ObjectRef & { eTag: string } = {
    bucket: deps.bucket,
    key,
    eTag,
    versionId: head.versionId,
    size: head.size,
    ...(head.lastModified ? { eventTime: head.lastModified.toISOString() } : {}),
  };
  const settledAnswer = (u: UploadRecord) => answerFor(uploads, u, maxIds);

  const known = await uploads.getUpload(organizationId, projectId, id);
  if (known && isSettled(known)) return settledAnswer(known);

  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), Math.max(0, deadline - now()));
  const signal = deps.ingest.signal ? AbortSignal.any([deps.ingest.signal, budget.signal]) : budget.signal;
  const ingest: IngestDeps = { ...deps.ingest, signal };
  try {
    for (;;) {
      try {
        const attempt = ingestObject(ingest, ref);
        attempt.catch(() => {}); // an attempt abandoned after the grace period must not surface as unhandled
        const outcome = await settleWithin(attempt, deadline + (deps.graceMs ?? 2_000) - now());
        if (outcome === TIMED_OUT) {
          log({ msg: 'create: inline ingest did not end within the grace period', uploadId: id, key });
          break;
        }
        if (outcome.status === 'ignored') return { status: 'replaced', objectKey: key };
        const upload = await uploads.getUpload(organizationId, projectId, id);
        if (upload && isSettled(upload)) return settledAnswer(upload);
        break; // cannot happen: a finished attempt leaves the upload completed or failed
      } catch (err) {
        if (!(err instanceof RetryableIngestError)) throw err;
        if (signal.aborted) {
          log({ msg: 'create: budget spent; the queue will finish the upload', uploadId: id, key });
          break;
        }
        if (!(err instanceof LeaseBusyError)) {
          // A failed attempt is back to pending with its reason; the queue's delivery retries it.
          log({ msg: 'create: inline ingest failed; the queue will retry', uploadId: id, key, error: err.message });
          break;
        }
        const upload = await waitForOtherWorker(uploads, tenant, id, deadline, deps.pollMs ?? 250, now);
        if (upload && isSettled(upload)) return settledAnswer(upload);
        if (now() >= deadline) break;
        // The other attempt ended without finishing (or its lease lapsed): try again here.
      }
    }
  } finally {
    clearTimeout(timer);
  }

  // Maybe it finished meanwhile (another worker, or the attempt just after the budget).
  const latest = await uploads.getUpload(organizationId, projectId, id);
  if (latest && isSettled(latest)) return settledAnswer(latest);
  const planned = await plannedTraceIds(deps.ingest, ref, tenant, filename, maxIds);
  if (planned === 'gone') return { status: 'replaced', objectKey: key };
  return { status: 'processing', uploadId: id, traceIds: planned.ids, idsTruncated: planned.truncated };
}

/** An upload as `GET .../uploads/{id}` shows it: the record, and its trace ids once completed. */
export async function readUpload(
  uploads: Pick<UploadStore, 'getUpload' | 'traceIds'>,
  tenant: Tenant,
  uploadId: string,
  maxIds = MAX_ANSWERED_IDS,
): Promise<{ upload: UploadRecord; traceIds: string[] | null; idsTruncated: boolean } | null> {
  const upload = await uploads.getUpload(tenant.organizationId, tenant.projectId, uploadId);
  if (!upload) return null;
  if (upload.status !== 'completed') return { upload, traceIds: null, idsTruncated: false };
  const traceIds = upload.traces > 0 ? await uploads.traceIds(upload, maxIds) : [];
  return { upload, traceIds, idsTruncated: upload.traces > traceIds.length };
}

function isSettled(u: UploadRecord): boolean {
  return u.status === 'completed' || u.status === 'failed';
}

async function answerFor(uploads: Pick<UploadStore, 'traceIds'>, upload: UploadRecord, maxIds: number): Promise<CreateTracesResult> {
  if (upload.status === 'failed') return { status: 'failed', upload, reason: upload.reason ?? upload.lastError ?? 'the upload failed' };
  if (upload.traces === 0) return { status: 'no-valid-records', upload };
  const traceIds = await uploads.traceIds(upload, maxIds);
  return { status: 'completed', upload, traceIds, idsTruncated: upload.traces > traceIds.length };
}

/** Reads the upload record until it settles, goes back to pending (the other attempt gave up), or the deadline passes. */
async function waitForOtherWorker(
  uploads: Pick<UploadStore, 'getUpload'>,
  tenant: Tenant,
  uploadId: string,
  deadline: number,
  pollMs: number,
  now: () => number,
): Promise<UploadRecord | null> {
  let upload: UploadRecord | null = null;
  while (now() < deadline) {
    await sleep(Math.min(pollMs, Math.max(0, deadline - now())));
    upload = await uploads.getUpload(tenant.organizationId, tenant.projectId, uploadId);
    if (upload?.status !== 'processing') return upload;
  }
  return upload;
}

/**
 * The ids the upload's traces will have, in file order, computed by parsing
 * alone (no writes): ids depend only on the object key, position and bytes.
 */
async function plannedTraceIds(
  deps: Pick<IngestDeps, 'storage'>,
  ref: ObjectRef & { eTag: string },
  tenant: Tenant,
  filename: string,
  maxIds: number,
): Promise<{ ids: string[]; truncated: boolean } | 'gone'> {
  const parse = parserFor(filename);
  if (!parse) return { ids: [], truncated: false };
  const opened = await deps.storage.open(ref);
  if (opened === 'gone') return 'gone';
  const ids: string[] = [];
  let truncated = false;
  try {
    outer: for await (const group of parse(opened.body)) {
      for (const ev of group) {
        if (ev.kind !== 'record') continue;
        if (ids.length === maxIds) {
          truncated = true;
          break outer;
        }
        ids.push(
          traceId({
            organizationId: tenant.organizationId,
            projectId: tenant.projectId,
            objectKey: ref.key,
            position: ev.position,
            raw: ev.raw,
          }),
        );
      }
    }
  } finally {
    (opened.body as { destroy?: () => void }).destroy?.();
  }
  return { ids, truncated };
}

async function settleWithin<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
