/**
 * Writing trace logs (Parea wire format, as its SDKs call it): POST and PUT /trace_log, /feedback,
 * /trace_log/langchain, and the spans of ingested files.
 *
 * A span is kept as what was posted (`base`), the PUT field maps in arrival order (`patches`),
 * and the materialized span (`doc` = mergeSpan over base, then each patch). Spans arrive in any
 * order: a PUT before its POST is kept as a patch and merged when the POST comes; a re-POST
 * replaces the base and re-applies the stored patches. Every change is a read, then a write
 * conditional on the version read, retried on a conflict, so concurrent writers never lose one.
 */
import * as z from 'zod';
import { backoff } from '../backoff.js';
import { ID_TOO_LONG, MAX_ID_CHARS } from '../ids.js';
import { describeIssues } from '../issues.js';
import { isPlainObject } from '../objects.js';
import { recordSpanChange } from '../stats.js';
import type { Tenant } from '../tenancy.js';
import { LangchainRunBody, spansOfRun } from './langchain.js';
import { MAX_SPAN_ID_BYTES, MAX_SPAN_ITEM_TEXT_BYTES, TraceLogError } from './limits.js';
import type { SpanRecord, SpanSink, TraceLogDeps } from './ports.js';
import { rootChanged, rootFactsOf } from './roots.js';
import { mergeSpan, SpanInput, spanFromInput, type Span } from './span.js';

/** Conflicting writers retry this many times before the request is answered "busy". */
const MAX_WRITE_ATTEMPTS = 12;

/** Fields only a POST decides; a PUT's field map cannot move a span to another tree. */
const IDENTITY_FIELDS = ['trace_id', 'root_trace_id', 'parent_trace_id'] as const;

function checkIdBytes(what: string, value: string): void {
  if (Buffer.byteLength(value) > MAX_SPAN_ID_BYTES)
    throw new TraceLogError('invalid_body', `${what}: must be at most ${MAX_SPAN_ID_BYTES} UTF-8 bytes`);
}

/** A valid posted span, with its start time settled (`now` when it sent none). */
export function parseSpan(body: unknown, nowIso: string): Span {
  if (!isPlainObject(body)) throw new TraceLogError('invalid_body', 'body: must be a JSON object (one TraceLog)');
  const parsed = SpanInput.safeParse(body);
  if (!parsed.success) throw new TraceLogError('invalid_body', describeIssues(parsed.error, 'body'));
  const span = spanFromInput(parsed.data, nowIso);
  // zod assigns the keys it passes through, so an own "__proto__" field (JSON.parse makes one) would be lost: keep it as data.
  if (Object.hasOwn(body, '__proto__')) {
    // biome-ignore lint/suspicious/noProto: a body's own `__proto__` key is data, kept as an own property
    Object.defineProperty(span, '__proto__', { value: body.__proto__, enumerable: true, writable: true, configurable: true });
  }
  checkIdBytes('trace_id', span.trace_id);
  checkIdBytes('root_trace_id', span.root_trace_id);
  if (typeof span.experiment_uuid === 'string') checkIdBytes('experiment_uuid', span.experiment_uuid);
  else if (span.experiment_uuid !== null && span.experiment_uuid !== undefined) {
    throw new TraceLogError('invalid_body', 'experiment_uuid: must be a string or null');
  }
  return span;
}

/** The body of `PUT /trace_log`. */
export const TraceLogUpdate = z.object(
  {
    trace_id: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(MAX_ID_CHARS, ID_TOO_LONG),
    root_trace_id: z.string({ error: 'must be a string or null' }).max(MAX_ID_CHARS, ID_TOO_LONG).nullish(),
    field_name_to_value_map: z.record(z.string(), z.unknown(), { error: 'must be an object of field names to values' }),
  },
  { error: 'must be a JSON object {trace_id, root_trace_id, field_name_to_value_map}' },
);

