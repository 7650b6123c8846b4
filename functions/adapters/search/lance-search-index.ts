/**
 * The SearchIndex port on LanceDB (docs/decisions/search.md). Each project has its own Lance
 * database (a directory, or a prefix of the bucket on AWS) holding numbered segments:
 *
 * - `seg_<n>`: one row per trace (id, upload_id, sort_key, created_at, source, filename, and
 *   `text`: the trace's words, terms.ts `words`, space-separated). The newest segment is open:
 *   the indexer appends to it, and queries scan its `text` (`LIKE '%word%'`, in the engine: about
 *   0.4 µs a row here). Once it holds SEAL_ROWS rows it is sealed, once: a `words` list column
 *   (computed by the engine from `text`), a label-list index on it (which counts and filters
 *   without reading rows), bitmap indexes on source and upload_id, a B-tree on created_at;
 * - `voc_<n>`: a sealed segment's vocabulary (its distinct words), written last: a segment is
 *   sealed when its vocabulary exists. A query word is looked up in the vocabulary
 *   (`word LIKE '%w%'`), and the segment answers the traces having any of the words found.
 *
 * So a query costs a few milliseconds per segment whatever the number of matches: counts come
 * from the index, a page is the engine's top-k by order key. Segments are never rewritten
 * (deletes are Lance deletion files), so building a trace's entry costs once, not per merge.
 *
 * Glue, in one line: LanceDB's tokenizers cannot match substrings of words (or split CJK), so the
 * words are cut by terms.ts and a query word becomes the set of vocabulary words containing it.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Connection, Table } from '@lancedb/lancedb';
import { compareKeys } from '../dynamo/sharded-query.js';
import { queryWords, words } from '../../domain/search/terms.js';
import type {
  SearchDocument,
  SearchHit,
  SearchIndex,
  SearchIndexStatus,
  SearchPage,
  SearchPosition,
  SearchQuery,
} from '../../domain/search/search-index.js';
import type { Tenant } from '../../domain/tenancy.js';

type Lance = typeof import('@lancedb/lancedb');
type Arrow = typeof import('apache-arrow');

export interface LanceSearchIndexOptions {
  /** A local directory (absolute path) or `s3://<bucket>/<prefix>` / `s3+ddb://<bucket>/<prefix>?ddbTableName=<table>`. */
  uri: string;
  /** Object store settings (region, endpoint, …), passed to LanceDB as they are. */
  storageOptions?: Record<string, string>;
  /** Rows after which the open segment is sealed. */
  sealRows?: number;
  /** A query word found in more vocabulary words than this is matched by scanning the segment's text instead. */
  maxExpansion?: number;
  /** Versions older than this are removed when a segment is sealed (readers of an older version keep working until then). */
  keepVersionsMs?: number;
}

/** About 40 ms to scan on this machine, and 10 segments per million traces. */
export const SEAL_ROWS = 100_000;
const MAX_EXPANSION = 5_000;
const ID_CHUNK = 1_000;
const HIT_COLUMNS = ['id', 'upload_id', 'sort_key', 'filename'];

/**
 * The engine's settings, set before its native module loads. LANCE_CPU_THREADS: on a 2-core
 * machine some of its index builders deadlock with the default pool of 2 (measured here), 4 avoids it.
 */
const ENGINE_ENV: Record<string, string> = { LANCE_CPU_THREADS: '4' };

let engine: Promise<{ lance: Lance; arrow: Arrow }> | undefined;

/**
 * Loads LanceDB (a native module of about 150 MB) on first use only. Arrow is taken through
 * `require`, the instance LanceDB itself uses: tables built with the ESM instance arrive empty.
 */
function loadEngine(): Promise<{ lance: Lance; arrow: Arrow }> {
  engine ??= (async () => {
    for (const [k, v] of Object.entries(ENGINE_ENV)) process.env[k] ??= v;
    const lance = await import('@lancedb/lancedb');
    const arrow = createRequire(import.meta.url)('apache-arrow') as Arrow;
    return { lance, arrow };
  })();
  return engine;
}

interface Segment {
  n: number;
  sealed: boolean;
}

