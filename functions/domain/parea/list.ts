/**
 * `POST /get_trace_logs` (Parea's QueryParams): a project's trace logs, one root tree per result,
 * newest first, with filters, pages and totals (docs/parea-trace-logs-listing.md).
 *
 * Backed by a root index, never by reading the project's spans: each stored root span has a
 * small member entry (its tree, start instant and status) in a sharded index, and counters of
 * roots (all time and per hour, by status) move in the same transaction that stores the root
 * (functions/adapters/dynamo/span-store.ts). A page reads the member entries in order (merged
 * shards), then each listed tree's spans; totals come from the counters. Only a span filter
 * (Parea's filter_field/operator/value), which no index answers, reads root spans in order within
 * a time budget, counting as it goes.
 *
 * No AWS types here; the answer's JSON and its gzip are the edge's (functions/shared/parea-http.ts).
 */
import * as z from 'zod';
import { MAX_ID_CHARS } from '../ids.js';
import type { Tenant } from '../tenancy.js';
import { compileFilter, type SpanPredicate } from './filter.js';
import type { RootEntry, RootRange, SpanStore, TraceLogRootIndex } from './ports.js';
import { instantOfMs, MAX_STATUS_CHARS } from './roots.js';
import { normalizeSpanForWire } from './span.js';
import { buildForest, subtree, treeToJson } from './tree.js';

export interface TraceLogListDeps {
  store: SpanStore;
  roots: TraceLogRootIndex;
  now?: () => number;
  /** How long a filtered read may go on before it answers what it found (ms). */
  budgetMs?: number;
}

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/** Parea's TimeRange: `m` is a month here (30 days), `y` a year (365 days). */
const TIME_RANGES: Record<string, number | null> = {
  na: null,
  '1h': 3_600_000,
  '3h': 3 * 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 86_400_000,
  '1m': 30 * 86_400_000,
  '3m': 90 * 86_400_000,
  '6m': 180 * 86_400_000,
  '1y': 365 * 86_400_000,
};

export const MAX_PAGE_SIZE = 100;

const nullableString = (max: number) =>
  z.string({ error: 'must be a string or null' }).max(max, `must be at most ${max} characters`).nullish();

/** The SDKs' QueryParams (both send every field; the Python SDK nulls, the TS SDK omits). Unknown fields are ignored. */
export const QueryParamsBody = z.looseObject({
  project_name: nullableString(MAX_ID_CHARS),
  filter_field: z.unknown().optional(),
  filter_key: z.unknown().optional(),
  filter_operator: z.unknown().optional(),
  filter_value: z.unknown().optional(),
  page: z
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1 (pages count from 1)')
    .max(1_000_000, 'must be at most 1000000')
    .nullish(),
  page_size: z
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)
    .nullish(),
  time_range: z
    .enum(Object.keys(TIME_RANGES) as [string, ...string[]], { error: `must be one of ${Object.keys(TIME_RANGES).join(', ')}` })
    .nullish(),
  status: nullableString(MAX_STATUS_CHARS),
  sort_by: z.enum(['start_timestamp'], { error: 'must be start_timestamp' }).nullish(),
  sort_order: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).nullish(),
});
export type QueryParams = z.infer<typeof QueryParamsBody>;

/** One page of root trees, with the totals. */
export interface TraceLogPage {
  /** The root TraceLogTrees, JSON text each, newest first (or oldest). */
  results: string[];
  page: number;
  pageSize: number;
  /** Roots in the range (and matching the filter); never below what the pages up to this one show. */
  total: number;
  totalPages: number;
  /** False when a span filter's count stopped at the read budget (`total` is then a lower bound). */
  exact: boolean;
}

const DEFAULT_PAGE_SIZE = 20;
export const DEFAULT_LIST_BUDGET_MS = 5_000;
/** Trees read at once for a page. */
const TREE_CONCURRENCY = 8;

/**
 * One page of the project's root trees: the QueryParams already validated; the filter compiled
 * here (FilterError for a bad one). Newest first by the root's start (sort_order asc: oldest).
 */
