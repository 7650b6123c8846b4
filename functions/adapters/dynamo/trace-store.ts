import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CursorError, decodeCursor, encodeCursor } from '../../domain/list-query.js';
import { renderInput } from '../../domain/render-input.js';
import type { Tenant } from '../../domain/tenancy.js';
import { unpackText } from '../../domain/trace.js';
import { matchesText } from '../../domain/search/terms.js';
import { planListRead, planTotal, totalCarriedByCursor, type ListFilters, type TotalPlan } from '../../domain/list-plan.js';
import type { LastEvaluation, ListPage, ListQuery, TraceReader, TraceView } from '../../domain/traces.js';
import type { RangePage, RangeQuery, TraceRangeReader } from '../../domain/jobs.js';
import { evalCounterTotals, type EvalTotals } from './eval-counters.js';
import { allShards, createdAtOf, HOUR_COUNTER_PREFIX, keys, TRACE_SHARDS, traceIndex } from './keys.js';
import { upgradeLegacyTrace } from './migration.js';
import { batchGetAll, queryPages } from './query.js';
import { ID_CHUNK_SIZE } from '../../domain/limits.js';
import { readIdChunk } from './upload-ids.js';
import { countSharded, mergeShards, type Bound, type ShardedQuery } from './sharded-query.js';
import type { IndexedSearch } from './search-list.js';
import { itemSearchText } from './search-work.js';
import { packedDocument, storedInput } from './trace-writer.js';

interface PayloadReader {
  read(key: string): Promise<{ input: string | null; document: string }>;
}

export interface TraceStoreOptions {
  /** How long a list request may read before it answers what it has, with a cursor to go on (ms). */
  budgetMs?: number;
  /** The full-text index (search-list.ts): a search goes there; without it, the budgeted scan below. */
  search?: IndexedSearch;
}

/** API functions time out after 10 s; a list that reads for this long answers what it has found, with a cursor. */
export const DEFAULT_LIST_BUDGET_MS = 5_000;

type Item = Record<string, unknown>;

/** Which trace items a page reads behind its index entries: all, those whose entry lacks the document (`big`), or none (ids alone). */
type Hydration = 'all' | 'big' | 'none';

/** How a list query reads: which index and partitions (one per shard), whether its entries must be completed by reading the items, and what it filters. */
interface Driver {
  query: Omit<ShardedQuery, 'lower' | 'upper' | 'forward' | 'expect'>;
  /**
   * `all`: the index entries lack the trace's view, read the items (BatchGetItem); `big`: they hold
   * it but for a document too big to copy into the index (`doc_zb`), read those items only.
   */
  hydrate: Hydration;
  /** A filter the index cannot apply, on the (read) item; null: every entry matches. */
  matches: ((item: Item) => boolean) | null;
}

/** What a scan of a driver found. */
interface Scan {
  items: Item[];
  /** Matches up to the position (those skipped for a page number included). */
  matched: number;
  /** Matches read in all (past the position too, when counting on for a total). */
  counted: number;
  /** Where the next page starts: the order key of the last item served, or of the last entry read when the budget ran out. */
  position: string | undefined;
  /** Entries (or uploads) may follow the position. */
  more: boolean;
  /** The whole range was read. */
  exhausted: boolean;
  /** Filename order: the upload the position is in (its filename sort key). */
  upload?: string;
}