/** The experiment a materialized span is listed under: a non-empty string of at most MAX_SPAN_ID_BYTES. */
function experimentOf(span: Record<string, unknown>): string | null {
  const e = span.experiment_uuid;
  return typeof e === 'string' && e !== '' && Buffer.byteLength(e) <= MAX_SPAN_ID_BYTES ? e : null;
}

/** mergeSpan over the base, then each patch; the span is stamped with the project it is stored in. */
export function materialize(tenant: Tenant, base: string, patches: readonly string[]): string {
  let span = JSON.parse(base) as Record<string, unknown>;
  for (const p of patches) span = mergeSpan(span, JSON.parse(p) as Record<string, unknown>);
  span.organization_id = tenant.organizationId;
  span.project_uuid = tenant.projectId;
  return JSON.stringify(span);
}

/** The record that holds `base` (or only patches) and `patches`, with its doc and index fields. */
function recordOf(
  tenant: Tenant,
  traceId: string,
  base: string | null,
  patches: string[],
  version: number,
  rootIfUnposted: string,
): SpanRecord {
  let record: SpanRecord;
  if (base === null) {
    record = { traceId, rootTraceId: rootIfUnposted, parentTraceId: null, experimentUuid: null, base: null, patches, doc: null, version };
  } else {
    const posted = JSON.parse(base) as Span;
    const doc = materialize(tenant, base, patches);
    record = {
      traceId,
      rootTraceId: posted.root_trace_id,
      parentTraceId: posted.parent_trace_id,
      // A PUT may set the experiment (not to an unusable value: then the posted one stays).
      experimentUuid: experimentOf(JSON.parse(doc) as Record<string, unknown>) ?? experimentOf(posted),
      base,
      patches,
      doc,
      version,
    };
  }
  let bytes = (record.base?.length ?? 0) + (record.doc?.length ?? 0);
  for (const p of patches) bytes += p.length;
  if (bytes * 3 > MAX_SPAN_ITEM_TEXT_BYTES) {
    bytes = (record.base ? Buffer.byteLength(record.base) : 0) + (record.doc ? Buffer.byteLength(record.doc) : 0);
    for (const p of patches) bytes += Buffer.byteLength(p);
    if (bytes > MAX_SPAN_ITEM_TEXT_BYTES) {
      throw new TraceLogError(
        'payload_too_large',
        `span ${traceId} is too large: the posted span, its updates and the merged span take ${bytes} bytes; at most ${MAX_SPAN_ITEM_TEXT_BYTES} are kept per span (about 190 KB of span)`,
      );
    }
  }
  return record;
}

/**
 * Read, change, write if unchanged meanwhile; again on a conflict. `change` answers null for "nothing
 * to write". `known`: the record as just read (consistently) by the caller, used for the first try.
 * Once a write lands, its change of the span's figures goes to the stats (what the version read had, what it has now).
 */
async function upsert(
  deps: Pick<TraceLogDeps, 'store' | 'stats' | 'log'>,
  tenant: Tenant,
  traceId: string,
  change: (current: SpanRecord | null) => SpanRecord | null,
  known?: SpanRecord | null,
): Promise<void> {
  const store = deps.store;
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoff(attempt, 10, 1_000);
    const current = attempt === 0 && known !== undefined ? known : await store.get(tenant, traceId);
    const changed = change(current);
    if (changed === null) return;
    // A span keeps the expiry it was first stored with.
    const next = current?.expiresAt !== undefined ? { ...changed, expiresAt: current.expiresAt } : changed;
    // What the index holds of it: a root stored before the index existed is not in it (it is added now).
    const before = current?.rootIndexed ? rootFactsOf(current.doc) : null;
    const after = rootFactsOf(next.doc);
    if (after !== null) next.rootIndexed = true;
    else delete next.rootIndexed;
    if (await store.save(tenant, next, rootChanged(before, after) ? { before, after } : undefined)) {
      await recordSpanChange(deps.stats, tenant, traceId, current?.doc ?? null, next.doc, deps.log);
      return;
    }
  }
  throw new TraceLogError('busy', `span ${traceId} is being written by other requests; retry after a moment`);
}

