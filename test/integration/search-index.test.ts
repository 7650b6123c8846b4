/**
 * The search index on the real engine (LanceDB in a temp directory): the query semantics the
 * README documents, in open (scanned) and sealed (indexed) segments alike; exact totals, order and
 * cursors across segments, filters, exclusions, tenants; deletes; uploads all-or-nothing; writers
 * SIGKILLed mid-commit and mid-seal.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanceSearchIndex, type LanceSearchIndexOptions } from '../../functions/adapters/search/lance-search-index.js';
import { matchesText } from '../../functions/domain/search/terms.js';
import type { SearchQuery } from '../../functions/domain/search/search-index.js';
import { searchDoc, searchDocs } from '../support/search-docs.js';

const T = { organizationId: 'org-s', projectId: 'proj-s' };
const dirs: string[] = [];
function newIndex(options: Partial<LanceSearchIndexOptions> = {}): { index: LanceSearchIndex; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-search-test-'));
  dirs.push(dir);
  return { index: new LanceSearchIndex({ uri: dir, ...options }), dir };
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const q = (text: string, over: Partial<SearchQuery> = {}): SearchQuery => ({
  tenant: T,
  text,
  sortBy: 'created_at',
  sortOrder: 'desc',
  limit: 100,
  ...over,
});

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
  'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ and İstanbul',
];

const CASES: Array<[string, number[]]> = [
  ['hello', [0]],
  ['HELLO', [0]],
  ['ello wor', [0]], // substrings of words; every query word must match
  ['assist', [0]],
  ['econnrefused', [1]],
  ['connref', [1]],
  ['refused upstream', [1]],
  ['数据管道', [2]],
  ['管道', [2]], // any substring of a CJK run
  ['模型推理测试', [2]],
  ['推', [2]],
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
  ['검색', [9]], // Hangul, not the Japanese 検索
  ['fullwidth abc', [10]], // NFKC: fullwidth letters are letters
  ['answered', [0, 7]],
  ['absentword', []],
  ['hello absentword', []],
  ['lloworld', []], // a query word never spans two words
  ['!!!', []],
];

describe('search semantics on the engine, in sealed and open segments', () => {
  // Segments of 4 rows: the first two are sealed (their vocabulary and word index), the last one stays open (scanned).
  const { index } = newIndex({ sealRows: 4 });
  const { index: scanning } = newIndex({ sealRows: 4, maxExpansion: 0 });
  const docs = TEXTS.map((t, i) => searchDoc(i, t.toLowerCase(), { source: i % 2 === 0 ? 'upload' : 's3' }));
  beforeAll(async () => {
    for (const ix of [index, scanning]) {
      for (let i = 0; i < docs.length; i += 4) await ix.append(T, docs.slice(i, i + 4));
      await ix.maintain(T);
    }
    expect((await index.status(T)).segments).toEqual({ sealed: 2, open: 1 });
  });

  for (const [text, want] of CASES) {
    it(`${JSON.stringify(text)} finds exactly ${JSON.stringify(want)}, like the semantics without an index`, async () => {
      const expected = want.map((i) => docs[i]!.id).sort();
      // The oracle (terms.ts, without an index) agrees with the case.
      expect(
        docs
          .filter((d) => matchesText(d.text, text))
          .map((d) => d.id)
          .sort(),
      ).toEqual(expected);
      for (const ix of [index, scanning]) {
        const page = await ix.query(q(text));
        expect(page.hits.map((h) => h.id).sort()).toEqual(expected);
        expect(page.total).toBe(want.length);
      }
    });
  }

  it('filters by source and time range, and counts exactly what matches them', async () => {
    expect((await index.query(q('refused', { source: 's3' }))).hits.map((h) => h.id)).toEqual([docs[1]!.id]);
    expect((await index.query(q('refused', { source: 'upload' }))).total).toBe(0);
    expect((await index.query(q('answered', { since: docs[1]!.createdAt }))).hits.map((h) => h.id)).toEqual([docs[7]!.id]);
    expect((await index.query(q('answered', { since: docs[8]!.createdAt }))).total).toBe(0);
  });
});

describe('order, cursors and totals across segments', () => {
  const { index } = newIndex({ sealRows: 20 });
  const docs = searchDocs(57);
  beforeAll(async () => {
    for (let i = 0; i < 57; i += 10) await index.append(T, docs.slice(i, i + 10));
    await index.maintain(T);
    expect((await index.status(T)).segments).toEqual({ sealed: 2, open: 1 });
  });

  async function walk(query: SearchQuery): Promise<{ ids: string[]; totals: number[] }> {
    const out: string[] = [];
    const totals: number[] = [];
    let after: SearchQuery['after'];
    for (let n = 0; n < 100; n++) {
      const page = await index.query({ ...query, after });
      out.push(...page.hits.map((h) => h.id));
      totals.push(page.total);
      if (!page.more) break;
      const last = page.hits[page.hits.length - 1]!;
      after = { sortKey: last.sortKey, filename: last.filename };
    }
    return { ids: out, totals };
  }

  it('pages by created_at, newest first and oldest first: every match once, in order, with the same exact total', async () => {
    const desc = await walk(q('shared', { limit: 10 }));
    expect(desc.ids).toEqual(docs.map((d) => d.id).reverse());
    expect(new Set(desc.totals)).toEqual(new Set([57]));
    expect((await walk(q('shared', { limit: 8, sortOrder: 'asc' }))).ids).toEqual(docs.map((d) => d.id));
  });

  it('pages by filename (then time), both ways', async () => {
    const byName = [...docs].sort((a, b) =>
      a.filename === b.filename ? (a.sortKey < b.sortKey ? -1 : 1) : a.filename < b.filename ? -1 : 1,
    );
    expect((await walk(q('filler', { sortBy: 'filename', sortOrder: 'asc', limit: 7 }))).ids).toEqual(byName.map((d) => d.id));
    expect((await walk(q('filler', { sortBy: 'filename', sortOrder: 'desc', limit: 9 }))).ids).toEqual(byName.map((d) => d.id).reverse());
  });

  it('leaves excluded traces out of hits and totals (their entries are being refreshed)', async () => {
    const exclude = new Set([docs[56]!.id, docs[3]!.id, docs[30]!.id, 'not-there']);
    const page = await index.query(q('shared', { limit: 5, exclude }));
    expect(page.total).toBe(54);
    expect(page.hits.map((h) => h.id)).toEqual([55, 54, 53, 52, 51].map((i) => docs[i]!.id));
    expect((await index.query(q('number56', { exclude }))).total).toBe(0);
    expect((await index.query(q('number30', { exclude }))).total).toBe(0);
    // number3 is in number31 to number39 too (a substring of a word): those are left.
    expect((await index.query(q('number3', { exclude }))).total).toBe(9);
  });

  it('finds one document by a word only it has, and keeps tenants apart', async () => {
    expect(await ids(index, q('number42'))).toEqual([docs[42]!.id]);
    const other = { organizationId: T.organizationId, projectId: 'another' };
    expect((await index.query(q('shared', { tenant: other }))).total).toBe(0);
    await index.append(other, searchDocs(3));
    expect((await index.query(q('shared', { tenant: other }))).total).toBe(3);
    expect((await index.query(q('shared'))).total).toBe(57);
  });
});

describe('the write path: uploads, deletes, crashes', () => {
  it('knows which uploads it holds, and removes traces from sealed and open segments alike', async () => {
    const { index } = newIndex({ sealRows: 10 });
    const docs = [...searchDocs(12, { uploadId: 'a' }), ...searchDocs(5, { uploadId: 'b' }, 12)];
    await index.append(T, docs.slice(0, 12));
    await index.maintain(T);
    await index.append(T, docs.slice(12));
    expect(await index.hasUpload(T, 'a')).toBe(true);
    expect(await index.hasUpload(T, 'b')).toBe(true);
    expect(await index.hasUpload(T, 'c')).toBe(false);
    expect(await index.remove(T, [docs[3]!.id, docs[14]!.id, 'not-there', "quote'd"])).toBe(2);
    expect(await index.remove(T, [docs[3]!.id])).toBe(0); // again: nothing to do, no error
    expect(await ids(index, q('number3'))).toEqual([]);
    expect(await ids(index, q('number14'))).toEqual([]);
    expect((await index.query(q('shared'))).total).toBe(15);
    expect((await index.status(T)).documents).toBe(15);
    // Seen at once by another process's index on the same directory (every read checks the latest version).
    const again = new LanceSearchIndex({ uri: (index as unknown as { options: { uri: string } }).options.uri });
    await again.remove(T, [docs[5]!.id]);
    expect(await ids(index, q('number5'))).toEqual([]);
    expect(await index.remove({ organizationId: 'x', projectId: 'y' }, ['a'])).toBe(0);
  });

  const child = (mode: string, dir: string, count: number, delayMs: number) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, '../support/search-child.ts'), mode, dir, String(count)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      p.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('writing')) setTimeout(() => p.kill('SIGKILL'), delayMs);
      });
      p.on('exit', () => resolve(out));
      p.on('error', reject);
    });

  /**
   * A fresh index whose writer was SIGKILLed before it finished: the kill comes after `delays[0]` ms,
   * and sooner on a machine quick enough to finish first (then the run is done again on a new index).
   */
  const killedPartWay = async (mode: string, count: number, delays: number[], options?: Parameters<typeof newIndex>[0]) => {
    for (const delay of delays) {
      const made = newIndex(options);
      if (!(await child(mode, made.dir, count, delay)).includes('done')) return made;
    }
    throw new Error(`the ${mode} finished before every kill (${delays.join(', ')} ms)`);
  };

  it('a writer SIGKILLed mid-commit leaves the upload all there or absent; done again, every entry is there once', async () => {
    const count = 8000;
    const { index } = await killedPartWay('append', count, [300, 100, 30, 0]);
    const there = await index.hasUpload(T, 'big');
    expect((await index.status(T)).documents).toBe(there ? 10 + count : 10);
    // The indexer's retry: an upload in the index is not appended again.
    if (!there) await index.append(T, searchDocs(count, { uploadId: 'big' }, 10));
    expect((await index.query(q('shared', { limit: 1 }))).total).toBe(10 + count);
    expect((await index.query(q('number4321'))).total).toBe(1);
  }, 60_000);

  it('a seal SIGKILLed part-way is finished by the next one, and answers stay right throughout', async () => {
    const count = 12_000;
    const { index } = await killedPartWay('seal', count, [400, 150, 50, 0], { sealRows: 1_000 });
    expect((await index.query(q('shared', { limit: 1 }))).total).toBe(count);
    expect((await index.query(q('number3210'))).hits.map((h) => h.id)).toEqual([searchDoc(3210, '').id]);
    await index.maintain(T);
    expect((await index.status(T)).segments).toEqual({ sealed: 12, open: 0 });
    expect((await index.query(q('shared', { limit: 1 }))).total).toBe(count);
    expect((await index.query(q('number3210'))).total).toBe(1);
    expect((await index.query(q('lorem number11999'))).total).toBe(1);
  }, 90_000);
});
