/**
 * `GET .../traces?search=` on the search index (DynamoTraceStore hands a search here when the
 * index is configured). A page is the index's hits merged, in the list's order, with the
 * unindexed tail's matches, read from the table:
 * - the uploads whose work the indexer has not done yet (their traces, from the list index, gsi4:
 *   an upload's order keys share a prefix);
 * - the traces whose entries are being refreshed (deleted, or changed OTel traces): their entries
 *   are not answered, the traces as stored are (a deleted one is gone).
 * Totals are exact: the index counts its matches without reading them, the tail is read whole.
 * With a status or judge filter the index's hits are read in order and filtered on their items:
 * exact when they are all read within the time budget, else a lower bound with a cursor (as the
 * list's scans answer).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CursorError, decodeCursor, encodeCursor } from '../../domain/list-query.js';
import { matchesText, queryWords } from '../../domain/search/terms.js';
import type { SearchHit, SearchIndex, SearchPosition, SearchWork } from '../../domain/search/search-index.js';
import type { Tenant } from '../../domain/tenancy.js';
import type { ListPage, ListQuery, TraceView } from '../../domain/traces.js';
import type { RangeQuery } from '../../domain/jobs.js';
import { uploadOrderPrefix } from './keys.js';
import { itemSearchText } from './search-work.js';
import { compareKeys, mergeShards, projectTraceOrder } from './sharded-query.js';

type Item = Record<string, unknown>;

/** What the trace store lends a search: reading trace items by id, and its view of an item. */
export interface SearchListHooks {
  /** Date.now() after which reading stops (the list's budget). */
  deadline: number;
  /** The trace items of these ids, in order (undefined where one is gone). */
  items(ids: string[]): Promise<(Item | undefined)[]>;
  view(item: Item): Promise<TraceView>;
}

/** A hit's place in the order, from an item or an index hit. */
interface Placed {
  id: string;
  position: SearchPosition;
  item?: Item;
}

const WALK_CHUNK = 100;
/** Entries a range slice reads at least before it looks at its deadline. */
const MIN_RANGE_READ = 25;