interface Condition {
  /** SQL over the segment's columns; null: the segment cannot match. */
  where: string | null;
}

export class LanceSearchIndex implements SearchIndex {
  private readonly connections = new Map<string, Promise<Connection>>();
  private readonly tables = new Map<string, Promise<Table>>();
  private readonly sealRows: number;
  private readonly maxExpansion: number;
  private readonly keepVersionsMs: number;

  constructor(private readonly options: LanceSearchIndexOptions) {
    this.sealRows = options.sealRows ?? SEAL_ROWS;
    this.maxExpansion = options.maxExpansion ?? MAX_EXPANSION;
    this.keepVersionsMs = options.keepVersionsMs ?? 10 * 60_000;
  }

  async hasUpload(tenant: Tenant, uploadId: string): Promise<boolean> {
    for (const s of (await this.segments(tenant)).reverse()) {
      if ((await (await this.table(tenant, s.n)).countRows(`upload_id = ${sqlString(uploadId)}`)) > 0) return true;
    }
    return false;
  }

  async append(tenant: Tenant, docs: readonly SearchDocument[]): Promise<void> {
    if (docs.length === 0) return;
    const { arrow } = await loadEngine();
    const column = (f: (d: SearchDocument) => string) => arrow.vectorFromArray(docs.map(f), new arrow.Utf8());
    const data = new arrow.Table({
      id: column((d) => d.id),
      upload_id: column((d) => d.uploadId),
      sort_key: column((d) => d.sortKey),
      created_at: column((d) => d.createdAt),
      source: column((d) => d.source),
      filename: column((d) => d.filename),
      text: column((d) => ` ${words(d.text).join(' ')} `),
    });
    const segments = await this.segments(tenant);
    const last = segments[segments.length - 1];
    if (last !== undefined && !last.sealed) {
      const table = await this.table(tenant, last.n);
      if ((await table.countRows()) < this.sealRows) {
        await table.add(data);
        return;
      }
    }
    const n = (last?.n ?? 0) + 1;
    const db = await this.db(tenant);
    const name = segName(n);
    const created = db.createTable(name, data, { mode: 'create' });
    this.tables.set(this.key(tenant, name), created);
    created.catch(() => this.tables.delete(this.key(tenant, name)));
    await created;
  }

  async remove(tenant: Tenant, ids: readonly string[]): Promise<number> {
    let removed = 0;
    for (const s of await this.segments(tenant)) {
      const table = await this.table(tenant, s.n);
      for (let i = 0; i < ids.length; i += ID_CHUNK) {
        const predicate = `id IN (${ids
          .slice(i, i + ID_CHUNK)
          .map(sqlString)
          .join(', ')})`;
        const n = await table.countRows(predicate);
        if (n === 0) continue;
        await table.delete(predicate);
        removed += n;
      }
    }
    return removed;
  }

  async maintain(tenant: Tenant): Promise<void> {
    const segments = await this.segments(tenant);
    for (const [i, s] of segments.entries()) {
      if (s.sealed) continue;
      const table = await this.table(tenant, s.n);
      // Seal a full segment, and any older one an interrupted seal left behind.
      if (i < segments.length - 1 || (await table.countRows()) >= this.sealRows) await this.seal(tenant, s.n);
    }
  }

