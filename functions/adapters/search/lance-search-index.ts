/**
 * The SearchIndex port on LanceDB (docs/decisions/search.md): one Lance table per project, a
 * full-text (inverted) index on the document's terms (functions/domain/search/terms.ts), with
 * positions so a query word is an exact phrase of its n-grams.
 *
 * Where: a directory (`npm start`: DATA_DIR/search; tests: a temp dir), or S3 on AWS
 * (`s3+ddb://<bucket>/search?ddbTableName=<commit table>`: objects in the trace bucket, and a
 * DynamoDB commit store so concurrent writers never overwrite each other's versions).
 *
 * Writes are Lance commits: atomic (a killed writer leaves no partial batch), and conflicting
 * concurrent commits are retried here. Rows not yet merged into the index (the unindexed tail)
 * are scanned by every query, so a committed trace is found at once; `optimize` merges them.
 */
import { createHash } from 'node:crypto';
import type { Connection, FullTextQuery, Table } from '@lancedb/lancedb';
import { backoffMs, sleep } from '../retry.js';
import { indexTerms, queryWords, termsMatch, type QueryWord } from '../../domain/search/terms.js';
import {
  orderKey,
  type SearchDocument,
  type SearchHit,
  type SearchIndex,
  type SearchIndexStatus,
  type SearchPage,
  type SearchQuery,
} from '../../domain/search/search-index.js';
import type { Tenant } from '../../domain/tenancy.js';

type Lance = typeof import('@lancedb/lancedb');
type Arrow = typeof import('apache-arrow');

export interface LanceSearchIndexOptions {
  /** A local directory (absolute path) or `s3://…` / `s3+ddb://…?ddbTableName=…`. */
  uri: string;
  /** Object store settings (region, endpoint, …), passed to LanceDB as they are. */
  storageOptions?: Record<string, string>;
  /** Versions older than this are removed by `optimize` (readers on an older version keep working until then). */
  keepVersionsMs?: number;
  /** Commit attempts before an upsert or delete gives up (conflicting concurrent writers). */
  maxAttempts?: number;
}

const TERMS = 'terms';
const INDEX_NAME = `${TERMS}_idx`;
/** Rows answered per query before paging in memory: more than any project's matches. */
const ALL = 2_000_000_000;
const DELETE_CHUNK = 1000;

/**
 * The engine's own settings, set before its native module loads. LANCE_CPU_THREADS: on a
 * 2-core machine the index builder's workers deadlock with the default pool of 2 (measured
 * here: a 2,500-row build never ends), 4 avoids it. LANCE_FTS_FORMAT_VERSION=2: compressed
 * positions (1.5 KB of index per ~1 KB trace instead of 12 KB, and a build 2.5x faster).
 */
const ENGINE_ENV: Record<string, string> = { LANCE_CPU_THREADS: '4', LANCE_FTS_FORMAT_VERSION: '2' };

let engine: Promise<{ lance: Lance; arrow: Arrow }> | undefined;

/** Loads LanceDB (a 150 MB native module) on first use only: functions that never search never pay for it. */
function loadEngine(): Promise<{ lance: Lance; arrow: Arrow }> {
  engine ??= (async () => {
    for (const [k, v] of Object.entries(ENGINE_ENV)) process.env[k] ??= v;
    const [lance, arrow] = await Promise.all([import('@lancedb/lancedb'), import('apache-arrow')]);
    return { lance, arrow };
  })();
  return engine;
}

export class LanceSearchIndex implements SearchIndex {
  private connection: Promise<Connection> | undefined;
  private readonly tables = new Map<string, Promise<Table>>();
  private readonly maxAttempts: number;
  private readonly keepVersionsMs: number;

  constructor(private readonly options: LanceSearchIndexOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.keepVersionsMs = options.keepVersionsMs ?? 60 * 60_000;
  }

