/**
 * Experiment trace logs (Parea wire format, as its SDKs call it): the use
 * cases and the storage port. No AWS types here: functions/adapters/dynamo/span-store.ts
 * implements {@link SpanStore}; tests use an in-memory one.
 *
 * A span is kept as what was posted (`base`), the PUT field maps in arrival order (`patches`),
 * and the materialized span (`doc` = mergeSpan over base, then each patch). Spans arrive in any
 * order: a PUT before its POST is kept as a patch and merged when the POST comes; a re-POST
 * replaces the base and re-applies the stored patches. Every change is a read, then a write
 * conditional on the version read, retried on a conflict, so concurrent writers never lose one.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as z from 'zod';
import { backoff } from './backoff.js';
import { compileFilter, filterFieldProbe, matchesTree, TraceLogFilter, type SpanPredicate } from './parea/filter.js';
import { mergeSpan, SpanInput, spanFromInput, type Span } from './parea/span.js';
import { LangchainRunBody, spansOfRun } from './parea/langchain.js';
import { buildForest, subtree, treeToJson, type TreeNode } from './parea/tree.js';
import { recordSpanChange, type SpanStatsSink } from './stats.js';
import type { Tenant } from './tenancy.js';
import { rootChanged, rootFactsOf, type RootFacts } from './trace-log-roots.js';
import { describeIssues } from './issues.js';
import { isPlainObject } from './objects.js';
import { DomainError } from './errors.js';
import { ID_TOO_LONG, MAX_ID_CHARS } from './ids.js';

// ---------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------

/** One span as stored. */
export interface SpanRecord {
  traceId: string;
  rootTraceId: string;
  /** null while only patches exist. */
  parentTraceId: string | null;
  /** The experiment the span is listed under (from the materialized span); null: none. */
  experimentUuid: string | null;
  /** The posted span (JSON text); null until posted. */
  base: string | null;
  /** PUT field maps (JSON texts), in arrival order. */
  patches: string[];
  /** The materialized span (JSON text); null while only patches exist. */
  doc: string | null;
  /** Optimistic concurrency: 0 = not stored yet; every write adds one. */
  version: number;
  /** When it expires (epoch seconds, set by the store from the retention when first stored); kept by every later write. */
  expiresAt?: number;
  /** The root index (and its counters) holds this span as a tree's root: set by every write of a root, false or absent otherwise. */
  rootIndexed?: boolean;
}

/** A span write's change of the root index (functions/domain/trace-log-list.ts): what it kept before, and after. */
export interface RootChange {
  before: RootFacts | null;
  after: RootFacts | null;
}

/** Where an experiment read starts: at a tree (its spans included) or right after it. */
export interface SpanPosition {
  rootTraceId: string;
  include: boolean;
}

/** A materialized span of an experiment, as the index serves it. */
export interface ExperimentSpan {
  rootTraceId: string;
  doc: string;
}

