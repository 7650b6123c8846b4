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

export class IndexedSearch {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly index: SearchIndex,
    private readonly work: SearchWork,
  ) {}

  async list(tenant: Tenant, q: ListQuery, timeRange: string | undefined, hooks: SearchListHooks): Promise<ListPage> {
    const fromCursor = q.cursor ? decodeCursor(tenant, q, timeRange, q.cursor) : null;
    const query = fromCursor?.since ? { ...q, since: fromCursor.since } : q;
    let after: SearchPosition | undefined;
    if (fromCursor) {
      const s = fromCursor.key.s;
      if (typeof s !== 'string' || !s || (query.sortBy === 'filename') !== (fromCursor.key.f !== undefined)) throw new CursorError('cursor does not belong to this query');
      after = { sortKey: s, ...(fromCursor.key.f !== undefined ? { filename: fromCursor.key.f } : {}) };
    }
    const skip = fromCursor ? 0 : (query.page - 1) * query.pageSize;
    const words = queryWords(query.search ?? '');
    const sign = query.sortOrder === 'asc' ? 1 : -1;
    const order = (a: Placed, b: Placed) => sign * comparePlaced(a.position, b.position, query.sortBy);
    const isAfter = (p: SearchPosition) => after === undefined || order({ id: '', position: after }, { id: '', position: p }) < 0;

    // The tail: what the index does not answer yet, read from the table.
    const { exclude, items: tailItems, complete: tailComplete } = await this.tail(tenant, hooks);
    const filters = itemFilter(query);
    const tail = tailItems
      .filter((i) => filters(i) && words.length > 0 && matchesText(itemSearchText(i), words))
      .map((i): Placed => ({ id: idOf(tenant, i), position: { sortKey: String(i.ok), filename: String(i.filename) }, item: i }))
      .sort(order);
    const tailAfter = tail.filter((t) => isAfter(t.position));

    const want = skip + query.pageSize;
    const base = { tenant, text: query.search ?? '', source: query.source, since: query.since, sortBy: query.sortBy, sortOrder: query.sortOrder, exclude } as const;
    if (query.status === undefined && query.judgeId === undefined) {
      const page = await this.index.query({ ...base, after, limit: want + 1 });
      const merged = [...page.hits.map(placedHit), ...tailAfter].sort(order);
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
          if (item !== undefined && filters(item)) yield { ...placedHit(h), item };
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
      nextCursor: more && cursorAt ? encodeCursor(tenant, query, timeRange, cursorKey(cursorAt, query.sortBy), { matchedBefore: before + matchedToPage }) : null,
    };
  }

  /** The project's unindexed tail: the traces of uploads not in the index yet, and of traces being refreshed (their entries excluded). */
  private async tail(tenant: Tenant, hooks: SearchListHooks): Promise<{ exclude: Set<string>; items: Item[]; complete: boolean }> {
    const work = await this.work.pending(tenant);
    const exclude = new Set(work.flatMap((w) => (w.kind === 'trace' ? [w.traceId] : [])));
    const uploads = work.filter((w): w is Extract<typeof w, { kind: 'upload' }> => w.kind === 'upload');
    const pending = (await Promise.all(uploads.map(async (u) => ((await this.index.hasUpload(tenant, u.uploadId)) ? null : u)))).filter((u) => u !== null);
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
    return { exclude, items: [...items.values()], complete };
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