  async query(q: SearchQuery): Promise<SearchPage> {
    const qw = queryWords(q.text);
    const segments = qw.length === 0 ? [] : await this.segments(q.tenant);
    if (segments.length === 0) return { hits: [], total: 0, more: false };
    const exclude = [...(q.exclude ?? [])];
    const filters: string[] = [];
    if (q.source !== undefined) filters.push(`source = ${sqlString(q.source)}`);
    if (q.since !== undefined) filters.push(`created_at >= ${sqlString(q.since)}`);
    const bound = q.after ? afterBound(q.after, q.sortBy, q.sortOrder) : null;
    const ascending = q.sortOrder === 'asc';
    const ordering = [...(q.sortBy === 'filename' ? [{ columnName: 'filename', ascending }] : []), { columnName: 'sort_key', ascending }];
    const want = q.limit + exclude.length + 1;

    const perSegment = await Promise.all(
      segments.map(async (s) => {
        const cond = await this.condition(q.tenant, s, qw);
        if (cond.where === null) return { total: 0, hits: [] as SearchHit[] };
        const where = [cond.where, ...filters].join(' AND ');
        const table = await this.table(q.tenant, s.n);
        let total = await table.countRows(where);
        for (let i = 0; i < exclude.length && total > 0; i += ID_CHUNK) {
          total -= await table.countRows(
            `${where} AND id IN (${exclude
              .slice(i, i + ID_CHUNK)
              .map(sqlString)
              .join(', ')})`,
          );
        }
        if (total === 0 || q.limit === 0) return { total, hits: [] as SearchHit[] };
        const rows = (await table
          .query()
          .where(bound === null ? where : `${where} AND ${bound}`)
          .select(HIT_COLUMNS)
          .orderBy(ordering)
          .limit(want)
          .toArray()) as Array<{ id: string; upload_id: string; sort_key: string; filename: string }>;
        return { total, hits: rows.map((r) => ({ id: r.id, uploadId: r.upload_id, sortKey: r.sort_key, filename: r.filename })) };
      }),
    );
    const excluded = new Set(exclude);
    const sign = ascending ? 1 : -1;
    const merged = perSegment
      .flatMap((p) => p.hits)
      .filter((h) => !excluded.has(h.id))
      .sort((a, b) => sign * comparePosition(a, b, q.sortBy));
    return {
      hits: merged.slice(0, q.limit),
      total: perSegment.reduce((sum, p) => sum + p.total, 0),
      more: merged.length > q.limit,
    };
  }

  async status(tenant: Tenant): Promise<SearchIndexStatus> {
    let documents = 0;
    let sealed = 0;
    let open = 0;
    for (const s of await this.segments(tenant)) {
      documents += await (await this.table(tenant, s.n)).countRows();
      if (s.sealed) sealed++;
      else open++;
    }
    return { documents, segments: { sealed, open } };
  }

  // --- segments --------------------------------------------------------------------------------

  /** How a segment answers the query words: its vocabulary's words in its index, or (open, or too many words) a scan of its text. */
  private async condition(tenant: Tenant, s: Segment, qw: readonly string[]): Promise<Condition> {
    const parts: string[] = [];
    for (const w of qw) {
      const scan = `text LIKE ${sqlString(`%${w}%`)}`;
      if (!s.sealed) {
        parts.push(scan);
        continue;
      }
      const vocab = await this.table(tenant, s.n, 'voc');
      const found = (await vocab
        .query()
        .where(`word LIKE ${sqlString(`%${w}%`)}`)
        .select(['word'])
        .limit(this.maxExpansion + 1)
        .toArray()) as Array<{ word: string }>;
      if (found.length === 0) return { where: null };
      parts.push(found.length > this.maxExpansion ? scan : `array_has_any(words, [${found.map((r) => sqlString(r.word)).join(', ')}])`);
    }
    return { where: parts.join(' AND ') };
  }

  /**
   * Seals segment n, step by step, each step skipped when done (an interrupted seal is finished
   * by the next one): its fragments compacted, the words column, the indexes, then its vocabulary.
   */
  private async seal(tenant: Tenant, n: number): Promise<void> {
    const { lance, arrow } = await loadEngine();
    const table = await this.table(tenant, n);
    const schema = await table.schema();
    if (!schema.fields.some((f) => f.name === 'words')) {
      await table.optimize({ cleanupOlderThan: new Date(Date.now() - this.keepVersionsMs) });
      await table.addColumns([{ name: 'words', valueSql: "string_to_array(btrim(text), ' ')" }]);
    }
    const have = new Set((await table.listIndices()).map((i) => i.columns.join(',')));
    const wanted: Array<[string, () => ReturnType<Lance['Index']['btree']>]> = [
      ['words', () => lance.Index.labelList()],
      ['source', () => lance.Index.bitmap()],
      ['upload_id', () => lance.Index.bitmap()],
      ['created_at', () => lance.Index.btree()],
    ];
    for (const [column, config] of wanted) {
      if (!have.has(column)) await table.createIndex(column, { config: config(), replace: false });
    }
    const db = await this.db(tenant);
    const vocabName = vocName(n);
    if ((await db.tableNames()).includes(vocabName)) return;
    const texts = (await table.query().select(['text']).toArrow()).getChild('text')!;
    const vocab = new Set<string>();
    for (let i = 0; i < texts.length; i++) {
      for (const w of String(texts.get(i)).split(' ')) if (w !== '') vocab.add(w);
    }
    await db.createTable(vocabName, new arrow.Table({ word: arrow.vectorFromArray([...vocab], new arrow.Utf8()) }), { mode: 'create' });
  }

