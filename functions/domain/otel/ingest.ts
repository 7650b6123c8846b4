/**
 * OTLP trace export, the use case: every span becomes a trace log (the Parea store and tree
 * builder, functions/domain/parea/write.ts), and every OTel trace becomes one trace of the project
 * (`source: "otlp"`), whose document is its spans, updated as more of them arrive.
 *
 * Idempotent per span: a span stored as it is again writes nothing, and a trace whose document
 * would not change is not written. Spans of one trace may come in any order, over any number of
 * exports, concurrently: the trace is read, merged and written conditionally on the version read
 * (again on a conflict), so no span is ever lost from its document and the trace is created, and
 * counted in the project's counters, exactly once.
 *
 * No AWS types here: {@link OtelTraceStore} is implemented by
 * functions/adapters/dynamo/otel-trace-store.ts.
 */
import { randomUUID } from 'node:crypto';
import { backoff } from '../backoff.js';
import { parseSpan, storeSpan, TraceLogError, type SpanRecord, type SpanStore } from '../parea/index.js';
import type { SpanStatsSink } from '../stats.js';
import type { Span } from '../parea/span.js';
import { renderInput } from '../render-input.js';
import type { Tenant } from '../tenancy.js';
import { storedTrace, type TraceDraft } from '../trace.js';
import { PAYLOADS_PREFIX } from '../layout.js';
import type { StoredTrace } from '../ports.js';
import { toTraceLog } from './map.js';
import type { ExportResult, OtlpRequest } from './otlp.js';
import { DomainError } from '../errors.js';

/** The source of every trace made from OTLP exports. */
export const OTLP_SOURCE = 'otlp';

// ---------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------

/** An OTel trace as stored (read consistently). */
export interface StoredOtelTrace {
  /** Its document (JSON text), put back from S3 when it was offloaded. */
  document: string;
  createdAt: string;
  payloadKey: string | null;
  /** Optimistic concurrency: every write of the trace by an export adds one. */
  version: number;
}

/** A trace to write: the stored trace and the version it gets. */
export interface OtelTraceWrite {
  trace: StoredTrace;
  version: number;
}

export type CreateResult = { outcome: 'created' } | { outcome: 'exists'; ids: string[] } | { outcome: 'conflict' };

export interface OtelTraceStore {
  /** The stored traces among `ids` (at most 100), read consistently. */
  read(tenant: Tenant, ids: string[]): Promise<Map<string, StoredOtelTrace>>;
  /**
   * Creates the traces (all new, version 1, one creation time) and adds them to the project's
   * counters (the total, the source's, the hour's), all or nothing. `exists`: some of them exist
   * already (nothing was written); `conflict`: another transaction held an item (try again).
   */
  create(tenant: Tenant, traces: OtelTraceWrite[]): Promise<CreateResult>;
  /**
   * Rewrites an existing trace's document and what comes from it (not its creation, counters or
   * evaluations) if its version is still `next.version - 1`. False on a conflict (written or deleted meanwhile).
   */
  update(tenant: Tenant, next: OtelTraceWrite): Promise<boolean>;
}

/** Where documents too large for an item go (functions/adapters/s3/object-storage.ts). */
export interface PayloadStore {
  putPayload(key: string, body: string): Promise<void>;
  deletePayload(key: string): Promise<void>;
}

