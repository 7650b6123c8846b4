/**
 * The search index on the real engine (LanceDB in a temp directory): the query semantics the
 * README documents, exact totals, order and cursors, filters, tenant isolation, idempotent
 * upserts (repeated, concurrent), a writer SIGKILLed mid-commit, deletes, and the unindexed tail.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanceSearchIndex } from '../../functions/adapters/search/lance-search-index.js';
import { matchesText, queryWords } from '../../functions/domain/search/terms.js';
import type { SearchDocument, SearchQuery } from '../../functions/domain/search/search-index.js';
import { SEARCH_TENANT as T, searchDoc, searchDocs } from '../support/search-docs.js';
import { ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { jsonl, refFor, setupIngest } from '../support/ingest-fakes.js';

const dirs: string[] = [];
function newIndex(): { index: LanceSearchIndex; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-search-test-'));
  dirs.push(dir);
  return { index: new LanceSearchIndex({ uri: dir }), dir };
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const q = (text: string, over: Partial<SearchQuery> = {}): SearchQuery => ({ tenant: T, text, sortBy: 'created_at', sortOrder: 'desc', limit: 100, ...over });

async function ids(index: LanceSearchIndex, query: SearchQuery): Promise<string[]> {
  return (await index.query(query)).hits.map((h) => h.id);
}

const TEXTS = [
  'Hello World, the assistant answered from Paris',
  'ERROR: Connection refused by upstream (ECONNREFUSED)',
  '你好世界，这是一个数据管道的模型推理测试',
  '東京でラーメンを食べました。検索エンジンのテスト',
  'مرحبا بالعالم، هذا اختبار البحث',
  'deploy finished 🚀 and everyone cheered 🎉',
  'Привет мир: ошибка соединения',
  'gpt-4o answered in 320 ms; model=claude-sonnet-4',
  'ok',
  '한국어 검색 테스트입니다',
];

describe('search semantics on the engine', () => {
  const { index } = newIndex();
  const docs = TEXTS.map((t, i) => searchDoc(i, t, { source: i % 2 === 0 ? 'upload' : 's3' }));
  beforeAll(async () => {
    await index.upsert(T, docs.slice(0, 6), { fresh: true });
    await index.upsert(T, docs.slice(6)); // the tail: committed, not yet merged into the index
  });

  const cases: Array<[string, number[]]> = [
    ['hello', [0]],
    ['HELLO', [0]],
    ['ello wor', [0]], // substrings of words, every word must match
    ['assist', [0]],
    ['econnrefused', [1]],
    ['connref', [1]],
    ['refused upstream', [1]],
    ['数据管道', [2]],
    ['管道', [2]], // any CJK substring of two characters
    ['模型推理测试', [2]],
    ['ラーメン', [3]],
    ['検索', [3]],
    ['東京', [3]],
    ['بالعالم', [4]],
    ['البحث', [4]],
    ['🚀', [5]],
    ['🎉 cheered', [5]],
    ['привет', [6]],
    ['ОШИБКА', [6]],
    ['gpt', [7]],
    ['4o', [7]],
    ['sonnet', [7]],
    ['ok', [8]],
    ['검색', [9]],
    ['absentword', []],
    ['hello absentword', []],
    ['!!!', []],
  ];
  for (const [text, want] of cases) {
    it(`${JSON.stringify(text)} finds exactly ${JSON.stringify(want)}, like the semantics without an index`, async () => {
      const page = await index.query(q(text));
      expect(page.hits.map((h) => h.id).sort()).toEqual(want.map((i) => docs[i]!.id).sort());
      expect(page.total).toBe(want.length);
      const brute = docs.filter((d) => matchesText(d.text, queryWords(text))).map((d) => d.id);
      expect(brute.sort()).toEqual(want.map((i) => docs[i]!.id).sort());
    });
  }

  it('a substring that spans two words is not a match of either', async () => {
    expect(await ids(index, q('worldthe'))).toEqual([]);
    expect(await ids(index, q('lloworld'))).toEqual([]);
  });

  it('filters by source and time range, and counts exactly what matches them', async () => {
    const all = await index.query(q('a'));
    expect(all.total).toBe(0); // one letter: only one-letter words, and there are none
    const s3 = await index.query(q('refused', { source: 's3' }));
    expect(s3.hits.map((h) => h.id)).toEqual([docs[1]!.id]);
    expect((await index.query(q('refused', { source: 'upload' }))).total).toBe(0);
    const since = docs[2]!.createdAt;
    expect((await index.query(q('hello', { since }))).total).toBe(0);
    expect((await index.query(q('数据', { since, until: docs[3]!.createdAt }))).total).toBe(1);
    expect((await index.query(q('数据', { since: docs[3]!.createdAt }))).total).toBe(0);
  });
});

describe('order, cursors and totals', () => {
  const { index } = newIndex();
  const docs = searchDocs(57);
  beforeAll(async () => {
    await index.upsert(T, docs.slice(0, 30), { fresh: true });
    await index.upsert(T, docs.slice(30));
  });

  async function walk(query: SearchQuery): Promise<{ ids: string[]; totals: number[] }> {
    const out: string[] = [];
    const totals: number[] = [];
    let after = undefined as SearchQuery['after'];
    for (let n = 0; n < 100; n++) {
      const page = await index.query({ ...query, after });
      out.push(...page.hits.map((h) => h.id));
      totals.push(page.total);
      if (page.next === null) break;
      after = page.next;
    }
    return { ids: out, totals };
  }

  it('pages by created_at, newest first and oldest first: every match once, in order, with the same exact total', async () => {
    const desc = await walk(q('shared', { limit: 10 }));
    expect(desc.ids).toEqual(docs.map((d) => d.id).reverse());
    expect(new Set(desc.totals)).toEqual(new Set([57]));
    const asc = await walk(q('shared', { limit: 8, sortOrder: 'asc' }));
    expect(asc.ids).toEqual(docs.map((d) => d.id));
  });

  it('pages by filename (then time), both ways', async () => {
    const byName = [...docs].sort((a, b) => (a.filename === b.filename ? (a.sortKey < b.sortKey ? -1 : 1) : a.filename < b.filename ? -1 : 1));
    expect((await walk(q('filler', { sortBy: 'filename', sortOrder: 'asc', limit: 7 }))).ids).toEqual(byName.map((d) => d.id));
    expect((await walk(q('filler', { sortBy: 'filename', sortOrder: 'desc', limit: 9 }))).ids).toEqual(byName.map((d) => d.id).reverse());
  });

  it('finds one document by a word only it has, and keeps tenants apart', async () => {
    expect(await ids(index, q('number42'))).toEqual([docs[42]!.id]);
    const other = { organizationId: T.organizationId, projectId: 'another' };
    expect((await index.query(q('shared', { tenant: other }))).total).toBe(0);
    await index.upsert(other, searchDocs(3, other), { fresh: true });
    expect((await index.query(q('shared', { tenant: other }))).total).toBe(3);
    expect((await index.query(q('shared'))).total).toBe(57);
    await expect(index.upsert(T, searchDocs(1, other))).rejects.toThrow(/another project/);
  });
});

describe('the write path: retries, crashes, deletes, the tail', () => {
  it('indexes a re-delivered batch, or the same batch three times at once, exactly once', async () => {
    const { index } = newIndex();
    const docs = searchDocs(40);
    await index.upsert(T, docs.slice(0, 25), { fresh: true });
    await index.upsert(T, docs.slice(0, 25));
    await Promise.all([index.upsert(T, docs), index.upsert(T, docs), index.upsert(T, docs)]);
    const page = await index.query(q('shared', { limit: 500 }));
    expect(page.total).toBe(40);
    expect(new Set(page.hits.map((h) => h.id)).size).toBe(40);
    expect((await index.status(T)).documents).toBe(40);
  });

  it('a writer SIGKILLed mid-commit leaves no partial batch; the retry indexes every document once', async () => {
    const { index, dir } = newIndex();
    const count = 6000;
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../support/search-child.ts'), dir, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        // Killed while its big commit is being written (building the terms and data files).
        if (out.includes('writing')) setTimeout(() => child.kill('SIGKILL'), 150);
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(out).not.toContain('done');
    const before = (await index.status(T)).documents;
    expect([10, count]).toContain(before); // all or nothing
    await index.upsert(T, searchDocs(count)); // the redelivery
    const page = await index.query(q('shared', { limit: 500 }));
    expect(page.total).toBe(count);
    expect((await index.status(T)).documents).toBe(count);
  }, 60_000);

  it('a removed trace is never found again: not after more writes, a retry of its batch by another id set, or optimize', async () => {
    const { index } = newIndex();
    const docs = searchDocs(30);
    await index.upsert(T, docs, { fresh: true });
    await index.remove(T, [docs[3]!.id, docs[4]!.id, 'not-there', "quote'd"]);
    await index.remove(T, [docs[3]!.id]); // again: nothing to do, no error
    expect(await ids(index, q('number3'))).toEqual([]);
    expect((await index.query(q('shared'))).total).toBe(28);
    await index.upsert(T, [searchDoc(100, 'shared number100')]);
    const status = await index.optimize(T);
    expect(status).toEqual({ documents: 29, unindexed: 0 });
    expect(await ids(index, q('number4'))).toEqual([]);
    expect((await index.query(q('shared'))).total).toBe(29);
    // A delete seen by another process's index at once (every read checks the latest version).
    const sameDir = new LanceSearchIndex({ uri: (index as unknown as { options: { uri: string } }).options.uri });
    await sameDir.remove(T, [docs[5]!.id]);
    expect(await ids(index, q('number5'))).toEqual([]);
    expect(await index.remove({ organizationId: 'x', projectId: 'y' }, ['a'])).toBeUndefined();
  });

  it('answers the unindexed tail at once, then merges it into the index', async () => {
    const { index } = newIndex();
    const docs = searchDocs(20);
    await index.upsert(T, docs.slice(0, 10), { fresh: true });
    expect(await index.status(T)).toEqual({ documents: 10, unindexed: 0 });
    const tail: SearchDocument[] = [searchDoc(50, 'shared tailword 检索尾部'), ...docs.slice(10)];
    await index.upsert(T, tail, { fresh: true });
    expect((await index.status(T)).unindexed).toBe(11);
    expect(await ids(index, q('tailword'))).toEqual([tail[0]!.id]);
    expect(await ids(index, q('尾部'))).toEqual([tail[0]!.id]);
    expect((await index.query(q('shared'))).total).toBe(21);
    expect(await index.optimize(T)).toEqual({ documents: 21, unindexed: 0 });
    expect(await ids(index, q('tailword'))).toEqual([tail[0]!.id]);
    expect((await index.query(q('shared'))).total).toBe(21);
  });
});

describe('the ingest indexes an upload before completing it', () => {
  it('every good trace once, also when an attempt fails half-way and the message is redelivered', async () => {
    const { index } = newIndex();
    const { deps, storage, traces, uploads } = setupIngest();
    deps.search = index;
    const key = 'uploads/org1/proj1/traces.jsonl';
    storage.put(key, jsonl(120, 'needle'));
    traces.failOnBatch = 3;
    await expect(ingestObject(deps, refFor(storage, key))).rejects.toThrow();
    traces.failOnBatch = null;
    const out = await ingestObject(deps, refFor(storage, key));
    expect(out.status).toBe('completed');
    const tenant = { organizationId: 'org1', projectId: 'proj1' };
    const page = await index.query({ tenant, text: 'needle', sortBy: 'created_at', sortOrder: 'asc', limit: 500 });
    expect(page.total).toBe(120);
    expect(new Set(page.hits.map((h) => h.id))).toEqual(new Set(traces.items.keys()));
    expect([...uploads.uploads.values()][0]!.status).toBe('completed');
    // A redelivery of the completed upload changes nothing.
    await ingestObject(deps, refFor(storage, key));
    expect((await index.query({ tenant, text: 'needle', sortBy: 'created_at', sortOrder: 'asc', limit: 5 })).total).toBe(120);
    // "q7" is a two-character word: it finds the words that start with it (q7, q70 to q79).
    expect((await index.query({ tenant, text: 'q7 needle', sortBy: 'created_at', sortOrder: 'asc', limit: 50 })).total).toBe(11);
    expect((await index.status(tenant)).documents).toBe(120);
  });
});