  /** The project's segments in order; a segment with a vocabulary is sealed. */
  private async segments(tenant: Tenant): Promise<Segment[]> {
    const db = await this.db(tenant);
    const names = await db.tableNames();
    const vocabs = new Set(names.filter((n) => n.startsWith('voc_')).map((n) => Number(n.slice(4))));
    return names
      .filter((n) => /^seg_\d{6}$/.test(n))
      .map((n) => Number(n.slice(4)))
      .sort((a, b) => a - b)
      .map((n) => ({ n, sealed: vocabs.has(n) }));
  }

  private key(tenant: Tenant, name: string): string {
    return `${projectDir(tenant)}/${name}`;
  }

  private async table(tenant: Tenant, n: number, kind: 'seg' | 'voc' = 'seg'): Promise<Table> {
    const name = kind === 'seg' ? segName(n) : vocName(n);
    const key = this.key(tenant, name);
    let t = this.tables.get(key);
    if (!t) {
      t = this.db(tenant).then((db) => db.openTable(name));
      this.tables.set(key, t);
      t.catch(() => this.tables.delete(key));
      if (this.tables.size > 10_000) this.tables.clear();
    }
    return t;
  }

  private db(tenant: Tenant): Promise<Connection> {
    const dir = projectDir(tenant);
    let c = this.connections.get(dir);
    if (!c) {
      c = loadEngine().then(({ lance }) =>
        // readConsistencyInterval 0: every read sees the latest commit, whoever made it.
        lance.connect(projectUri(this.options.uri, dir), {
          readConsistencyInterval: 0,
          ...(this.options.storageOptions ? { storageOptions: this.options.storageOptions } : {}),
        }),
      );
      this.connections.set(dir, c);
      c.catch(() => this.connections.delete(dir));
      if (this.connections.size > 1_000) this.connections.clear();
    }
    return c;
  }
}

/** A project's directory name: stable, and safe whatever its ids hold. */
export function projectDir(tenant: Tenant): string {
  return `p_${createHash('sha256').update(`${tenant.organizationId}\u0000${tenant.projectId}`).digest('hex').slice(0, 40)}`;
}

/** The project's database under the index's root (before any `?query` of an S3 URI). */
function projectUri(root: string, dir: string): string {
  const q = root.indexOf('?');
  const base = (q < 0 ? root : root.slice(0, q)).replace(/\/+$/, '');
  return `${base}/${dir}${q < 0 ? '' : root.slice(q)}`;
}

const segName = (n: number) => `seg_${String(n).padStart(6, '0')}`;
const vocName = (n: number) => `voc_${String(n).padStart(6, '0')}`;

function comparePosition(a: SearchPosition, b: SearchPosition, sortBy: SearchQuery['sortBy']): number {
  if (sortBy === 'filename') {
    const byName = compareKeys(a.filename ?? '', b.filename ?? '');
    if (byName !== 0) return byName;
  }
  return compareKeys(a.sortKey, b.sortKey);
}

/** The rows strictly after a position in the order. */
function afterBound(p: SearchPosition, sortBy: SearchQuery['sortBy'], order: SearchQuery['sortOrder']): string {
  const op = order === 'asc' ? '>' : '<';
  const byKey = `sort_key ${op} ${sqlString(p.sortKey)}`;
  if (sortBy !== 'filename') return byKey;
  const f = sqlString(p.filename ?? '');
  return `(filename ${op} ${f} OR (filename = ${f} AND ${byKey}))`;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