/**
 * Runs `store`, whose JSON.stringify recurses: a span (or a PUT's fields) nested thousands of
 * levels deep, which JSON.parse takes at any depth, cannot be kept and is refused as too large.
 */
async function unlessTooDeep(what: string, store: () => Promise<void>): Promise<void> {
  try {
    await store();
  } catch (err) {
    if (err instanceof RangeError) throw new TraceLogError('payload_too_large', `${what} nested too deeply to store`);
    throw err;
  }
}

/**
 * Stores a posted span (already parsed): replaces the base, re-applies the stored patches. `known`:
 * the stored record as the caller just read it (null: none), which saves the first read; the OTLP
 * ingest (functions/domain/otel/ingest.ts) reads a whole export's spans in one batch.
 */
export async function storeSpan(
  deps: Pick<TraceLogDeps, 'store' | 'stats' | 'log'>,
  tenant: Tenant,
  span: Span,
  known?: SpanRecord | null,
): Promise<void> {
  await unlessTooDeep(`span ${span.trace_id} is`, async () => {
    const base = JSON.stringify(span);
    await upsert(
      deps,
      tenant,
      span.trace_id,
      (current) => {
        // The same span posted again (a retry, a redelivered file): nothing changes.
        if (current !== null && current.base === base) return null;
        return recordOf(tenant, span.trace_id, base, current?.patches ?? [], (current?.version ?? 0) + 1, span.root_trace_id);
      },
      known,
    );
  });
}

/** POST /trace_log: one TraceLog. */
export async function recordTraceLog(deps: TraceLogDeps, tenant: Tenant, body: unknown): Promise<void> {
  const span = parseSpan(body, (deps.now?.() ?? new Date()).toISOString());
  await storeSpan(deps, tenant, span);
}

/** PUT /trace_log: `{trace_id, root_trace_id, field_name_to_value_map}`. Kept as a patch when the span is not posted yet. */
export async function updateTraceLog(deps: TraceLogDeps, tenant: Tenant, body: unknown): Promise<void> {
  const parsed = TraceLogUpdate.safeParse(body);
  if (!parsed.success) throw new TraceLogError('invalid_body', describeIssues(parsed.error, 'body'));
  const { trace_id: traceId, root_trace_id: root, field_name_to_value_map: fields } = parsed.data;
  checkIdBytes('trace_id', traceId);
  if (root) checkIdBytes('root_trace_id', root);
  const patchFields: Record<string, unknown> = { ...fields };
  for (const f of IDENTITY_FIELDS) delete patchFields[f];
  await unlessTooDeep(`the fields for span ${traceId} are`, async () => {
    const patch = JSON.stringify(patchFields);
    await upsert(deps, tenant, traceId, (current) => {
      const patches = current?.patches ?? [];
      // A retried PUT (the SDKs retry on timeouts) adds nothing: merging the same map twice changes nothing.
      if (patches[patches.length - 1] === patch) return null;
      return recordOf(
        tenant,
        traceId,
        current?.base ?? null,
        [...patches, patch],
        (current?.version ?? 0) + 1,
        current?.rootTraceId ?? (root || traceId),
      );
    });
  });
}

/**
 * Spans from an ingested file: every record with a string `trace_id` that is a valid TraceLog,
 * stored as if posted (idempotent: the same record again writes nothing). Records that are not
 * valid spans, or too large for one, are skipped (they are still traces); store failures throw.
 * A trace_id twice in one call: the later record wins.
 */