export interface SpanStore {
  /** The span, read consistently, or null. */
  get(tenant: Tenant, traceId: string): Promise<SpanRecord | null>;
  /** The stored ones of up to 100 spans, read consistently in one call (optional: callers fall back to `get`). */
  getMany?(tenant: Tenant, traceIds: readonly string[]): Promise<Map<string, SpanRecord>>;
  /**
   * Writes `next` (whose version is the stored one plus one) if the stored version is still
   * `next.version - 1` (1: no item yet). False on a conflict (someone wrote in between).
   * `root`: the write changes what the root index keeps (the span becomes, stops being or moves
   * as a tree's root): the index entry and its counters are written in the same transaction.
   */
  save(tenant: Tenant, next: SpanRecord, root?: RootChange): Promise<boolean>;
  /** The materialized spans (doc) of every span whose root is `rootTraceId`. */
  treeDocs(tenant: Tenant, rootTraceId: string): Promise<string[]>;
  /**
   * The materialized spans of one experiment, every span of a tree next to each other, trees in
   * a stable order (the index's), from `from` on. Read lazily: stopping early reads no further.
   */
  experimentSpans(tenant: Tenant, experimentUuid: string, from: SpanPosition | null): AsyncIterable<ExperimentSpan>;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export type TraceLogErrorKind = 'invalid_body' | 'invalid_cursor' | 'payload_too_large' | 'busy';

/** A trace-log request refused: a bad span or update, a foreign cursor, a span too large to keep, or too much contention. */
export class TraceLogError extends DomainError<TraceLogErrorKind> {}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/**
 * A span's ids are parts of index keys (a sort key holds at most 1,024 bytes): `trace_id`,
 * `root_trace_id` and `experiment_uuid` may hold at most this many UTF-8 bytes.
 */
export const MAX_SPAN_ID_BYTES = 255;

/**
 * base + patches + doc of one span must fit in one DynamoDB item (400 KB, with the keys):
 * a span (with its updates) of up to about 190 KB.
 */
export const MAX_SPAN_ITEM_TEXT_BYTES = 380 * 1024;

/** Conflicting writers retry this many times before the request is answered "busy". */
const MAX_WRITE_ATTEMPTS = 12;

/** Fields only a POST decides; a PUT's field map cannot move a span to another tree. */
const IDENTITY_FIELDS = ['trace_id', 'root_trace_id', 'parent_trace_id'] as const;

export interface TraceLogDeps {
  store: SpanStore;
  now?: () => Date;
  log?: (entry: Record<string, unknown>) => void;
  /** How long an experiment read may go on before it answers what it has with a cursor (ms). */
  readBudgetMs?: number;
  /** Optional: where each stored change of a span's figures is added up per hour, for the charts (./stats.ts). */
  stats?: SpanStatsSink;
}

// ---------------------------------------------------------------------------
// Record (POST /trace_log) and update (PUT /trace_log)
// ---------------------------------------------------------------------------


function checkIdBytes(what: string, value: string): void {
  if (Buffer.byteLength(value) > MAX_SPAN_ID_BYTES) throw new TraceLogError('invalid_body', `${what}: must be at most ${MAX_SPAN_ID_BYTES} UTF-8 bytes`);
}

/** A valid posted span, with its start time settled (`now` when it sent none). */
export function parseSpan(body: unknown, nowIso: string): Span {
  if (!isPlainObject(body)) throw new TraceLogError('invalid_body', 'body: must be a JSON object (one TraceLog)');
  const parsed = SpanInput.safeParse(body);
  if (!parsed.success) throw new TraceLogError('invalid_body', describeIssues(parsed.error, 'body'));
  const span = spanFromInput(parsed.data, nowIso);
  // zod assigns the keys it passes through, so an own "__proto__" field (JSON.parse makes one) would be lost: keep it as data.
  if (Object.hasOwn(body, '__proto__')) {
    Object.defineProperty(span, '__proto__', { value: body['__proto__'], enumerable: true, writable: true, configurable: true });
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
function recordOf(tenant: Tenant, traceId: string, base: string | null, patches: string[], version: number, rootIfUnposted: string): SpanRecord {
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
export async function storeSpan(deps: Pick<TraceLogDeps, 'store' | 'stats' | 'log'>, tenant: Tenant, span: Span, known?: SpanRecord | null): Promise<void> {
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
      return recordOf(tenant, traceId, current?.base ?? null, [...patches, patch], (current?.version ?? 0) + 1, current?.rootTraceId ?? (root || traceId));
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

// ---------------------------------------------------------------------------
// GET /trace_log/{trace_id}
// ---------------------------------------------------------------------------

/** The TraceLogTree (JSON text) of one span with its descendants, or null for an unknown (or only patched) span. */
export async function traceLogTree(deps: TraceLogDeps, tenant: Tenant, traceId: string): Promise<string | null> {
  const record = await deps.store.get(tenant, traceId);
  if (record === null || record.doc === null) return null;
  const docs = await deps.store.treeDocs(tenant, record.rootTraceId);
  // The index may lag behind the item just read: the span itself is always there.
  const spans = docs.map((d) => JSON.parse(d) as Record<string, unknown>);
  spans.push(JSON.parse(record.doc) as Record<string, unknown>);
  const node = subtree(buildForest(spans), traceId);
  return node === undefined ? null : treeToJson(node);
}

// ---------------------------------------------------------------------------
// POST /experiment/{experiment_uuid}/trace_logs
// ---------------------------------------------------------------------------

/**
 * A synchronous Lambda answers at most 6 MB (the whole response object, the body escaped inside
 * it, base64 for binary). The cut: the body as the response object will carry it, at most 5 MiB:
 * plain JSON counted with its escapes; gzip as base64 (so at most 3.75 MiB of gzip).
 */
export const MAX_ANSWER_WIRE_BYTES = 5 * 1024 * 1024;
const MAX_GZIP_BYTES = Math.floor((MAX_ANSWER_WIRE_BYTES * 3) / 4);
/** JSON gathered before gzip (memory bound; JSON rarely compresses better than 8:1). */
const MAX_RAW_BEFORE_GZIP = 32 * 1024 * 1024;
/** API functions time out after 10 s: stop reading in time to build and send what was read. */
export const DEFAULT_READ_BUDGET_MS = 6_000;
export const MAX_LIMIT = 10_000;

export interface ExperimentRequest {
  experimentUuid: string;
  /** The filter body (null, `{}`, all-null: no filter). */
  filter: unknown;
  /** At most this many root trees. */
  limit?: number | undefined;
  cursor?: string | undefined;
  /** The caller accepts a gzip body. */
  gzip: boolean;
}

export interface ExperimentAnswer {
  /** A JSON array of root TraceLogTrees: text, or its gzip bytes when `gzip`. */
  body: string | Buffer;
  gzip: boolean;
  /** Where the next page starts, or null when this answer holds the rest. */
  nextCursor: string | null;
  trees: number;
  /** With a filter: whether any span this answer looked at has the filter's field at all; null without one, or with no span to look at. */
  fieldSeen: boolean | null;
}

interface CursorBody {
  v: 1;
  /** Binds the cursor to its caller, experiment and filter. */
  b: string;
  /** The tree group (root_trace_id) the next page starts at. */
  r: string;
  /** Trees of that group already served (by position in the group's forest); null: the whole group. */
  k: number | null;
}

// `r` is a root trace id: a longer one was never issued (and would overflow the index's 1,024-byte sort key).
const CursorSchema = z.object({
  v: z.literal(1),
  b: z.string(),
  r: z.string().refine((r) => Buffer.byteLength(r) <= MAX_SPAN_ID_BYTES),
  k: z.number().int().nonnegative().nullable(),
});

function binding(tenant: Tenant, experimentUuid: string, filter: unknown, predicate: SpanPredicate | null): string {
  let f: unknown = null;
  if (predicate !== null) {
    const p = TraceLogFilter.parse(filter);
    f = [p.filter_field ?? null, p.filter_key ?? null, p.filter_operator ?? null, p.filter_value ?? null];
  }
  return createHash('sha256').update(JSON.stringify([tenant.organizationId, tenant.projectId, experimentUuid, f])).digest('base64url').slice(0, 22);
}

function encodeCursor(b: string, at: { r: string; k: number | null }): string {
  const body: CursorBody = { v: 1, b, r: at.r, k: at.k };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

function decodeCursor(b: string, cursor: string): { r: string; k: number | null } {
  let body: CursorBody;
  try {
    body = CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new TraceLogError('invalid_cursor', 'cursor is not a cursor this API issued');
  }
  if (body.b !== b) throw new TraceLogError('invalid_cursor', 'cursor belongs to another experiment, filter or caller; start again without it');
  return { r: body.r, k: body.k };
}

/** Bytes a JSON text takes once escaped inside the Lambda's response object. */
export function escapedBytes(json: string): number {
  let extra = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 34 || c === 92) extra++;
  }
  return Buffer.byteLength(json) + extra;
}

/**
 * The root trees of one experiment, whole, each listed when its root or ANY span in it matches
 * the filter. Trees come in the index's order (by root_trace_id), pages by `limit` and `cursor`;
 * an answer is also cut (with a cursor) before it would pass MAX_ANSWER_WIRE_BYTES, and when the
 * read budget is spent. At least one tree is served per answer, whatever its size.
 */
export async function experimentTraceLogs(deps: TraceLogDeps, tenant: Tenant, req: ExperimentRequest): Promise<ExperimentAnswer> {
  const predicate = compileFilter(req.filter); // FilterError: the handler's 400
  const probe = predicate === null ? null : filterFieldProbe(req.filter);
  let fieldSeen = false;
  let looked = false;
  /** Looks for the field in a tree until some span has it (then never again). */
  const lookForField = (tree: TreeNode) => {
    looked = true;
    if (probe === null || fieldSeen) return;
    fieldSeen = matchesTree(tree, probe);
  };
  /** Said only when there were spans to look at: an empty experiment tells nothing about the field. */
  const seen = () => (probe === null || !looked ? null : fieldSeen);
  const bind = binding(tenant, req.experimentUuid, req.filter, predicate);
  const at = req.cursor ? decodeCursor(bind, req.cursor) : null;
  const limit = req.limit ?? Number.POSITIVE_INFINITY;
  const budgetMs = deps.readBudgetMs ?? DEFAULT_READ_BUDGET_MS;
  const started = Date.now();
  const maxCost = req.gzip ? MAX_RAW_BEFORE_GZIP : MAX_ANSWER_WIRE_BYTES;

  /** Served trees: their JSON and where each sits (its group and position), for a later cut. */
  const served: { json: string; r: string; k: number }[] = [];
  let cost = 2;
  let stop: { r: string; k: number | null } | null = null;

  /** Serves a group's trees; answers where to go on from, when the answer is full inside this group. */
  const serveGroup = (root: string, docs: string[], skip: number): { r: string; k: number } | null => {
    const forest = buildForest(docs.map((d) => JSON.parse(d) as Record<string, unknown>));
    for (let i = skip; i < forest.length; i++) {
      const tree: TreeNode = forest[i]!;
      lookForField(tree);
      if (predicate !== null && !matchesTree(tree, predicate)) continue;
      if (served.length >= limit) return { r: root, k: i };
      const json = treeToJson(tree);
      const c = (req.gzip ? Buffer.byteLength(json) : escapedBytes(json)) + 1;
      if (served.length > 0 && cost + c > maxCost) return { r: root, k: i };
      served.push({ json, r: root, k: i });
      cost += c;
    }
    return null;
  };

  const from = at === null ? null : { rootTraceId: at.r, include: at.k !== null };
  let group: { root: string; docs: string[] } | null = null;
  const iterator = deps.store.experimentSpans(tenant, req.experimentUuid, from)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (group !== null && (next.done || next.value.rootTraceId !== group.root)) {
        const skip = at !== null && at.k !== null && group.root === at.r ? at.k : 0;
        const cut = serveGroup(group.root, group.docs, skip);
        if (cut !== null) {
          stop = cut;
          break;
        }
        // The group is done; another follows: stop here when the page is full or the time is up.
        if (!next.done && (served.length >= limit || cost >= maxCost || Date.now() - started > budgetMs)) {
          stop = { r: group.root, k: null };
          break;
        }
        group = null;
      }
      if (next.done) break;
      if (group === null) group = { root: next.value.rootTraceId, docs: [] };
      group.docs.push(next.value.doc);
    }
  } finally {
    await iterator.return?.();
  }

  let cursorAt = stop;
  if (!req.gzip) {
    const body = `[${served.map((s) => s.json).join(',')}]`;
    return { body, gzip: false, nextCursor: cursorAt === null ? null : encodeCursor(bind, cursorAt), trees: served.length, fieldSeen: seen() };
  }
  let n = served.length;
  let body = gzipSync(`[${served.map((s) => s.json).join(',')}]`);
  while (body.length > MAX_GZIP_BYTES && n > 1) {
    n = Math.max(1, Math.min(n - 1, Math.floor((n * MAX_GZIP_BYTES * 0.95) / body.length)));
    body = gzipSync(`[${served
      .slice(0, n)
      .map((s) => s.json)
      .join(',')}]`);
    cursorAt = { r: served[n]!.r, k: served[n]!.k };
  }
  return { body, gzip: true, nextCursor: cursorAt === null ? null : encodeCursor(bind, cursorAt), trees: n, fieldSeen: seen() };
}

// ---------------------------------------------------------------------------
// Ingestion from files
// ---------------------------------------------------------------------------

/** What the ingest use case is given to store a file's spans (an optional port of IngestDeps). */
export interface SpanSink {
  recordMany(tenant: Tenant, records: readonly Record<string, unknown>[], nowIso: string): Promise<void>;
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
    target: z.string({ error: 'must be a string' }).max(64 * 1024).nullish(),
    comment: z.string({ error: 'must be a string' }).max(16 * 1024).nullish(),
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