  async upsert(tenant: Tenant, docs: readonly SearchDocument[], options: { fresh?: boolean } = {}): Promise<void> {
    if (docs.length === 0) return;
    for (const d of docs) {
      if (d.organizationId !== tenant.organizationId || d.projectId !== tenant.projectId) {
        throw new Error(`search document ${d.id} belongs to another project than ${tenant.organizationId}/${tenant.projectId}`);
      }
    }
    const data = docs.map((d) => ({
      id: d.id,
      created_at: d.createdAt,
      sort_key: d.sortKey,
      source: d.source,
      filename: d.filename,
      [TERMS]: indexTerms(d.text),
    }));
    const table = await this.table(tenant, true);
    await this.serially(tenant, () => this.commit(async () => {
      // A fresh upload's ids cannot be there yet: append. Otherwise insert only the ids not there
      // (a retry after a crash finds some or all of them; they are left as they are).
      if (options.fresh) await table.add(data);
      else await table.mergeInsert('id').whenNotMatchedInsertAll().execute(data);
    }));
    await this.ensureIndex(table);
  }

  async remove(tenant: Tenant, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const table = await this.table(tenant, false);
    if (table === null) return;
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const predicate = `id IN (${ids.slice(i, i + DELETE_CHUNK).map(sqlString).join(', ')})`;
      await this.serially(tenant, () => this.commit(() => table.delete(predicate)));
    }
  }

  async query(q: SearchQuery): Promise<SearchPage> {
    const words = queryWords(q.text);
    const table = await this.table(q.tenant, false);
    if (words.length === 0 || table === null || !(await this.hasIndex(table))) return { hits: [], total: 0, next: null };
    const { lance } = await loadEngine();
    const filters: string[] = [];
    if (q.source !== undefined) filters.push(`source = ${sqlString(q.source)}`);
    if (q.since !== undefined) filters.push(`created_at >= ${sqlString(q.since)}`);
    if (q.until !== undefined) filters.push(`created_at < ${sqlString(q.until)}`);
    const where = filters.length > 0 ? filters.join(' AND ') : null;
    const columns = q.sortBy === 'created_at' ? ['sort_key'] : ['sort_key', 'filename'];
    const run = async (fts: FullTextQuery, opts: { fast?: boolean; select?: string[] } = {}) => {
      let query = table.query().fullTextSearch(fts, { columns: TERMS }).select(opts.select ?? columns).withRowId().limit(ALL);
      if (where !== null) query = query.where(where);
      if (opts.fast) query = query.fastSearch();
      return query.toArrow();
    };
    // By order key, which is unique per trace (its sort key): a row the same trace has twice counts once.
    const matches = new Map<string, bigint>();
    const collect = (t: Awaited<ReturnType<typeof run>>) => {
      const rowIds = t.getChild('_rowid')!;
      const sortKeys = t.getChild('sort_key')!;
      const names = q.sortBy === 'filename' ? t.getChild('filename')! : null;
      for (let i = 0; i < t.numRows; i++) {
        const key = names === null ? (sortKeys.get(i) as string) : `${names.get(i) as string}\u0000${sortKeys.get(i) as string}`;
        if (!matches.has(key)) matches.set(key, rowIds.get(i) as bigint);
      }
    };
    const hasPhrase = words.some((w) => !w.anyOf && w.phrase.length > 1);
    const tail = hasPhrase ? await this.unindexedRows(table) : 0;
    if (tail === 0) {
      collect(await run(ftsQuery(lance, words)));
    } else {
      // The engine answers phrases from index segments only, while single terms also scan the rows not
      // yet indexed. So: exact phrase hits from the segments, plus the tail's rows that have every term
      // of every word (the all-terms hits less the segments' all-terms hits), each checked for the phrases.
      collect(await run(ftsQuery(lance, words), { fast: true }));
      const loose = ftsQuery(lance, words, true);
      const [all, indexed] = await Promise.all([run(loose, { select: [] }), run(loose, { fast: true, select: [] })]);
      const inSegments = new Set<bigint>();
      const indexedIds = indexed.getChild('_rowid')!;
      for (let i = 0; i < indexed.numRows; i++) inSegments.add(indexedIds.get(i) as bigint);
      const allIds = all.getChild('_rowid')!;
      const candidates: bigint[] = [];
      for (let i = 0; i < all.numRows; i++) {
        const id = allIds.get(i) as bigint;
        if (!inSegments.has(id)) candidates.push(id);
      }
      for (let i = 0; i < candidates.length; i += 1000) {
        const rows = (await table.takeRowIds(candidates.slice(i, i + 1000)).select([...columns, TERMS]).withRowId().toArray()) as Array<Record<string, unknown>>;
        for (const r of rows) {
          if (!termsMatch(r[TERMS] as string, words)) continue;
          const key = q.sortBy === 'created_at' ? (r.sort_key as string) : `${r.filename as string}\u0000${r.sort_key as string}`;
          if (!matches.has(key)) matches.set(key, r._rowid as bigint);
        }
      }
    }
    const total = matches.size;
    // Order and page here: the engine ranks full-text hits by relevance and its order-by on them is
    // applied to the top hits only (measured), while the list orders by time or filename.
    const desc = q.sortOrder === 'desc';
    const before = (a: string, b: string) => (desc ? a > b : a < b);
    const after = q.after?.key;
    const want = q.limit + 1;
    const best: { key: string; row: bigint }[] = [];
    for (const [key, row] of matches) {
      if (after !== undefined && !before(after, key)) continue;
      if (best.length === want && !before(key, best[want - 1]!.key)) continue;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (before(best[mid]!.key, key)) lo = mid + 1;
        else hi = mid;
      }
      best.splice(lo, 0, { key, row });
      if (best.length > want) best.pop();
    }
    const page = best.slice(0, q.limit);
    const hits = page.length === 0 ? [] : await this.hitsOf(table, page.map((p) => p.row));
    return { hits, total, next: best.length > q.limit && hits.length > 0 ? { key: orderKey(hits[hits.length - 1]!, q.sortBy) } : null };
  }

  async optimize(tenant: Tenant): Promise<SearchIndexStatus> {
    const table = await this.table(tenant, false);
    if (table === null) return { documents: 0, unindexed: 0 };
    await this.ensureIndex(table);
    const before = await this.statusOf(table);
    if (before.unindexed > 0 || (await table.stats()).fragmentStats.numFragments > 1) {
      await this.commit(() => table.optimize({ cleanupOlderThan: new Date(Date.now() - this.keepVersionsMs) }));
    }
    return this.statusOf(table);
  }

  async status(tenant: Tenant): Promise<SearchIndexStatus> {
    const table = await this.table(tenant, false);
    return table === null ? { documents: 0, unindexed: 0 } : this.statusOf(table);
  }

  private async unindexedRows(table: Table): Promise<number> {
    const stats = await table.indexStats(INDEX_NAME);
    return stats === undefined ? 0 : stats.numUnindexedRows;
  }

  private async statusOf(table: Table): Promise<SearchIndexStatus> {
    const documents = await table.countRows();
    const stats = await table.indexStats(INDEX_NAME);
    return { documents, unindexed: stats === undefined ? documents : stats.numUnindexedRows };
  }

  /** The page's hits in order, read by row id (the rows the query just answered). */
  private async hitsOf(table: Table, rowIds: bigint[]): Promise<SearchHit[]> {
    const rows = (await table.takeRowIds(rowIds).select(['id', 'created_at', 'sort_key', 'filename', 'source']).withRowId().toArray()) as Array<{
      id: string;
      created_at: string;
      sort_key: string;
      filename: string;
      source: string;
      _rowid: bigint;
    }>;
    const byRow = new Map(rows.map((r) => [r._rowid, r]));
    return rowIds.flatMap((rid) => {
      const r = byRow.get(rid);
      return r ? [{ id: r.id, createdAt: r.created_at, sortKey: r.sort_key, filename: r.filename, source: r.source }] : [];
    });
  }

  private async db(): Promise<Connection> {
    this.connection ??= loadEngine().then(({ lance }) =>
      // readConsistencyInterval 0: every read sees the latest commit, whoever made it (another
      // process's delete or upload is visible to the next query).
      lance.connect(this.options.uri, { readConsistencyInterval: 0, ...(this.options.storageOptions ? { storageOptions: this.options.storageOptions } : {}) }),
    );
    return this.connection;
  }

  /** The tenant's table; created (empty, with its schema) when `create`, else null if it does not exist. */
  private async table(tenant: Tenant, create: true): Promise<Table>;
  private async table(tenant: Tenant, create: false): Promise<Table | null>;
  private async table(tenant: Tenant, create: boolean): Promise<Table | null> {
    const name = tableName(tenant);
    const cached = this.tables.get(name);
    if (cached) return cached;
    const db = await this.db();
    if (!create) {
      // Not cached when missing: another process may create it later.
      if (!(await db.tableNames()).includes(name)) return null;
      const t = await db.openTable(name);
      this.tables.set(name, Promise.resolve(t));
      return t;
    }
    const opening = (async () => {
      const { arrow } = await loadEngine();
      const utf8 = () => new arrow.Utf8();
      const schema = new arrow.Schema(
        ['id', 'created_at', 'sort_key', 'source', 'filename', TERMS].map((n) => new arrow.Field(n, utf8(), false)),
      );
      return db.createEmptyTable(name, schema, { mode: 'create', existOk: true });
    })();
    this.tables.set(name, opening);
    opening.catch(() => this.tables.delete(name));
    return opening;
  }

  private readonly indexed = new WeakSet<Table>();

  private async hasIndex(table: Table): Promise<boolean> {
    if (this.indexed.has(table)) return true;
    const found = (await table.listIndices()).some((i) => i.name === INDEX_NAME);
    if (found) this.indexed.add(table);
    return found;
  }

  /** The full-text index, created with the table's first rows (it cannot be made on an empty table). */
  private async ensureIndex(table: Table): Promise<void> {
    if (await this.hasIndex(table)) return;
    const { lance } = await loadEngine();
    try {
      await this.commit(() =>
        table.createIndex(TERMS, {
          name: INDEX_NAME,
          replace: false,
          config: lance.Index.fts({
            baseTokenizer: 'whitespace',
            withPosition: true,
            lowercase: false,
            stem: false,
            removeStopWords: false,
            asciiFolding: false,
            maxTokenLength: 256,
          }),
        }),
      );
    } catch (err) {
      // Another writer made it first.
      if (!(await this.hasIndex(table))) throw err;
    }
    this.indexed.add(table);
  }

  private readonly writing = new Map<string, Promise<unknown>>();

  /**
   * One write at a time per project in this process. Lance lets two concurrent merge-inserts of the
   * same new ids both insert them (measured); across processes the object's lease already admits one
   * worker per upload, and queries count a trace once even if it were there twice.
   */
  private serially<T>(tenant: Tenant, write: () => Promise<T>): Promise<T> {
    const name = tableName(tenant);
    const previous = this.writing.get(name) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(write);
    this.writing.set(name, next);
    void next.finally(() => {
      if (this.writing.get(name) === next) this.writing.delete(name);
    }).catch(() => {});
    return next;
  }

  /** A Lance commit, retried when a concurrent writer committed first. */
  private async commit<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (attempt + 1 >= this.maxAttempts || !isCommitConflict(err)) throw err;
        await sleep(backoffMs(attempt, 50, 2_000));
      }
    }
  }
}

/** Every word must match: a phrase of its terms, or (`loose`) all its terms anywhere. */
function ftsQuery(lance: Lance, words: readonly QueryWord[], loose = false): FullTextQuery {
  const must = words.map((w): FullTextQuery => {
    if (w.anyOf) return new lance.MatchQuery(w.anyOf.join(' '), TERMS, { operator: lance.Operator.Or });
    if (w.phrase.length === 1) return new lance.MatchQuery(w.phrase[0]!, TERMS);
    if (loose) return new lance.MatchQuery(w.phrase.join(' '), TERMS, { operator: lance.Operator.And });
    return new lance.PhraseQuery(w.phrase.join(' '), TERMS);
  });
  return must.length === 1 ? must[0]! : new lance.BooleanQuery(must.map((q) => [lance.Occur.Must, q]));
}

/** Lance's errors when another writer's commit landed first (its own retries ran out). */
function isCommitConflict(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /conflict|retryable|concurrent|was (created|modified)/i.test(msg);
}

/** A table name per project: stable, and safe whatever the ids hold. */
export function tableName(tenant: Tenant): string {
  return `p_${createHash('sha256').update(`${tenant.organizationId}\u0000${tenant.projectId}`).digest('hex').slice(0, 40)}`;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