export class IndexedSearch {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly index: SearchIndex,
    private readonly work: SearchWork,
  ) {}

  /**
   * The tail is read before the index is asked: an upload the indexer commits in between would be
   * answered twice (its traces in both). The page drops such a trace from the index's side; and when
   * an upload of the tail turned out indexed meanwhile, the page is read again (totals would count it
   * twice), at most three times (an upload is indexed once; the third read's totals are a bound).
   */
  async list(tenant: Tenant, q: ListQuery, timeRange: string | undefined, hooks: SearchListHooks): Promise<ListPage> {
    for (let attempt = 1; ; attempt++) {
      const unindexed = await this.tail(tenant, hooks);
      const page = await this.listOnce(tenant, q, timeRange, hooks, unindexed);
      if (attempt === 3) return { ...page, totalExact: false };
      if (!(await this.indexedMeanwhile(tenant, unindexed.uploads))) return page;
    }
  }

  /** Whether any of these uploads (the tail's, when it was read) is in the index now. */
  private async indexedMeanwhile(tenant: Tenant, uploadIds: string[]): Promise<boolean> {
    return (await Promise.all(uploadIds.map((u) => this.index.hasUpload(tenant, u)))).some(Boolean);
  }

  private async listOnce(
    tenant: Tenant,
    q: ListQuery,
    timeRange: string | undefined,
    hooks: SearchListHooks,
    unindexed: { exclude: Set<string>; items: Item[]; complete: boolean },
  ): Promise<ListPage> {
    const fromCursor = q.cursor ? decodeCursor(tenant, q, timeRange, q.cursor) : null;
    const query = fromCursor?.since ? { ...q, since: fromCursor.since } : q;
    let after: SearchPosition | undefined;
    if (fromCursor) {
      const s = fromCursor.key.s;
      if (typeof s !== 'string' || !s || (query.sortBy === 'filename') !== (fromCursor.key.f !== undefined))
        throw new CursorError('cursor does not belong to this query');
      after = { sortKey: s, ...(fromCursor.key.f !== undefined ? { filename: fromCursor.key.f } : {}) };
    }
    const skip = fromCursor ? 0 : (query.page - 1) * query.pageSize;
    const words = queryWords(query.search ?? '');
    const sign = query.sortOrder === 'asc' ? 1 : -1;
    const order = (a: Placed, b: Placed) => sign * comparePlaced(a.position, b.position, query.sortBy);
    const isAfter = (p: SearchPosition) => after === undefined || order({ id: '', position: after }, { id: '', position: p }) < 0;

    // The tail: what the index does not answer yet, read from the table.
    const { exclude, items: tailItems, complete: tailComplete } = unindexed;
    const filters = itemFilter(query);
    const tail = tailItems
      .filter((i) => filters(i) && words.length > 0 && matchesText(itemSearchText(i), words))
      .map((i): Placed => ({ id: idOf(tenant, i), position: { sortKey: String(i.ok), filename: String(i.filename) }, item: i }))
      .sort(order);
    const tailAfter = tail.filter((t) => isAfter(t.position));
    // A trace in both (its upload indexed since the tail was read) is answered once, from the tail.
    const inTail = new Set(tail.map((t) => t.id));

    const want = skip + query.pageSize;
    const base = {
      tenant,
      text: query.search ?? '',
      source: query.source,
      since: query.since,
      sortBy: query.sortBy,
      sortOrder: query.sortOrder,
      exclude,
    } as const;
    if (query.status === undefined && query.judgeId === undefined) {
      const page = await this.index.query({ ...base, after, limit: want + 1 });
      const merged = [...page.hits.filter((h) => !inTail.has(h.id)).map(placedHit), ...tailAfter].sort(order);
      const served = merged.slice(skip, want);
      const last = served[served.length - 1];
      return {
        traces: await this.views(served, hooks),
        totalCount: page.total + tail.length,
        totalExact: tailComplete,
        nextCursor: merged.length > want && last ? encodeCursor(tenant, query, timeRange, cursorKey(last.position, query.sortBy)) : null,
      };
    }

    // Status or judge: the index's hits in order, filtered on their items, merged with the tail's,
    // within the budget; counting on after the page for as long again as the page took.
    const index = this.index;
    async function* indexed(): AsyncGenerator<Placed | 'timeout'> {
      let position = after;
      for (let read = 0; ; read++) {
        // Out of time after reading something (so every request moves on): the next page goes on from here.
        if (read > 0 && Date.now() > hooks.deadline) {
          yield 'timeout';
          return;
        }
        const page = await index.query({ ...base, after: position, limit: WALK_CHUNK });
        const found = await hooks.items(page.hits.map((h) => h.id));
        for (const [i, h] of page.hits.entries()) {
          const item = found[i];
          if (item !== undefined && filters(item) && !inTail.has(h.id)) yield { ...placedHit(h), item };
        }
        if (!page.more || page.hits.length === 0) return;
        position = placedHit(page.hits[page.hits.length - 1]!).position;
      }
    }
    const before = fromCursor?.matchedBefore ?? 0;
    const started = Date.now();
    const served: Placed[] = [];
    let matched = 0;
    let matchedToPage = 0;
    let lastRead: SearchPosition | undefined = after;
    let countUntil = Number.POSITIVE_INFINITY;
    let exhausted = false;
    let timedOut = false;
    const stream = indexed();
    let next = await stream.next();
    let ti = 0;
    for (;;) {
      if (next.value === 'timeout' || Date.now() > countUntil) {
        timedOut = true;
        break;
      }
      const fromIndex = next.done ? null : next.value;
      const fromTail = ti < tailAfter.length ? tailAfter[ti]! : null;
      if (fromIndex === null && fromTail === null) {
        exhausted = true;
        break;
      }
      let p: Placed;
      if (fromIndex === null || (fromTail !== null && order(fromTail, fromIndex) < 0)) {
        p = fromTail!;
        ti++;
      } else {
        p = fromIndex;
        next = await stream.next();
      }
      matched++;
      if (served.length === query.pageSize) continue;
      if (matched > skip) served.push(p);
      lastRead = p.position;
      if (served.length === query.pageSize) {
        matchedToPage = matched;
        countUntil = Date.now() + Math.max(50, Date.now() - started);
      }
    }
    await stream.return(undefined);
    if (served.length < query.pageSize) matchedToPage = matched;
    const cursorAt = served.length === query.pageSize ? served[served.length - 1]!.position : lastRead;
    const more = exhausted ? matched > matchedToPage : true;
    return {
      traces: await this.views(served, hooks),
      totalCount: before + matched,
      totalExact: exhausted && tailComplete && !timedOut,
      nextCursor:
        more && cursorAt
          ? encodeCursor(tenant, query, timeRange, cursorKey(cursorAt, query.sortBy), { matchedBefore: before + matchedToPage })
          : null,
    };
  }

  /**
   * An export's or a deletion's slice of a `search` (jobs.ts, exports.ts): the list's matches on
   * the same path, the index's hits merged with the unindexed tail's, in creation order (oldest
   * first), after a position and created at or before `until`, so the range is what the list
   * answers for the same query. Both are read lazily, in order: the index WALK_CHUNK hits at a
   * time (a status or judge tested on the hits' items), the tail an upload's entries at a time
   * from the position on (its traces read in batches and matched as the list's tail is). The
   * position moves past every entry read, matching or not, so a slice stopped by the deadline
   * (after one entry at least) is where the next one goes on.
   */
  async range(tenant: Tenant, q: RangeQuery, hooks: SearchListHooks): Promise<RangeSlice> {
    const f = q.filters;
    const words = queryWords(f.search ?? '');
    const upper = `${q.until}~`;
    const inRange = (sortKey: string) => (q.after === null || compareKeys(sortKey, q.after) > 0) && compareKeys(sortKey, upper) <= 0;
    const filters = itemFilter({ source: f.source, since: f.since, status: f.status, judgeId: f.judgeId } as ListQuery);
    const matches = (i: Item | undefined) => i !== undefined && filters(i) && words.length > 0 && matchesText(itemSearchText(i), words);
    // The items are needed to test a status or judge, and for the documents.
    const needItems = q.documents || f.status !== undefined || f.judgeId !== undefined;

    const work = await this.work.pending(tenant);
    const exclude = new Set(work.flatMap((w) => (w.kind === 'trace' ? [w.traceId] : [])));
    const uploads = work.filter((w): w is Extract<typeof w, { kind: 'upload' }> => w.kind === 'upload');
    const pending = (
      await Promise.all(
        uploads.map(async (u) => ((await this.index.hasUpload(tenant, u.uploadId)) ? null : uploadOrderPrefix(u.createdAt, u.uploadId))),
      )
    )
      .filter((p): p is string => p !== null)
      .sort(compareKeys);

    const index = this.index;
    const base = {
      tenant,
      text: f.search ?? '',
      source: f.source,
      since: f.since,
      sortBy: 'created_at',
      sortOrder: 'asc',
      exclude,
    } as const;
    async function* indexed(): AsyncGenerator<Entry> {
      let after: SearchPosition | undefined = q.after === null ? undefined : { sortKey: q.after };
      for (;;) {
        const page = await index.query({ ...base, after, limit: WALK_CHUNK });
        const hits = page.hits.map(placedHit).filter((h) => inRange(h.position.sortKey));
        const found = needItems && hits.length > 0 ? await hooks.items(hits.map((h) => h.id)) : [];
        for (const [i, h] of hits.entries()) {
          const item = found[i];
          yield { ...h, ...(item !== undefined ? { item } : {}), match: !needItems || (item !== undefined && filters(item)) };
        }
        if (!page.more || page.hits.length === 0 || hits.length < page.hits.length) return;
        after = placedHit(page.hits[page.hits.length - 1]!).position;
      }
    }
    const doc = this.doc;
    const table = this.table;
    async function* tail(): AsyncGenerator<Entry> {
      // Traces being refreshed: their entries are not answered, the traces as stored are.
      const refreshed =
        exclude.size > 0 ? (await hooks.items([...exclude])).filter((i): i is Item => i !== undefined && inRange(String(i.ok))) : [];
      refreshed.sort((a, b) => compareKeys(String(a.ok), String(b.ok)));
      let r = 0;
      const asEntry = (i: Item): Entry => ({ id: idOf(tenant, i), position: { sortKey: String(i.ok) }, item: i, match: matches(i) });
      for (const prefix of pending) {
        const low = `${prefix}`;
        const high = `${prefix}~`;
        if (compareKeys(high, q.after ?? '') <= 0 || compareKeys(low, upper) > 0) continue;
        const stream = mergeShards(doc, {
          ...projectTraceOrder(table, tenant.organizationId, tenant.projectId),
          lower:
            q.after !== null && compareKeys(q.after, low) >= 0 ? { value: q.after, inclusive: false } : { value: low, inclusive: true },
          upper: compareKeys(high, upper) <= 0 ? { value: high, inclusive: true } : { value: upper, inclusive: true },
          forward: true,
          projection: ['pk'],
          expect: WALK_CHUNK,
        });
        let batch: Item[] = [];
        const flush = async function* (): AsyncGenerator<Entry> {
          const ids = batch.map((e) => idOf(tenant, e));
          const found = ids.length > 0 ? await hooks.items(ids) : [];
          for (const [i, e] of batch.entries()) {
            const key = String(e.ok);
            while (r < refreshed.length && compareKeys(String(refreshed[r]!.ok), key) < 0) yield asEntry(refreshed[r++]!);
            if (exclude.has(ids[i]!)) continue;
            const item = found[i];
            yield item !== undefined ? asEntry(item) : { id: ids[i]!, position: { sortKey: key }, match: false };
          }
          batch = [];
        };
        for await (const e of stream) {
          batch.push(e);
          if (batch.length === WALK_CHUNK) yield* flush();
        }
        yield* flush();
      }
      while (r < refreshed.length) yield asEntry(refreshed[r++]!);
    }

    const taken: RangeSlice['taken'] = [];
    let position = q.after;
    let read = 0;
    const a = indexed();
    const b = tail();
    try {
      let x = await a.next();
      let y = await b.next();
      for (;;) {
        if (x.done && y.done) return { taken, position, done: true };
        // Out of time after a batch's worth of entries (so every slice moves on): the next slice goes on from here.
        if (taken.length === q.limit || (read >= MIN_RANGE_READ && Date.now() > hooks.deadline)) return { taken, position, done: false };
        let e: Entry;
        // The same trace from both sides (its upload indexed since the tail's uploads were listed): once, from the tail.
        if (!x.done && !y.done && x.value.position.sortKey === y.value.position.sortKey) x = await a.next();
        if (x.done && y.done) return { taken, position, done: true };
        if (y.done || (!x.done && compareKeys(x.value.position.sortKey, y.value.position.sortKey) <= 0)) {
          e = x.value as Entry;
          x = await a.next();
        } else {
          e = y.value;
          y = await b.next();
        }
        read++;
        position = e.position.sortKey;
        if (e.match) taken.push({ id: e.id, position: e.position, ...(e.item !== undefined ? { item: e.item } : {}) });
      }
    } finally {
      await a.return(undefined);
      await b.return(undefined);
    }
  }

  /** The project's unindexed tail: the traces of uploads not in the index yet, and of traces being refreshed (their entries excluded). */
  private async tail(
    tenant: Tenant,
    hooks: SearchListHooks,
  ): Promise<{ exclude: Set<string>; items: Item[]; complete: boolean; uploads: string[] }> {
    const work = await this.work.pending(tenant);
    const exclude = new Set(work.flatMap((w) => (w.kind === 'trace' ? [w.traceId] : [])));
    const uploads = work.filter((w): w is Extract<typeof w, { kind: 'upload' }> => w.kind === 'upload');
    const pending = (await Promise.all(uploads.map(async (u) => ((await this.index.hasUpload(tenant, u.uploadId)) ? null : u)))).filter(
      (u) => u !== null,
    );
    const items = new Map<string, Item>();
    let complete = true;
    for (const u of pending) {
      const prefix = uploadOrderPrefix(u.createdAt, u.uploadId);
      const stream = mergeShards(this.doc, {
        ...projectTraceOrder(this.table, tenant.organizationId, tenant.projectId),
        lower: { value: prefix, inclusive: true },
        upper: { value: `${prefix}~`, inclusive: true },
        forward: true,
        projection: ['pk'],
        expect: 1000,
      });
      for await (const entry of stream) {
        items.set(String(entry.pk), entry);
        if (Date.now() > hooks.deadline) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
    }
    // The entries' traces and those being refreshed, read whole as stored now (a status or judge filter needs the items).
    const ids = [...new Set([...[...items.values()].map((e) => idOf(tenant, e)), ...exclude])];
    items.clear();
    for (const i of ids.length > 0 ? await hooks.items(ids) : []) if (i !== undefined) items.set(String(i.pk), i);
    return { exclude, items: [...items.values()], complete, uploads: pending.map((u) => u.uploadId) };
  }

  private async views(served: Placed[], hooks: SearchListHooks): Promise<TraceView[]> {
    const missing = served.filter((p) => p.item === undefined);
    const found = missing.length > 0 ? await hooks.items(missing.map((p) => p.id)) : [];
    const byId = new Map(missing.map((p, i) => [p.id, found[i]]));
    const items = served.flatMap((p) => {
      const item = p.item ?? byId.get(p.id);
      return item === undefined ? [] : [item];
    });
    return Promise.all(items.map((i) => hooks.view(i)));
  }
}

