/**
 * Reading trace logs: one span's tree (GET /trace_log/{trace_id}) and an experiment's root trees
 * (POST /experiment/{experiment_uuid}/trace_logs), paged by limit, cursor, size and time. The
 * answer's encoding (gzip) and its fitting into what a Lambda answers are the edge's
 * (functions/shared/parea-http.ts).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Tenant } from '../tenancy.js';
import { compileFilter, filterFieldProbe, matchesTree, TraceLogFilter, type SpanPredicate } from './filter.js';
import { DEFAULT_READ_BUDGET_MS, MAX_SPAN_ID_BYTES, TraceLogError } from './limits.js';
import type { TraceLogDeps } from './ports.js';
import { buildForest, subtree, treeToJson, type TreeNode } from './tree.js';

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

export interface ExperimentRequest {
  experimentUuid: string;
  /** The filter body (null, `{}`, all-null: no filter). */
  filter: unknown;
  /** At most this many root trees. */
  limit?: number | undefined;
  cursor?: string | undefined;
  /**
   * How much one page may hold (the edge's answer budget): trees are served until the next would
   * take the page (a JSON array: brackets and commas count) past `bytes`, each tree's JSON counted
   * by `measure`. At least one tree is served, whatever its size.
   */
  size: { bytes: number; measure: (json: string) => number };
}

export interface ExperimentPage {
  /** The page's root TraceLogTrees, JSON text each, in order. */
  trees: string[];
  /** Where the next page starts, or null when this page holds the rest. */
  nextCursor: string | null;
  /** The cursor of a page that starts at tree `i` of this one (an answer the edge cuts shorter goes on from there). */
  cursorAt(i: number): string;
  /** With a filter: whether any span this page looked at has the filter's field at all; null without one, or with no span to look at. */
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
  return createHash('sha256')
    .update(JSON.stringify([tenant.organizationId, tenant.projectId, experimentUuid, f]))
    .digest('base64url')
    .slice(0, 22);
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
  if (body.b !== b)
    throw new TraceLogError('invalid_cursor', 'cursor belongs to another experiment, filter or caller; start again without it');
  return { r: body.r, k: body.k };
}

/**
 * The root trees of one experiment, whole, each listed when its root or ANY span in it matches
 * the filter. Trees come in the index's order (by root_trace_id), pages by `limit` and `cursor`;
 * a page is also cut (with a cursor) before it would pass `req.size`, and when the read budget is
 * spent. At least one tree is served per page, whatever its size.
 */
export async function experimentTraceLogs(deps: TraceLogDeps, tenant: Tenant, req: ExperimentRequest): Promise<ExperimentPage> {
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
  const maxCost = req.size.bytes;

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
      const c = req.size.measure(json) + 1;
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

  return {
    trees: served.map((s) => s.json),
    nextCursor: stop === null ? null : encodeCursor(bind, stop),
    cursorAt: (i) => encodeCursor(bind, { r: served[i]!.r, k: served[i]!.k }),
    fieldSeen: seen(),
  };
}