export class DynamoTraceStore implements TraceReader, TraceRangeReader {
  private readonly budgetMs: number;
  private readonly search: IndexedSearch | undefined;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly payloads: PayloadReader,
    options: TraceStoreOptions = {},
  ) {
    this.budgetMs = options.budgetMs ?? DEFAULT_LIST_BUDGET_MS;
    this.search = options.search;
  }

  async get(tenant: Tenant, id: string): Promise<TraceView | null> {
    const key = keys.trace(tenant.organizationId, tenant.projectId, id);
    let out = await this.doc.send(new GetCommand({ TableName: this.table, Key: key }));
    if (out.Item?.type !== 'trace') return null;
    // A trace the migration has not reached yet (no order key): rewritten first (once), then read again.
    if (out.Item.ok === undefined) {
      if (!(await upgradeLegacyTrace(this.doc, this.table, key))) return null;
      out = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      if (!out.Item || out.Item.ok === undefined) return null;
    }
    return this.view(tenant, out.Item);
  }

  /**
   * One page of a project's traces, as the list's plans say (functions/domain/list-plan.ts): the
   * index the read plan names (every trace: gsi4, by source: gsi5, by status or judge: member
   * items, gsi2/gsi3), each spread over TRACE_SHARDS partitions whose sorted streams are merged;
   * the time range and the cursor are key conditions, so a page by cursor costs the same at any
   * depth. What no index answers is read in order, within a time budget: when it runs out, the
   * answer holds what was found and a cursor that goes on from where the reading stopped. The
   * total is counted as the total's plan says.
   */
  async list(tenant: Tenant, q: ListQuery, timeRange?: string): Promise<ListPage> {
    const deadline = Date.now() + this.budgetMs;
    if (q.search !== undefined && this.search) {
      return this.search.list(tenant, q, timeRange, {
        deadline,
        items: (ids) =>
          this.hydrate(
            tenant,
            ids.map((id) => ({ trace_id: id })),
          ),
        view: (i) => this.view(tenant, i),
      });
    }
    const fromCursor = q.cursor ? decodeCursor(tenant, q, timeRange, q.cursor) : null;
    const query = fromCursor?.since ? { ...q, since: fromCursor.since } : q;
    const skip = fromCursor ? 0 : (q.page - 1) * q.pageSize;
    const scan =
      query.sortBy === 'filename'
        ? await this.scanByFilename(tenant, query, fromCursor, skip, deadline)
        : await this.scanByOrder(tenant, query, fromCursor, skip, deadline);

    // A total no counter or index gives is the matches read so far: exact once the whole range has been read.
    const plan = planTotal(query);
    const counted =
      plan.by === 'reading'
        ? null
        : fromCursor?.total !== undefined
          ? { count: fromCursor.total, exact: true }
          : await this.total(tenant, query, plan, deadline);
    const before = fromCursor?.matchedBefore ?? 0;
    const seen = before + scan.matched;
    const total = counted?.exact ? counted : { count: before + scan.counted, exact: counted === null && scan.exhausted };
    const traces = await Promise.all(scan.items.map((i) => this.view(tenant, i)));
    const nextCursor =
      scan.more && scan.position !== undefined
        ? encodeCursor(
            tenant,
            query,
            timeRange,
            { s: scan.position, ...(scan.upload !== undefined ? { u: scan.upload } : {}) },
            {
              ...(counted?.exact && totalCarriedByCursor(query) ? { total: counted.count } : {}),
              matchedBefore: seen,
            },
          )
        : null;
    return { traces, totalCount: total.count, totalExact: total.exact, nextCursor };
  }

  /**
   * The traces matching the list's filters in creation order, oldest first, after a position and
   * created at or before `until` (an export's or a deletion's anchored range): the list's drivers,
   * merged shards and budgeted filtered reading, a key condition on both ends.
   */
  async range(tenant: Tenant, q: RangeQuery): Promise<RangePage> {
    // A search goes where the list's goes (the index and its unindexed tail), so the range is the list's matches.
    if (q.filters.search !== undefined && this.search) {
      const slice = await this.search.range(tenant, q, {
        deadline: q.deadline,
        items: (ids) =>
          this.hydrate(
            tenant,
            ids.map((id) => ({ trace_id: id })),
          ),
        view: (i) => this.view(tenant, i),
      });
      const items = await Promise.all(
        slice.taken.map(async (t) => {
          let item = t.item;
          if (q.documents && item === undefined) item = (await this.hydrate(tenant, [{ trace_id: t.id }]))[0];
          return {
            id: t.id,
            position: t.position.sortKey,
            ...(q.documents && item !== undefined ? { view: await this.view(tenant, item) } : {}),
          };
        }),
      );
      // A trace gone between the index's hit and its read is not exported.
      return { items: q.documents ? items.filter((i) => i.view !== undefined) : items, position: slice.position, done: slice.done };
    }
    const d = driverFor(tenant, q.filters, this.table);
    // Ids alone need the items only to test a search (an index entry names its trace).
    const hydrate: Hydration = q.documents || d.matches !== null ? d.hydrate : 'none';
    const lower: Bound | undefined =
      q.after !== null ? { value: q.after, inclusive: false } : q.filters.since ? { value: q.filters.since, inclusive: true } : undefined;
    // Order keys start with the creation time: `<until>~` sorts after every key created at `until`.
    const upper: Bound = { value: `${q.until}~`, inclusive: true };
    const stream = mergeShards(this.doc, { ...d.query, lower, upper, forward: true, expect: q.limit + 1 });
    const scan = await this.take(tenant, stream, { ...d, hydrate }, 0, q.limit, q.deadline, false);
    const prefix = keys.trace(tenant.organizationId, tenant.projectId, '').pk;
    const items = await Promise.all(
      scan.items.map(async (i) => ({
        id: typeof i.trace_id === 'string' ? i.trace_id : String(i.pk).slice(prefix.length),
        position: String(i.ok ?? i[d.query.skAttr]),
        ...(q.documents ? { view: await this.view(tenant, i) } : {}),
      })),
    );
    return { items, position: scan.position ?? q.after, done: !scan.more };
  }

  // --- created_at order ---------------------------------------------------------------------

  private async scanByOrder(
    tenant: Tenant,
    q: ListQuery,
    fromCursor: ReturnType<typeof decodeCursor> | null,
    skip: number,
    deadline: number,
  ): Promise<Scan> {
    const d = driverFor(tenant, q, this.table);
    const forward = q.sortOrder === 'asc';
    let lower: Bound | undefined = q.since ? { value: q.since, inclusive: true } : undefined;
    let upper: Bound | undefined;
    if (fromCursor) {
      const after = fromCursor.key.s;
      if (typeof after !== 'string' || !after || fromCursor.key.u !== undefined)
        throw new CursorError('cursor does not belong to this query');
      // A cursor of this query never points before its own time range; only a hand-made one could.
      if (q.since && after < q.since) throw new CursorError('cursor does not belong to this query');
      if (forward) lower = { value: after, inclusive: false };
      else upper = { value: after, inclusive: false };
    }
    const stream = mergeShards(this.doc, { ...d.query, lower, upper, forward, expect: skip + q.pageSize + 1 });
    return this.take(tenant, stream, d, skip, q.pageSize, deadline, planTotal(q).by === 'reading');
  }

  /**
   * Takes matches from a stream of index entries: `skip` of them, then a page of `want`. Entries
   * are read (hydrated) in batches when the driver needs the items; filtered reading stops at the
   * deadline. With `countOn`, matches after the page are counted on for as long again as the page
   * took (50 ms at least), so a total only the reading can count is exact when that reaches the end.
   */
  private async take(
    tenant: Tenant,
    stream: AsyncGenerator<Item>,
    d: Pick<Driver, 'hydrate' | 'matches' | 'query'>,
    skip: number,
    want: number,
    deadline: number,
    countOn: boolean,
  ): Promise<Scan> {
    const started = Date.now();
    const filtered = d.matches !== null || d.query.filter !== undefined;
    const skAttr = d.query.skAttr;
    const items: Item[] = [];
    let matched = 0;
    let position: string | undefined;
    /** Set once the page is full: the matches up to its last item, and when counting on stops. */
    let full: { matched: number; until: number } | null = null;
    const it = stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        // Out of time (after reading something, so every request moves on): the next page goes on from here.
        if (full === null && filtered && position !== undefined && Date.now() > deadline)
          return { items, matched, counted: matched, position, more: true, exhausted: false };
        if (full !== null && Date.now() > full.until)
          return { items, matched: full.matched, counted: matched, position, more: true, exhausted: false };
        // Entries come in batches: their items (those they do not hold) are read together, with one BatchGetItem.
        const size = full !== null ? 100 : Math.min(100, Math.max(filtered ? 25 : 1, skip + want - matched));
        const batch: Item[] = [];
        let ended = false;
        while (batch.length < size) {
          const next = await it.next();
          if (next.done) {
            ended = true;
            break;
          }
          batch.push(next.value);
        }
        const read = await this.hydrate(tenant, batch, d.hydrate);
        for (let i = 0; i < batch.length; i++) {
          const item = read[i];
          const match = item !== undefined && (d.matches === null || d.matches(item));
          if (match) matched++;
          if (full !== null) continue;
          if (match && matched > skip) items.push(item);
          position = String(batch[i]![skAttr]);
          // Out of time inside a batch: the next page goes on right after this entry (the rest of the batch is read again).
          if (filtered && items.length < want && i < batch.length - 1 && Date.now() > deadline)
            return { items, matched, counted: matched, position, more: true, exhausted: false };
          if (items.length === want) {
            if (!countOn) {
              // Entries after this one (in the batch, or still to come) may match: the next page starts here.
              const more = i < batch.length - 1 || (!ended && !(await it.next()).done);
              return { items, matched, counted: matched, position, more, exhausted: !more };
            }
            full = { matched, until: Date.now() + Math.max(50, Date.now() - started) };
          }
        }
        if (ended) {
          if (full === null) return { items, matched, counted: matched, position, more: false, exhausted: true };
          // Counted to the end: exact, and a next page only if anything matched after this one.
          return { items, matched: full.matched, counted: matched, position, more: matched > full.matched, exhausted: true };
        }
      }
    } finally {
      await it.return?.(undefined);
    }
  }

  /**
   * The trace items behind index entries, in the entries' order (undefined where one is gone): all of
   * them, or (`big`) only those of entries that hold the trace but for its document (an entry of gsi4
   * whose document was too big to copy into the index); the others are answered from the entry.
   */
  private async hydrate(tenant: Tenant, entries: Item[], which: Hydration = 'all'): Promise<(Item | undefined)[]> {
    if (which === 'none') return entries;
    const keyOf = (e: Item) =>
      typeof e.trace_id === 'string' ? keys.trace(tenant.organizationId, tenant.projectId, e.trace_id) : { pk: String(e.pk), sk: 'T' };
    const needs = (e: Item) => which === 'all' || (!(e.doc_z instanceof Uint8Array) && typeof e.payload_key !== 'string');
    const wanted = entries.filter(needs).map(keyOf);
    if (wanted.length === 0) return entries;
    const found = new Map((await batchGetAll(this.doc, this.table, wanted)).map((item) => [String(item.pk), item]));
    return entries.map((e) => (needs(e) ? found.get(keyOf(e).pk) : e));
  }

  // --- filename order -------------------------------------------------------------------------

  /**
   * sort_by=filename walks the project's completed uploads in filename order (one small item per
   * upload, gsi1) and each upload's traces in file order (its id chunks), reading the traces by
   * key. Filters are applied to the items read, within the budget.
   */
  private async scanByFilename(
    tenant: Tenant,
    q: ListQuery,
    fromCursor: ReturnType<typeof decodeCursor> | null,
    skip: number,
    deadline: number,
  ): Promise<Scan> {
    const forward = q.sortOrder === 'asc';
    let start: { upload: string; index: number } | null = null;
    if (fromCursor) {
      const u = fromCursor.key.u;
      const index = Number(fromCursor.key.s);
      if (typeof u !== 'string' || !u || !Number.isSafeInteger(index) || index < 0)
        throw new CursorError('cursor does not belong to this query');
      start = { upload: u, index };
    }
    // No index narrows this order: every filter is tested on the traces read.
    const matches = itemFilter(q);
    // The uploads' shards merged into one filename order; the cursor's upload is where it starts (its own traces from the cursor's index).
    const uploads = mergeShards(this.doc, {
      table: this.table,
      index: 'gsi1',
      pkAttr: 'gsi1pk',
      skAttr: 'gsi1sk',
      partitions: allShards(TRACE_SHARDS).map((s) => traceIndex.uploadsByFilename(tenant.organizationId, tenant.projectId, s)),
      ...(start
        ? forward
          ? { lower: { value: start.upload, inclusive: true } }
          : { upper: { value: start.upload, inclusive: true } }
        : {}),
      forward,
      // Every trace of an upload has its creation time: a time range drops whole uploads.
      ...(q.since
        ? { filter: { expression: '#created >= :since', names: { '#created': 'created_at' }, values: { ':since': q.since } } }
        : {}),
      expect: 32,
    });
    const items: Item[] = [];
    let matched = 0;
    for await (const u of uploads) {
      const sortKey = String(u.gsi1sk);
      const uploadId = String(u.upload_id);
      const ids = uploadIds(this.doc, this.table, tenant, u, forward, start?.upload === sortKey ? start.index : 0);
      for await (const { index, batch } of ids) {
        const full = await this.hydrate(
          tenant,
          batch.map((id) => ({ trace_id: id })),
        );
        for (let j = 0; j < batch.length; j++) {
          const item = full[j];
          // A trace another upload wrote (identical content uploaded again) is listed under that upload.
          if (item !== undefined && item.upload_id === uploadId && (matches === null || matches(item))) {
            matched++;
            if (matched > skip) items.push(item);
          }
          if (items.length === q.pageSize)
            return { items, matched, counted: matched, position: String(index + j + 1), upload: sortKey, more: true, exhausted: false };
        }
        // Out of time: go on from the next id on the next page.
        if (Date.now() > deadline)
          return {
            items,
            matched,
            counted: matched,
            position: String(index + batch.length),
            upload: sortKey,
            more: true,
            exhausted: false,
          };
      }
    }
    return { items, matched, counted: matched, position: undefined, more: false, exhausted: true };
  }

  // --- totals ----------------------------------------------------------------------------------

  /**
   * Runs a total's plan (functions/domain/list-plan.ts) without reading the matches: the project's
   * counters (all, by source), the hourly counters (time ranges), the evaluation counters (by
   * status, by judge, with a source), or a count of an index range. Answers exact: false when the
   * count would not finish within the budget.
   */
  private async total(
    tenant: Tenant,
    q: ListQuery,
    plan: Exclude<TotalPlan, { by: 'reading' }>,
    deadline: number,
  ): Promise<{ count: number; exact: boolean }> {
    const { organizationId: org, projectId: project } = tenant;
    const all = async () => (q.since ? this.countSince(tenant, q.source, q.since) : this.projectTotal(tenant, q.source));
    if (plan.by === 'traces') return { count: await all(), exact: true };
    const evals = plan.from === 'evaluation-counters' ? await evalCounterTotals(this.doc, this.table, org, project) : null;
    const rangeCount = async (status: string | null, judge: string | null): Promise<number | null> => {
      const d = driverFor(
        tenant,
        { source: q.source, status: (status ?? undefined) as ListQuery['status'], judgeId: judge ?? undefined, search: undefined },
        this.table,
      );
      return countSharded(this.doc, { ...d.query, lower: { value: q.since!, inclusive: true }, forward: true }, deadline);
    };
    const evaluated = async (status: string): Promise<number | null> =>
      evals ? statusCount(evals, status, q.source) : rangeCount(status, null);
    if (plan.by === 'judge') {
      const n = evals ? judgeCount(evals, plan.judgeId, q.source) : await rangeCount(null, plan.judgeId);
      return n === null ? { count: 0, exact: false } : { count: n, exact: true };
    }
    if (plan.by === 'status') {
      const n = await evaluated(plan.status);
      return n === null ? { count: 0, exact: false } : { count: n, exact: true };
    }
    const parts = await Promise.all(['pass', 'fail', 'pending'].map(evaluated));
    if (parts.some((p) => p === null)) return { count: 0, exact: false };
    return { count: Math.max(0, (await all()) - (parts as number[]).reduce((a, b) => a + b, 0)), exact: true };
  }

  private async projectTotal(tenant: Tenant, source: string | undefined): Promise<number> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.counter(tenant.organizationId, tenant.projectId) }));
    const c = out.Item as { traces?: number; by_source?: Record<string, number> } | undefined;
    return source ? (c?.by_source?.[source] ?? 0) : (c?.traces ?? 0);
  }

  /**
   * Traces created at or after `since` (of one source, or all): the hourly counters of every later
   * hour, plus an exact count of the part of the first hour that the range covers (the shards'
   * index ranges). Costs one hour's entries at most, not the range's.
   */
  private async countSince(tenant: Tenant, source: string | undefined, since: string): Promise<number> {
    const firstHour = since.slice(0, 13);
    const nextHourIso = new Date(Date.parse(`${firstHour}:00:00.000Z`) + 3_600_000).toISOString();
    const project = keys.projectPartition(tenant.organizationId, tenant.projectId);
    let total = 0;
    const hours = queryPages(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': project,
        ':from': `${HOUR_COUNTER_PREFIX}${nextHourIso.slice(0, 13)}`,
        ':to': `${HOUR_COUNTER_PREFIX}~`,
      },
    });
    for await (const items of hours) {
      for (const c of items as Array<{ traces?: number; by_source?: Record<string, number> }>) {
        total += source ? (c.by_source?.[source] ?? 0) : (c.traces ?? 0);
      }
    }
    const d = driverFor(tenant, { source }, this.table);
    // Order keys start with the ISO creation time; the next hour's first instant sorts after every key of this hour.
    total += (await countSharded(this.doc, {
      ...d.query,
      lower: { value: since, inclusive: true },
      upper: { value: nextHourIso, inclusive: true },
      forward: true,
    }))!;
    return total;
  }

  // --- the view --------------------------------------------------------------------------------

  private async view(tenant: Tenant, i: Item): Promise<TraceView> {
    const prefix = keys.trace(tenant.organizationId, tenant.projectId, '').pk;
    let input: string | null;
    let document: string;
    const packed = packedDocument(i);
    if (packed !== null) {
      document = unpackText(packed);
      const kept = storedInput(i);
      input = kept !== undefined ? kept : renderInput(JSON.parse(document) as Record<string, unknown>);
    } else if (typeof i.payload_key === 'string') {
      ({ input, document } = await this.payloads.read(i.payload_key));
    } else {
      document = 'null';
      input = null;
    }
    return {
      id: String(i.pk).slice(prefix.length),
      organizationId: tenant.organizationId,
      projectId: tenant.projectId,
      createdAt: createdAtOf(String(i.ok)),
      filename: String(i.filename),
      source: String(i.source),
      integrationId: typeof i.integration_id === 'string' ? i.integration_id : null,
      input,
      document,
      evaluationsCount: typeof i.evaluations_count === 'number' ? i.evaluations_count : 0,
      lastEvaluations: Array.isArray(i.last_evaluations) ? (i.last_evaluations as LastEvaluation[]).map(lastEvaluation) : [],
      uploadId: String(i.upload_id),
    };
  }
}