/** What a range slice took: the matches in order (with their items when read), and where the next slice starts. */
export interface RangeSlice {
  taken: { id: string; position: SearchPosition; item?: Item }[];
  position: string | null;
  done: boolean;
}

/** An entry a range read, in order: a hit of the index or a trace of the tail, and whether it matches. */
interface Entry extends Placed {
  match: boolean;
}

function placedHit(h: SearchHit): Placed {
  return { id: h.id, position: { sortKey: h.sortKey, filename: h.filename } };
}

function comparePlaced(a: SearchPosition, b: SearchPosition, sortBy: ListQuery['sortBy']): number {
  if (sortBy === 'filename') {
    const byName = compareKeys(a.filename ?? '', b.filename ?? '');
    if (byName !== 0) return byName;
  }
  return compareKeys(a.sortKey, b.sortKey);
}

function cursorKey(p: SearchPosition, sortBy: ListQuery['sortBy']): Record<string, string> {
  return sortBy === 'filename' ? { s: p.sortKey, f: p.filename ?? '' } : { s: p.sortKey };
}

function idOf(tenant: Tenant, item: Item): string {
  return String(item.pk).slice(`T#${tenant.organizationId}#${tenant.projectId}#`.length);
}

/** The query's filters other than the words, on a read trace item. */
function itemFilter(q: ListQuery): (i: Item) => boolean {
  return (i) =>
    i.type === 'trace' &&
    (q.source === undefined || i.source === q.source) &&
    (q.since === undefined || String(i.ok) >= q.since) &&
    (q.status === undefined || (q.status === 'unevaluated' ? i.eval_status === undefined : i.eval_status === q.status)) &&
    (q.judgeId === undefined || (i.judge_ids instanceof Set && i.judge_ids.has(q.judgeId)));
}
