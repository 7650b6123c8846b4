/**
 * Export and delete by filter, as jobs that survive a crash: a job item (its step, where the next
 * step reads from, its counts) and one queue message per step. A step reads a bounded slice of the
 * range, does its work, and commits the job's next state conditionally on the step it read, so a
 * message delivered twice (or a step run again after a crash) is done once: a loser's commit fails
 * and it stops. What a step writes before its commit is idempotent (an export part of the same
 * number replaces the one before; deleting a trace twice deletes it once).
 *
 * - Export: the matching traces (or an experiment's spans) as JSON Lines, one S3 multipart upload
 *   (`exports/<org>/<project>/<job>.jsonl`); a part is recorded with the commit that moves past it,
 *   in one transaction, so every trace is in exactly one part. Parts but the last must be at least
 *   5 MiB on S3: a step that runs out of time with less keeps what it read as a carry object that
 *   the next step starts from.
 * - Delete: each step first records the ids it will delete (`pending`), then deletes them through
 *   the single delete's path (trace-maintenance.ts: evaluations, offloaded document, exact
 *   counters, sources, status and judge members; for spans, the span and its stats), then commits
 *   the count. A step run again after a crash deletes its recorded ids again (a no-op for those
 *   already gone) and counts each once.
 *
 * The range is anchored when the job starts: traces created after `anchor` are not in it, the
 * time range's start is fixed then, and the position only moves forward (by the list index's
 * order key), so every trace that matched when it started is taken exactly once while new ones
 * arrive. Spans are read in the experiment index's order (by tree, then span); spans stored after
 * the job passed their place are not in it.
 *
 * No AWS types here: the ports are implemented in functions/adapters.
 */
import { randomUUID } from 'node:crypto';
import { expiresAt, JOB_KEEP_DAYS } from './expiry.js';
import { EXPORTS_PREFIX } from './layout.js';
import { recordSpanChange, type SpanStatsSink } from './stats.js';
import type { Tenant } from './tenancy.js';
import { deleteTrace, type TraceMaintenanceDeps } from './trace-maintenance.js';
import { traceJson, type EvalStatus, type ListQuery, type TraceReader, type TraceView } from './traces.js';

// ---------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------

/** The list's filters (its `time_range` already turned into `since`). */
export interface TraceFilters {
  source?: string | undefined;
  judgeId?: string | undefined;
  status?: EvalStatus | undefined;
  since?: string | undefined;
  search?: string | undefined;
}

export type JobTarget =
  | { kind: 'traces'; filters: TraceFilters; timeRange?: string | undefined }
  | { kind: 'spans'; experimentUuid: string };
export type JobAction = 'export' | 'delete';
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface Job {
  id: string;
  organizationId: string;
  projectId: string;
  action: JobAction;
  target: JobTarget;
  status: JobStatus;
  /** When the job started (ISO 8601): traces created after it are not in its range. */
  anchor: string;
  /** Steps committed so far; a message names the step it is for. */
  step: number;
  /** Where the next read starts (the index position of the last item taken); null: the start. */
  position: string | null;
  /** The whole range has been read. */
  done: boolean;
  /** How many matched when the job started (null: not counted); a lower bound when not exact. */
  total: number | null;
  totalExact: boolean;
  /** Traces (or spans) exported or deleted so far. */
  processed: number;
  /** Export: bytes in the parts so far, and how many parts. */
  bytes: number;
  parts: number;
  /** Export: the S3 multipart upload. */
  uploadId: string | null;
  /** Export: what a step read but did not put in a part (under 5 MiB when it ran out of time). */
  carry: { key: string; bytes: number; count: number } | null;
  /** Delete: the ids the step in progress deletes, and where the range goes on after them. */
  pending: { ids: string[]; next: string | null; done: boolean } | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** Epoch seconds (DynamoDB TTL): 30 days after it starts, JOB_KEEP_DAYS after it ends. */
  expiresAt?: number;
}

export interface JobMessage {
  organizationId: string;
  projectId: string;
  jobId: string;
  step: number;
}