export interface OtelIngestDeps {
  spans: SpanStore;
  /** Optional: where each stored change of a span's figures is added up per hour (as for posted spans). */
  spanStats?: SpanStatsSink | undefined;
  traces: OtelTraceStore;
  payloads: PayloadStore;
  now?: () => Date;
  log?: (entry: Record<string, unknown>) => void;
  /** Store calls in flight at once for one export (default 16). */
  concurrency?: number;
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/**
 * A trace's document holds its spans whole while they take up to this much JSON; spans beyond it
 * are listed by their summary (ids, name, times, status), whole under `GET /trace_log/<span id>`.
 * Keeps every rewrite of a long-running trace bounded, and `GET .../traces/{id}` within Lambda's 6 MB answer.
 */
export const MAX_INLINE_SPANS_BYTES = 4 * 1024 * 1024;
/** Conflicting writers of one trace retry this many times before the export is answered 429. */
const MAX_WRITE_ATTEMPTS = 10;
/** Traces created per transaction, and the JSON they may take (a transaction holds at most 100 items and 4 MB). */
const CREATE_BATCH = 25;
const CREATE_BATCH_BYTES = 3 * 1024 * 1024;
/** How many refusals the answer's error message names. */
const MESSAGE_REASONS = 5;

/** Too many writers on one trace: the export should be retried (429). */
export class OtelBusyError extends DomainError<'busy'> {
  constructor(message: string) {
    super('busy', message);
  }
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

/** A span of the document in summary form (beyond MAX_INLINE_SPANS_BYTES). */
interface SpanSummary {
  trace_id: string;
  parent_trace_id: string;
  trace_name: unknown;
  start_timestamp: string;
  end_timestamp: unknown;
  status: unknown;
  summary: true;
}

type DocSpan = Span | SpanSummary;

/** An OTel trace's document: its spans (ordered by start, then id) and what they add up to. */
export interface OtelTraceDocument {
  trace_id: string;
  /** The root span's id, null until it arrived. */
  root_span_id: string | null;
  name: string | null;
  start_timestamp: string | null;
  end_timestamp: string | null;
  status: 'success' | 'error';
  span_count: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** How many spans are listed in summary form (the document reached MAX_INLINE_SPANS_BYTES). */
  summarized_spans: number;
  spans: DocSpan[];
}

const isRoot = (s: DocSpan) => s.parent_trace_id === s.trace_id;

function summaryOf(s: Span): SpanSummary {
  return {
    trace_id: s.trace_id,
    parent_trace_id: s.parent_trace_id,
    trace_name: s.trace_name ?? null,
    start_timestamp: s.start_timestamp,
    end_timestamp: s.end_timestamp ?? null,
    status: s.status ?? null,
    summary: true,
  };
}

/** The same start instants compare equal whatever their notation; ours are all `...ffffffZ`, so text order is time order. */
function byStart(a: DocSpan, b: DocSpan): number {
  if (a.start_timestamp !== b.start_timestamp) return a.start_timestamp < b.start_timestamp ? -1 : 1;
  return a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * The document after `incoming` spans (one OTel trace's) join the `stored` one. A span already
 * there is replaced by its new copy; one already there whole stays whole, a new one is whole while
 * the spans whole so far take less than MAX_INLINE_SPANS_BYTES. The result does not depend on the
 * order spans arrived in (below that size).
 */
export function mergeDocument(otelTraceId: string, stored: OtelTraceDocument | null, incoming: readonly Span[]): OtelTraceDocument {
  const spans = new Map<string, DocSpan>();
  let wholeBytes = 0;
  for (const s of stored?.spans ?? []) {
    spans.set(s.trace_id, s);
    if (!('summary' in s)) wholeBytes += JSON.stringify(s).length;
  }
  for (const s of incoming) {
    const before = spans.get(s.trace_id);
    const text = JSON.stringify(s).length;
    if (before !== undefined && !('summary' in before)) {
      wholeBytes += text - JSON.stringify(before).length;
      spans.set(s.trace_id, s);
    } else if (before === undefined && wholeBytes + text <= MAX_INLINE_SPANS_BYTES) {
      wholeBytes += text;
      spans.set(s.trace_id, s);
    } else {
      spans.set(s.trace_id, summaryOf(s));
    }
  }
  const list = [...spans.values()].sort(byStart);
  const root = list.find(isRoot) ?? null;
  let end: string | null = null;
  let error = false;
  let input = 0;
  let output = 0;
  let total = 0;
  let summarized = 0;
  for (const s of list) {
    const e = typeof s.end_timestamp === 'string' ? s.end_timestamp : null;
    if (e !== null && (end === null || e > end)) end = e;
    if (s.status === 'error') error = true;
    if ('summary' in s) summarized++;
    else {
      input += num(s.input_tokens);
      output += num(s.output_tokens);
      total += num(s.total_tokens);
    }
  }
  return {
    trace_id: otelTraceId,
    root_span_id: root?.trace_id ?? null,
    name: root && typeof root.trace_name === 'string' ? root.trace_name : null,
    start_timestamp: list[0]?.start_timestamp ?? null,
    end_timestamp: end,
    status: error ? 'error' : 'success',
    span_count: list.length,
    input_tokens: input,
    output_tokens: output,
    total_tokens: total,
    summarized_spans: summarized,
    spans: list,
  };
}

/** The trace's `input`: its root span's input (OpenInference's input.value, else its chat messages), null until the root arrived. */
function inputOf(doc: OtelTraceDocument): string | null {
  const root = doc.spans.find(isRoot);
  if (root === undefined || 'summary' in root) return null;
  const inputs = root.inputs as Record<string, unknown> | null | undefined;
  const configuration = root.configuration as Record<string, unknown> | null | undefined;
  return renderInput({ input: inputs?.value, messages: configuration?.messages, inputs });
}

/** The trace's filename: its root span's name once the root arrived, else `otlp:<trace id>`. */
function filenameOf(doc: OtelTraceDocument): string {
  return doc.name ? doc.name : `otlp:${doc.trace_id}`;
}

/**
 * Where one write of a trace's offloaded document goes: a key of its own (version and a random
 * part), so a writer that loses the race never overwrites, nor deletes, the document in use.
 */
export function otelPayloadKey(tenant: Tenant, id: string, version: number): string {
  return `${PAYLOADS_PREFIX}${tenant.organizationId}/${tenant.projectId}/${id}.v${version}.${randomUUID()}.json`;
}

/** The trace draft of a document: id and upload id are the OTel trace id, so its list keys are unique and stable. */
function draftOf(tenant: Tenant, doc: OtelTraceDocument, createdAt: string): TraceDraft {
  const input = inputOf(doc);
  const filename = filenameOf(doc);
  return {
    id: doc.trace_id,
    organizationId: tenant.organizationId,
    projectId: tenant.projectId,
    createdAt,
    filename,
    source: OTLP_SOURCE,
    integrationId: null,
    input,
    document: JSON.stringify(doc),
    uploadId: doc.trace_id,
    position: 0,
    inputFromDocument: false,
  };
}

// ---------------------------------------------------------------------------
// The export
// ---------------------------------------------------------------------------

/** Runs `work` over `items`, at most `limit` at a time; the first failure is thrown once all started ones settled. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length && failure === null) {
        const item = items[next++]!;
        try {
          await work(item);
        } catch (err) {
          failure ??= { err };
        }
      }
    }),
  );
  if (failure !== null) throw (failure as { err: unknown }).err;
}

/**
 * Takes one export: answers how many spans were refused and why (OTLP's partial success).
 * Store failures (throttling) and {@link OtelBusyError} are thrown: the whole export is to be retried,
 * which changes nothing for what it already stored.
 */
export async function exportTraces(deps: OtelIngestDeps, tenant: Tenant, request: OtlpRequest): Promise<ExportResult> {
  const nowIso = (deps.now?.() ?? new Date()).toISOString();
  const reasons: string[] = [];
  let rejected = 0;
  const refuse = (spanId: string, why: string) => {
    rejected++;
    if (reasons.length < MESSAGE_REASONS) reasons.push(spanId ? `span ${spanId}: ${why}` : why);
  };

  // 1. Every span as a trace log; a span id given twice: the later copy wins.
  const bySpan = new Map<string, { otelTraceId: string; span: Span }>();
  for (const rs of request.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        if (rs.invalid !== null) refuse(s.spanId, `its resource's ${rs.invalid.replace(/^an /, '')}`);
        else if (s.invalid !== null) refuse(s.spanId, s.invalid);
        else if (s.traceId === '') refuse(s.spanId, 'traceId must be 16 bytes (32 hex digits in JSON), not all zero');
        else if (s.spanId === '') refuse('', 'a span without a valid spanId (8 bytes, 16 hex digits in JSON, not all zero)');
        else if (s.badParent) refuse(s.spanId, 'parentSpanId must be empty or 8 bytes');
        else {
          try {
            const span = parseSpan(toTraceLog(s, { resource: rs.resource, scope: ss.scope }), nowIso);
            bySpan.delete(s.spanId);
            bySpan.set(s.spanId, { otelTraceId: s.traceId, span });
          } catch (err) {
            if (!(err instanceof TraceLogError)) throw err;
            refuse(s.spanId, err.message);
          }
        }
      }
    }
  }

  // 2. The trace logs (idempotent: a span stored as it is again writes nothing).
  const concurrency = deps.concurrency ?? 16;
  const accepted = [...bySpan.values()];
  const tooLarge = new Set<string>();
  // Their stored state in batches of 100 (one round trip instead of one per span), when the store can.
  const known = new Map<string, SpanRecord | null>();
  if (deps.spans.getMany) {
    for (let i = 0; i < accepted.length; i += 100) {
      const ids = accepted.slice(i, i + 100).map((a) => a.span.trace_id);
      const found = await deps.spans.getMany(tenant, ids);
      for (const id of ids) known.set(id, found.get(id) ?? null);
    }
  }
  await eachLimited(accepted, concurrency, async ({ span }) => {
    try {
      await storeSpan({ store: deps.spans, stats: deps.spanStats, log: deps.log }, tenant, span, known.get(span.trace_id));
    } catch (err) {
      if (err instanceof TraceLogError && err.kind === 'payload_too_large') {
        tooLarge.add(span.trace_id);
        refuse(span.trace_id, err.message);
        return;
      }
      if (err instanceof TraceLogError && err.kind === 'busy') throw new OtelBusyError(err.message);
      throw err;
    }
  });

  // 3. The traces they belong to.
  const byTrace = new Map<string, Span[]>();
  for (const { otelTraceId, span } of accepted) {
    if (tooLarge.has(span.trace_id)) continue;
    let list = byTrace.get(otelTraceId);
    if (!list) byTrace.set(otelTraceId, (list = []));
    list.push(span);
  }
  await writeTraces(deps, tenant, byTrace, nowIso);

  deps.log?.({ msg: 'otlp export', accepted: bySpan.size - tooLarge.size, rejected, traces: byTrace.size });
  return {
    rejectedSpans: rejected,
    errorMessage: reasons.length ? `${rejected} span(s) refused: ${reasons.join('; ')}${rejected > reasons.length ? '; ...' : ''}` : '',
  };
}

interface Pending {
  otelTraceId: string;
  spans: Span[];
}

/** Merges each trace's new spans into its stored document and writes what changed; retries conflicts. */
async function writeTraces(deps: OtelIngestDeps, tenant: Tenant, byTrace: Map<string, Span[]>, nowIso: string): Promise<void> {
  let pending: Pending[] = [...byTrace.entries()].map(([otelTraceId, spans]) => ({ otelTraceId, spans }));
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= MAX_WRITE_ATTEMPTS) {
      throw new OtelBusyError(`trace ${pending[0]!.otelTraceId} is being written by other exports; retry after a moment`);
    }
    if (attempt > 0) await backoff(attempt, 10, 1_000);
    const retry: Pending[] = [];
    const creates: { p: Pending; write: OtelTraceWrite }[] = [];
    for (let i = 0; i < pending.length; i += 100) {
      const chunk = pending.slice(i, i + 100);
      const stored = await deps.traces.read(
        tenant,
        chunk.map((p) => p.otelTraceId),
      );
      await eachLimited(chunk, deps.concurrency ?? 16, async (p) => {
        const current = stored.get(p.otelTraceId) ?? null;
        const before = current === null ? null : (JSON.parse(current.document) as OtelTraceDocument);
        const doc = mergeDocument(p.otelTraceId, before, p.spans);
        const document = JSON.stringify(doc);
        if (current !== null && document === current.document) return; // nothing new: a retried export
        const version = (current?.version ?? 0) + 1;
        const write = await prepare(deps, tenant, draftOf(tenant, doc, current?.createdAt ?? nowIso), version);
        if (current === null) {
          creates.push({ p, write });
          return;
        }
        if (await deps.traces.update(tenant, write)) {
          if (current.payloadKey !== null && current.payloadKey !== write.trace.payloadKey) await dropPayload(deps, current.payloadKey);
        } else {
          await discard(deps, write);
          retry.push(p);
        }
      });
    }
    // New traces: created and counted together, a few dozen per transaction.
    for (const group of createGroups(creates)) {
      const out = await deps.traces.create(
        tenant,
        group.map((c) => c.write),
      );
      if (out.outcome === 'created') continue;
      // Someone created some of them meanwhile (or held the counters): read again, then merge into theirs.
      await Promise.all(group.map((c) => discard(deps, c.write)));
      for (const c of group) retry.push(c.p);
    }
    pending = retry;
  }
}