/**
 * An upload's trace ids in file order (or its reverse), from `from` on, in batches of at most 100
 * with the index of each batch's first id: only the id chunks that hold them are read.
 */
async function* uploadIds(
  doc: DynamoDBDocumentClient,
  table: string,
  tenant: Tenant,
  u: Item,
  forward: boolean,
  from: number,
): AsyncGenerator<{ index: number; batch: string[] }> {
  const total = Number(u.traces ?? 0);
  if (typeof u.ids === 'string') {
    const inline = u.ids.split(',');
    const ordered = forward ? inline : inline.reverse();
    for (let i = from; i < ordered.length; i += 100) yield { index: i, batch: ordered.slice(i, i + 100) };
    return;
  }
  const chunkSize = ID_CHUNK_SIZE;
  let index = from;
  let chunk = { n: -1, ids: [] as string[] };
  while (index < total) {
    const fileIndex = forward ? index : total - 1 - index;
    const n = Math.floor(fileIndex / chunkSize);
    if (chunk.n !== n) chunk = { n, ids: await readIdChunk(doc, table, tenant.organizationId, tenant.projectId, String(u.upload_id), n) };
    const inChunk = fileIndex - n * chunkSize;
    // Up to 100 ids, without leaving this chunk.
    const batch = forward ? chunk.ids.slice(inChunk, inChunk + 100) : chunk.ids.slice(Math.max(0, inChunk - 99), inChunk + 1).reverse();
    if (batch.length === 0) return;
    yield { index, batch };
    index += batch.length;
  }
}