export async function listTraceLogs(deps: TraceLogListDeps, tenant: Tenant, q: QueryParams): Promise<TraceLogPage> {
  const predicate: SpanPredicate | null = compileFilter({
    filter_field: q.filter_field ?? null,
    filter_key: q.filter_key ?? null,
    filter_operator: q.filter_operator ?? null,
    filter_value: q.filter_value ?? null,
  });
  const page = q.page ?? 1;
  const pageSize = q.page_size ?? DEFAULT_PAGE_SIZE;
  const rangeMs = TIME_RANGES[q.time_range ?? 'na'] ?? null;
  const now = deps.now?.() ?? Date.now();
  const range: RootRange = { status: q.status ?? undefined, since: rangeMs === null ? undefined : instantOfMs(now - rangeMs) };
  const forward = q.sort_order === 'asc';
  const skip = (page - 1) * pageSize;
  const deadline = Date.now() + (deps.budgetMs ?? DEFAULT_LIST_BUDGET_MS);

  const picked: { entry: RootEntry; doc: string | null }[] = [];
  let total: number;
  let exact = true;
  const stream = deps.roots.roots(tenant, range, forward, skip + pageSize + 1)[Symbol.asyncIterator]();
  try {
    if (predicate === null) {
      const counted = deps.roots.count(tenant, range);
      let seen = 0;
      for (;;) {
        if (picked.length >= pageSize) break;
        const next = await stream.next();
        if (next.done) break;
        if (seen++ >= skip) picked.push({ entry: next.value, doc: null });
      }
      total = await counted;
    } else {
      // A span filter: the roots are read (100 at a time) and tested, counting every match until the budget is spent.
      let matched = 0;
      let ended = false;
      while (!ended && Date.now() <= deadline) {
        const batch: RootEntry[] = [];
        while (batch.length < 100) {
          const next = await stream.next();
          if (next.done) {
            ended = true;
            break;
          }
          batch.push(next.value);
        }
        const records = batch.length
          ? await readMany(
              deps.store,
              tenant,
              batch.map((e) => e.traceId),
            )
          : new Map();
        for (const entry of batch) {
          const doc = records.get(entry.traceId) ?? null;
          if (doc === null || !predicate(normalizeSpanForWire(JSON.parse(doc) as Record<string, unknown>))) continue;
          if (matched >= skip && picked.length < pageSize) picked.push({ entry, doc });
          matched++;
        }
      }
      total = matched;
      exact = ended;
    }
  } finally {
    await stream.return?.(undefined);
  }

  const trees = await mapLimit(picked, TREE_CONCURRENCY, (p) => treeOf(deps.store, tenant, p.entry, p.doc));
  const results = trees.filter((t): t is string => t !== null);
  // The counters may lag a root just stored (or count one whose spans are gone): never below what this page shows.
  total = Math.max(total, skip + results.length);
  return { results, page, pageSize, total, totalPages: Math.ceil(total / pageSize), exact };
}

/** The root spans' materialized docs by span id (batches of 100). */
async function readMany(store: SpanStore, tenant: Tenant, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (store.getMany) {
    const found = await store.getMany(tenant, ids);
    for (const [id, r] of found) if (r.doc !== null) out.set(id, r.doc);
    return out;
  }
  for (const id of ids) {
    const r = await store.get(tenant, id);
    if (r?.doc) out.set(id, r.doc);
  }
  return out;
}

/** The root's whole tree as TraceLogTree JSON, or null when its span is gone. */
async function treeOf(store: SpanStore, tenant: Tenant, entry: RootEntry, rootDoc: string | null): Promise<string | null> {
  const docs = await store.treeDocs(tenant, entry.rootTraceId);
  const spans = docs.map((d) => JSON.parse(d) as Record<string, unknown>);
  // The tree index may lag the root item just read.
  if (rootDoc !== null) spans.push(JSON.parse(rootDoc) as Record<string, unknown>);
  const forest = buildForest(spans);
  const node = subtree(forest, entry.traceId);
  return node === undefined ? null : treeToJson(node);
}

/** `fn` over the items, at most `limit` at once, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