export interface ExportPart {
  number: number;
  etag: string;
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

export interface JobStore {
  create(job: Job): Promise<void>;
  get(tenant: Tenant, jobId: string): Promise<Job | null>;
  /**
   * Writes `next` if the stored job is still at `expectedStep` (with an export part's record, in
   * the same transaction, when given). False: another run of this step committed first.
   */
  commit(next: Job, expectedStep: number, part?: ExportPart): Promise<boolean>;
  /** An export's recorded parts, by number. */
  parts(job: Job): Promise<ExportPart[]>;
}

export interface JobQueue {
  send(message: JobMessage): Promise<void>;
}

/** Where exports go (S3): one multipart upload per export, small carry objects between steps, a download URL. */
export interface ExportStorage {
  createUpload(key: string): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  /** Completes the upload; completing one already completed (the object exists) is not an error. */
  completeUpload(key: string, uploadId: string, parts: readonly ExportPart[]): Promise<void>;
  putObject(key: string, body: Buffer): Promise<void>;
  getObject(key: string): Promise<Buffer>;
  downloadUrl(key: string, filename: string, expiresInSeconds: number): Promise<string>;
}

/** One item of a range read: the trace's id, its place in the index, and its view when documents were asked for. */
export interface RangeItem {
  id: string;
  position: string;
  view?: TraceView;
}

export interface RangePage {
  items: RangeItem[];
  /** Where the next read starts (past entries read that did not match, too). */
  position: string | null;
  /** Nothing matches after `position`. */
  done: boolean;
}

export interface RangeQuery {
  filters: TraceFilters;
  /** Exclusive: the position of the last item taken; null: the start of the range. */
  after: string | null;
  /** Inclusive: traces created at or before this instant (ISO 8601). */
  until: string;
  limit: number;
  /** Date.now() ms: filtered reading stops here and answers what it found, with the position it reached. */
  deadline: number;
  /** Read the views (documents) too, or only the ids. */
  documents: boolean;
}

/** The traces matching the list's filters in creation order, by index position (functions/adapters/dynamo/trace-store.ts). */
export interface TraceRangeReader {
  range(tenant: Tenant, q: RangeQuery): Promise<RangePage>;
}

export interface SpanRangeItem {
  position: string;
  traceId: string;
  /** The materialized span (JSON text). */
  doc: string;
}

export interface SpanRangeStore {
  /** An experiment's spans in the index's order (by tree, then span) after `after`, read lazily. */
  experimentRange(tenant: Tenant, experimentUuid: string, after: string | null): AsyncIterable<SpanRangeItem>;
  /** Deletes a span; answers its materialized doc (null: it was gone, or never posted). */
  deleteSpan(tenant: Tenant, traceId: string): Promise<string | null>;
  /** How many spans the experiment lists, counted until `deadline` (then a lower bound). */
  countExperiment(tenant: Tenant, experimentUuid: string, deadline: number): Promise<{ count: number; exact: boolean }>;
}

export interface JobDeps {
  jobs: JobStore;
  queue: JobQueue;
  storage: ExportStorage;
  traces: TraceReader & TraceRangeReader;
  spans: SpanRangeStore;
  spanStats?: SpanStatsSink | undefined;
  maintenance: TraceMaintenanceDeps;
  /** How long one invocation works before it hands the next step to the queue (ms). */
  stepBudgetMs: number;
  /** An export part's size (S3: at least 5 MiB, but the last). */
  partBytes: number;
  /** A stale message finds its job not moved for this long: the step's own message was lost, it is sent again (ms). */
  stallMs: number;
  /** Deletes in flight at once within a step. */
  deleteConcurrency?: number;
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
  /** Tests: called where a crash would leave a step half-way; a throw there is the crash. */
  fault?: (point: FaultPoint, job: Job) => void | Promise<void>;
}

export type FaultPoint = 'export-read' | 'export-part' | 'delete-pending' | 'delete-half' | 'committed';

// ---------------------------------------------------------------------------
// Starting and reading a job
// ---------------------------------------------------------------------------

/** A job may run this long before its item expires unfinished. */
const MAX_JOB_DAYS = 30;
/** Traces (or span ids) a delete step takes; their ids are kept in the job item while it works (≤ 64 KB). */
const DELETE_STEP_ITEMS = 250;
/** Traces read per range call while an export gathers a part (a page of large documents stays in memory). */
const EXPORT_READ_ITEMS = 25;
/** A download URL stays valid this long (signed again at every GET). */
export const DOWNLOAD_URL_SECONDS = 3600;

export function exportKey(job: Pick<Job, 'organizationId' | 'projectId' | 'id'>): string {
  return `${EXPORTS_PREFIX}${job.organizationId}/${job.projectId}/${job.id}.jsonl`;
}

export async function startJob(
  deps: Pick<JobDeps, 'jobs' | 'queue' | 'now'>,
  tenant: Tenant,
  action: JobAction,
  target: JobTarget,
): Promise<Job> {
  const now = deps.now?.() ?? Date.now();
  const iso = new Date(now).toISOString();
  const job: Job = {
    id: randomUUID(),
    ...tenant,
    action,
    target,
    status: 'queued',
    anchor: iso,
    step: 0,
    position: null,
    done: false,
    total: null,
    totalExact: false,
    processed: 0,
    bytes: 0,
    parts: 0,
    uploadId: null,
    carry: null,
    pending: null,
    error: null,
    createdAt: iso,
    updatedAt: iso,
    completedAt: null,
    expiresAt: expiresAt(MAX_JOB_DAYS, now),
  };
  await deps.jobs.create(job);
  await deps.queue.send({ ...tenant, jobId: job.id, step: 0 });
  return job;
}

/** The job as the API answers it (`GET .../exports/{id}`, `GET .../deletions/{id}`), with a fresh download URL once an export is complete. */
export async function jobAnswer(deps: Pick<JobDeps, 'storage'>, job: Job, base: string): Promise<Record<string, unknown>> {
  const t = job.target;
  const answer: Record<string, unknown> = {
    id: job.id,
    type: job.action === 'export' ? 'export' : 'deletion',
    status: job.status,
    target: t.kind,
    ...(t.kind === 'traces'
      ? {
          filters: {
            source: t.filters.source ?? null,
            judge_id: t.filters.judgeId ?? null,
            status: t.filters.status ?? null,
            time_range: t.timeRange ?? null,
            search: t.filters.search ?? null,
          },
        }
      : { experiment_uuid: t.experimentUuid }),
    total: job.total,
    total_exact: job.totalExact,
    [job.action === 'export' ? 'exported' : 'deleted']: job.processed,
    ...(job.action === 'export' ? { bytes: job.bytes } : {}),
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    completed_at: job.completedAt,
    range_until: job.anchor,
    error: job.error,
    poll: `${base}/${job.action === 'export' ? 'exports' : 'deletions'}/${job.id}`,
  };
  if (job.action === 'export' && job.status === 'completed') {
    answer.download_url = await deps.storage.downloadUrl(exportKey(job), `${job.target.kind}-${job.id}.jsonl`, DOWNLOAD_URL_SECONDS);
    answer.download_expires_at = new Date(Date.now() + DOWNLOAD_URL_SECONDS * 1000).toISOString();
  }
  return answer;
}

// ---------------------------------------------------------------------------
// Running a job
// ---------------------------------------------------------------------------

const terminal = (j: Job) => j.status === 'completed' || j.status === 'failed';

/**
 * Handles one queue message: runs the job's steps from the one the message names, for as long as
 * the step budget lasts, then sends the next step's message. A message whose step was already
 * committed is a duplicate (or a redelivery after a crash past the commit): it is dropped, unless
 * the job has not moved for `stallMs`, which means the next step's message was never sent.
 * Throws when a step fails (the queue delivers the message again); `finalAttempt` marks it failed.
 */
export async function runJob(deps: JobDeps, message: JobMessage, options: { finalAttempt?: boolean } = {}): Promise<Job | null> {
  const now = () => deps.now?.() ?? Date.now();
  const tenant: Tenant = { organizationId: message.organizationId, projectId: message.projectId };
  const deadline = now() + deps.stepBudgetMs;
  let step = message.step;
  for (;;) {
    const job = await deps.jobs.get(tenant, message.jobId);
    if (job === null || terminal(job)) return job;
    if (job.step !== step) {
      if (job.step > step && now() - Date.parse(job.updatedAt) >= deps.stallMs) {
        deps.log?.({ level: 'warn', msg: 'job stalled: sending its step again', jobId: job.id, step: job.step });
        await deps.queue.send({ ...tenant, jobId: job.id, step: job.step });
      }
      return job;
    }
    let next: Job | null;
    try {
      next = await runStep(deps, job, deadline);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      deps.log?.({ level: 'error', msg: 'job step failed', jobId: job.id, step: job.step, reason, final: options.finalAttempt === true });
      if (options.finalAttempt) {
        await deps.jobs.commit({ ...job, status: 'failed', error: reason, ...finished(now()) }, job.step);
        return null;
      }
      throw err;
    }
    if (next === null) return null; // another run committed this step first: it goes on from there
    await deps.fault?.('committed', next);
    if (terminal(next)) {
      deps.log?.({ msg: `job ${next.status}`, jobId: next.id, action: next.action, processed: next.processed, bytes: next.bytes });
      return next;
    }
    if (now() > deadline) {
      await deps.queue.send({ ...tenant, jobId: next.id, step: next.step });
      return next;
    }
    step = next.step;
  }
}

function finished(nowMs: number): Pick<Job, 'completedAt' | 'updatedAt' | 'expiresAt'> {
  const iso = new Date(nowMs).toISOString();
  return { completedAt: iso, updatedAt: iso, expiresAt: expiresAt(JOB_KEEP_DAYS, nowMs) };
}

/** One step: the job's next state, committed; null when another run committed it first. */
async function runStep(deps: JobDeps, job: Job, deadline: number): Promise<Job | null> {
  const nowMs = deps.now?.() ?? Date.now();
  const touched = { step: job.step + 1, updatedAt: new Date(nowMs).toISOString() };
  if (job.step === 0) {
    const counted = await countMatches(deps, job, Math.min(deadline, nowMs + 2_000));
    const uploadId = job.action === 'export' ? await deps.storage.createUpload(exportKey(job)) : null;
    return commit(deps, { ...job, ...touched, status: 'running', total: counted.count, totalExact: counted.exact, uploadId });
  }
  if (job.done) return finish(deps, job, touched);
  return job.action === 'export' ? exportStep(deps, job, deadline, touched) : deleteStep(deps, job, deadline, touched);
}

async function commit(deps: JobDeps, next: Job, part?: ExportPart): Promise<Job | null> {
  return (await deps.jobs.commit(next, next.step - 1, part)) ? next : null;
}

async function countMatches(deps: JobDeps, job: Job, deadline: number): Promise<{ count: number | null; exact: boolean }> {
  const t = job.target;
  if (t.kind === 'spans') return deps.spans.countExperiment(job, t.experimentUuid, deadline);
  const q: ListQuery = { page: 1, pageSize: 1, sortBy: 'created_at', sortOrder: 'desc', ...t.filters };
  const page = await deps.traces.list(job, q);
  return { count: page.totalCount, exact: page.totalExact };
}

/** The last step: the export's object is put together (or an empty one written); the job is completed. */
async function finish(deps: JobDeps, job: Job, touched: Pick<Job, 'step' | 'updatedAt'>): Promise<Job | null> {
  if (job.action === 'export') {
    const key = exportKey(job);
    const parts = await deps.jobs.parts(job);
    if (parts.length === 0) await deps.storage.putObject(key, Buffer.alloc(0));
    else await deps.storage.completeUpload(key, job.uploadId!, parts);
  }
  return commit(deps, { ...job, ...touched, status: 'completed', ...finished(deps.now?.() ?? Date.now()) });
}

// --- export ----------------------------------------------------------------------------------

/** JSON Lines of the next slice of the range: traces as the API answers them, or materialized spans. */
async function readLines(
  deps: JobDeps,
  job: Job,
  after: string | null,
  deadline: number,
): Promise<{ lines: string[]; position: string | null; done: boolean }> {
  const t = job.target;
  if (t.kind === 'traces') {
    const page = await deps.traces.range(job, {
      filters: t.filters,
      after,
      until: job.anchor,
      limit: EXPORT_READ_ITEMS,
      deadline,
      documents: true,
    });
    return { lines: page.items.map((i) => traceJson(i.view!)), position: page.position ?? after, done: page.done };
  }
  const lines: string[] = [];
  let position = after;
  const it = deps.spans.experimentRange(job, t.experimentUuid, after)[Symbol.asyncIterator]();
  try {
    while (lines.length < 200) {
      const next = await it.next();
      if (next.done) return { lines, position, done: true };
      lines.push(next.value.doc);
      position = next.value.position;
    }
  } finally {
    await it.return?.();
  }
  return { lines, position, done: false };
}

async function exportStep(deps: JobDeps, job: Job, deadline: number, touched: Pick<Job, 'step' | 'updatedAt'>): Promise<Job | null> {
  const key = exportKey(job);
  const chunks: Buffer[] = [];
  let bytes = 0;
  let count = 0;
  if (job.carry) {
    const carried = await deps.storage.getObject(job.carry.key);
    chunks.push(carried);
    bytes = carried.length;
    count = job.carry.count;
  }
  let position = job.position;
  let done = false;
  // At least one read per step, so every step moves on, however short the budget.
  for (let first = true; !done && bytes < deps.partBytes && (first || (deps.now?.() ?? Date.now()) < deadline); first = false) {
    const page = await readLines(deps, job, position, deadline);
    for (const line of page.lines) {
      const b = Buffer.from(`${line}\n`);
      chunks.push(b);
      bytes += b.length;
      count++;
    }
    position = page.position;
    done = page.done;
  }
  await deps.fault?.('export-read', job);
  const body = Buffer.concat(chunks);
  if (bytes >= deps.partBytes || (done && bytes > 0)) {
    const number = job.parts + 1;
    const etag = await deps.storage.uploadPart(key, job.uploadId!, number, body);
    await deps.fault?.('export-part', job);
    return commit(
      deps,
      { ...job, ...touched, position, done, processed: job.processed + count, bytes: job.bytes + bytes, parts: number, carry: null },
      { number, etag },
    );
  }
  if (done) return commit(deps, { ...job, ...touched, position, done, carry: null });
  if (count === 0) return commit(deps, { ...job, ...touched, position });
  // Out of time with less than a part: what was read waits in a carry object for the next step.
  const carry = { key: `${key}.carry-${touched.step}`, bytes, count };
  await deps.storage.putObject(carry.key, body);
  return commit(deps, { ...job, ...touched, position, carry });
}

// --- delete ----------------------------------------------------------------------------------

async function deleteStep(deps: JobDeps, job: Job, deadline: number, touched: Pick<Job, 'step' | 'updatedAt'>): Promise<Job | null> {
  const t = job.target;
  if (job.pending === null) {
    // First the ids this step deletes, recorded, so a run after a crash deletes (and counts) the same ones.
    let pending: NonNullable<Job['pending']>;
    if (t.kind === 'traces') {
      const page = await deps.traces.range(job, {
        filters: t.filters,
        after: job.position,
        until: job.anchor,
        limit: DELETE_STEP_ITEMS,
        deadline,
        documents: false,
      });
      pending = { ids: page.items.map((i) => i.id), next: page.position ?? job.position, done: page.done };
    } else {
      const ids: string[] = [];
      let position = job.position;
      let done = true;
      for await (const s of deps.spans.experimentRange(job, t.experimentUuid, job.position)) {
        ids.push(s.traceId);
        position = s.position;
        if (ids.length === DELETE_STEP_ITEMS) {
          done = false;
          break;
        }
      }
      pending = { ids, next: position, done };
    }
    return commit(deps, { ...job, ...touched, pending });
  }
  await deps.fault?.('delete-pending', job);
  const ids = job.pending.ids;
  let next = 0;
  let doneCount = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      if (t.kind === 'traces') await deleteTrace(deps.maintenance, job, id);
      else {
        const doc = await deps.spans.deleteSpan(job, id);
        if (doc !== null) await recordSpanChange(deps.spanStats, job, id, doc, null, deps.log);
      }
      if (++doneCount === Math.ceil(ids.length / 2)) await deps.fault?.('delete-half', job);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.deleteConcurrency ?? 4, ids.length) }, worker));
  return commit(deps, {
    ...job,
    ...touched,
    processed: job.processed + ids.length,
    position: job.pending.next,
    done: job.pending.done,
    pending: null,
  });
}