/** The wire shape the Stratix client's model needs (judge_name, judge_version and created_at present, not null). */
function lastEvaluation(e: LastEvaluation): LastEvaluation {
  return {
    ...(e.evaluation_id ? { evaluation_id: e.evaluation_id } : {}),
    judge_id: String(e.judge_id),
    judge_name: String(e.judge_name ?? e.judge_id),
    judge_version: Number(e.judge_version ?? 1),
    created_at: String(e.created_at),
    passed: typeof e.passed === 'boolean' ? e.passed : null,
  };
}

function statusCount(t: EvalTotals, status: string, source: string | undefined): number {
  return source === undefined ? (t.byStatus[status] ?? 0) : (t.byStatusSource[JSON.stringify([status, source])] ?? 0);
}

function judgeCount(t: EvalTotals, judge: string, source: string | undefined): number {
  return source === undefined ? (t.byJudge[judge] ?? 0) : (t.byJudgeSource[JSON.stringify([judge, source])] ?? 0);
}

/** Does the (read) trace item match the query's search? The index's semantics (terms.ts), over the text `searchText` made. */
function searchMatches(item: Item, query: string): boolean {
  return matchesText(itemSearchText(item), query);
}

/** The filters given, tested on a read trace item (what an index left, or every filter where none narrows); null: none. */
function itemFilter(q: Partial<Pick<ListQuery, 'source' | 'since' | 'status' | 'judgeId' | 'search'>>): ((item: Item) => boolean) | null {
  const tests: Array<(item: Item) => boolean> = [];
  if (q.source) tests.push((i) => i.source === q.source);
  if (q.since) tests.push((i) => String(i.ok) >= q.since!);
  if (q.status) tests.push((i) => (q.status === 'unevaluated' ? i.eval_status === undefined : i.eval_status === q.status));
  if (q.judgeId) tests.push((i) => i.judge_ids instanceof Set && i.judge_ids.has(q.judgeId));
  if (q.search) tests.push((i) => searchMatches(i, q.search!));
  return tests.length === 0 ? null : (i) => tests.every((t) => t(i));
}