function createGroups<T extends { write: OtelTraceWrite }>(creates: T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const c of creates) {
    // What the item takes (its document deflated), and what its entry in the filename order does.
    const size = (c.write.trace.packed?.length ?? 0) + (c.write.trace.packedSearch?.length ?? 0) + 1024;
    if (group.length > 0 && (group.length >= CREATE_BATCH || bytes + size > CREATE_BATCH_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(c);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The trace as it will be stored: its document inline, or in S3 under a key of its own version. */
async function prepare(deps: OtelIngestDeps, tenant: Tenant, draft: TraceDraft, version: number): Promise<OtelTraceWrite> {
  const { stored, payload } = storedTrace(draft, otelPayloadKey(tenant, draft.id, version));
  if (payload !== null) await deps.payloads.putPayload(payload.key, payload.body);
  return { trace: stored, version };
}

/** A write that lost: its own offloaded document is nobody's. */
async function discard(deps: OtelIngestDeps, write: OtelTraceWrite): Promise<void> {
  if (write.trace.payloadKey !== null) await dropPayload(deps, write.trace.payloadKey);
}

/** Best effort: a document no item points at any more (one left behind expires with the bucket's payloads/ rule). */
async function dropPayload(deps: OtelIngestDeps, key: string): Promise<void> {
  try {
    await deps.payloads.deletePayload(key);
  } catch (err) {
    deps.log?.({ level: 'warn', msg: 'could not delete a superseded trace document', key, error: String(err) });
  }
}