export async function recordSpans(
  deps: TraceLogDeps,
  tenant: Tenant,
  records: readonly Record<string, unknown>[],
  nowIso: string,
): Promise<{ stored: number; skipped: number }> {
  const byId = new Map<string, Span>();
  let skipped = 0;
  for (const r of records) {
    try {
      const span = parseSpan(r, nowIso);
      byId.delete(span.trace_id);
      byId.set(span.trace_id, span);
    } catch (err) {
      if (!(err instanceof TraceLogError)) throw err;
      skipped++;
      deps.log?.({ msg: 'record not stored as a span', trace_id: r.trace_id, reason: err.message });
    }
  }
  let stored = 0;
  await Promise.all(
    [...byId.values()].map(async (span) => {
      try {
        await storeSpan(deps, tenant, span);
        stored++;
      } catch (err) {
        if (!(err instanceof TraceLogError) || err.kind !== 'payload_too_large') throw err;
        skipped++;
        deps.log?.({ msg: 'record not stored as a span', trace_id: span.trace_id, reason: err.message });
      }
    }),
  );
  return { stored, skipped };
}

export function spanSink(deps: TraceLogDeps): SpanSink {
  return {
    recordMany: async (tenant, records, nowIso) => {
      await recordSpans(deps, tenant, records, nowIso);
    },
  };
}

// ---------------------------------------------------------------------------
// POST /feedback
// ---------------------------------------------------------------------------

export const FeedbackBody = z.looseObject(
  {
    score: z.number({ error: 'must be a number between 0 and 1' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1'),
    trace_id: z.string({ error: 'must be a string' }).max(MAX_ID_CHARS).nullish(),
    // The TS SDK's FeedbackRequest also names a completion by inference_id (its span's trace_id).
    inference_id: z.string({ error: 'must be a string' }).max(MAX_ID_CHARS).nullish(),
    name: z.string({ error: 'must be a string' }).max(MAX_ID_CHARS).nullish(),
    target: z
      .string({ error: 'must be a string' })
      .max(64 * 1024)
      .nullish(),
    comment: z
      .string({ error: 'must be a string' })
      .max(16 * 1024)
      .nullish(),
  },
  { error: 'must be a JSON object {score, trace_id, name?, target?, comment?}' },
);

/**
 * POST /feedback `{score, trace_id, name?, target?, comment?}`: the score becomes the span's
 * `feedback_score` (filterable like any field); `target` replaces its target; `name` and
 * `comment` are kept in its metadata (`feedback_name`, `feedback_comment`). Applied as an update:
 * feedback that comes before its span is kept and merged when the span is posted.
 */
export async function recordFeedback(deps: TraceLogDeps, tenant: Tenant, body: unknown): Promise<void> {
  const parsed = FeedbackBody.safeParse(body);
  if (!parsed.success) throw new TraceLogError('invalid_body', describeIssues(parsed.error, 'body'));
  const f = parsed.data;
  const traceId = f.trace_id || f.inference_id;
  if (!traceId) throw new TraceLogError('invalid_body', 'trace_id: the span the feedback is about is required');
  const metadata: Record<string, string> = {};
  if (f.name) metadata.feedback_name = f.name;
  if (f.comment) metadata.feedback_comment = f.comment;
  const fields: Record<string, unknown> = { feedback_score: f.score };
  if (typeof f.target === 'string') fields.target = f.target;
  if (Object.keys(metadata).length > 0) fields.metadata = metadata;
  await updateTraceLog(deps, tenant, { trace_id: traceId, root_trace_id: null, field_name_to_value_map: fields });
}

// ---------------------------------------------------------------------------
// POST /trace_log/langchain
// ---------------------------------------------------------------------------

/** A LangChain run tree (the SDKs' tracer): every run stored as a span, parents first (./parea/langchain.ts). */
export async function recordLangchainRun(deps: TraceLogDeps, tenant: Tenant, body: unknown): Promise<void> {
  const top = LangchainRunBody.safeParse(body);
  if (!top.success) throw new TraceLogError('invalid_body', describeIssues(top.error, 'body'));
  const spans = spansOfRun(body); // LangchainRunError: a 400 invalid_body, as for any bad body
  const nowIso = (deps.now?.() ?? new Date()).toISOString();
  const parsed = spans.map((s) => parseSpan(s, nowIso));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, parsed.length) }, async () => {
      while (next < parsed.length) await storeSpan(deps, tenant, parsed[next++]!);
    }),
  );
}