/** The query a list's read plan (functions/domain/list-plan.ts) names: its index's partitions over the shards, and what is left to test on the items. */
function driverFor(tenant: Tenant, q: ListFilters, table: string): Driver {
  const { organizationId: org, projectId: project } = tenant;
  const shards = allShards(TRACE_SHARDS);
  const plan = planListRead(q);
  const matches = itemFilter(plan.residual);
  const index = (name: 'gsi2' | 'gsi3' | 'gsi4' | 'gsi5', partitions: string[]) => ({
    table,
    index: name,
    pkAttr: `${name}pk`,
    skAttr: name === 'gsi4' || name === 'gsi5' ? 'ok' : `${name}sk`,
    partitions,
  });
  const filter = plan.unevaluatedOnly ? { expression: 'attribute_not_exists(#es)', names: { '#es': 'eval_status' } } : undefined;
  const chosen = plan.index;
  switch (chosen.by) {
    case 'judge': {
      const { judgeId, source } = chosen;
      const partitions = shards.map((s) =>
        source ? traceIndex.judgeSource(org, project, s, judgeId, source) : traceIndex.judge(org, project, s, judgeId),
      );
      return { query: index(source ? 'gsi3' : 'gsi2', partitions), hydrate: 'all', matches };
    }
    case 'status': {
      const { status, source } = chosen;
      const partitions = shards.map((s) =>
        source ? traceIndex.statusSource(org, project, status, s, source) : traceIndex.status(org, project, status, s),
      );
      return { query: index(source ? 'gsi3' : 'gsi2', partitions), hydrate: 'all', matches };
    }
    case 'source': {
      const { source } = chosen;
      return {
        query: {
          ...index(
            'gsi5',
            shards.map((s) => traceIndex.source(org, project, s, source)),
          ),
          filter,
        },
        hydrate: 'all',
        matches,
      };
    }
    case 'all':
      // gsi4's entries hold the trace's view, but for documents too big to copy into the index.
      return {
        query: {
          ...index(
            'gsi4',
            shards.map((s) => traceIndex.all(org, project, s)),
          ),
          filter,
        },
        hydrate: 'big',
        matches,
      };
  }
}
