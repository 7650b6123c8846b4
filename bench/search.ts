/**
 * BENCH_ONLY=search: full-text search on the embedded engine (LanceDB in a temp directory) at
 * BENCH_SEARCH_TRACES traces (default 1,000,000) of ~1 KB, generated at run time.
 *
 * - build: the traces' search documents indexed as the worker does (commits of SEARCH_BATCH_SIZE,
 *   appends, then `optimize` merges the tail), wall and CPU time; its share of ingest time at the
 *   ingest bench's records/s (this run's if the ingest part ran, else BENCH_INGEST_RECORDS_PER_S,
 *   default 3,700, the figure it prints on DynamoDB Local here);
 * - search_1m_p50_ms for a rare word (about 1 trace in 100,000), a common word (every trace) and an
 *   absent word: the first page (100, newest first) with its exact total, p50 of BENCH_SEARCH_RUNS;
 * - index size per trace (the directory's bytes over the traces).
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LanceSearchIndex } from '../functions/adapters/search/lance-search-index.js';
import { SEARCH_BATCH_SIZE } from '../functions/domain/ingest/ingest-object.js';
import { searchText } from '../functions/domain/trace.js';
import { renderInput } from '../functions/domain/render-input.js';
import type { SearchDocument } from '../functions/domain/search/search-index.js';
import { record } from './generate.js';
import { median, round } from './stats.js';

export interface SearchBenchResult {
  search_traces: number;
  search_build_ms: number;
  search_build_cpu_ms: number;
  search_build_share_of_ingest: number;
  search_ingest_records_per_s: number;
  search_index_bytes_per_trace: number;
  search_1m_p50_ms_rare: number;
  search_1m_p50_ms_common: number;
  search_1m_p50_ms_absent: number;
  search_1m_p50_ms_cjk: number;
  /** The slowest of rare, common and absent (the headline, target at most 1,000). */
  search_1m_p50_ms: number;
  search_totals: Record<string, number>;
}

/** A small, deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
/** 50,000 made-up words: a vocabulary whose trigrams are as varied as a real one's. */
const VOCAB = (() => {
  const r = prng(42);
  const words: string[] = [];
  for (let i = 0; i < 50_000; i++) {
    let w = '';
    const n = 3 + Math.floor(r() * 8);
    for (let j = 0; j < n; j++) w += LETTERS[Math.floor(r() * 26)];
    words.push(w);
  }
  return words;
})();
const OTHER_SCRIPTS = ['数据管道的模型推理', '検索エンジンのテスト', 'مرحبا بالعالم', 'привет мир', '🚀 deployed 🎉'];
export const RARE_WORD = 'xylophonist';
export const COMMON_WORD = 'reasoning';
export const ABSENT_WORD = 'quixotically';
export const CJK_QUERY = '模型推理';

/** Trace i's search document: the bench's ~1 KB record plus a note of words drawn from the vocabulary. */
export function benchDocument(i: number, org: string, project: string): SearchDocument {
  const r = prng(i * 2654435761);
  const value = JSON.parse(record(i)) as Record<string, unknown>;
  const words: string[] = [];
  for (let k = 0; k < 24; k++) words.push(VOCAB[Math.floor(r() ** 2 * VOCAB.length)]!);
  if (i % 20 === 0) words.push(OTHER_SCRIPTS[(i / 20) % OTHER_SCRIPTS.length]!);
  if (i % 100_000 === 7) words.push(RARE_WORD);
  value.notes = words.join(' ');
  const filename = `bench-${i % 50}.jsonl`;
  const createdAt = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
  return {
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    organizationId: org,
    projectId: project,
    createdAt,
    sortKey: `${createdAt}#bench#${String(i).padStart(10, '0')}`,
    source: i % 7 === 0 ? 's3' : 'upload',
    filename,
    text: searchText(filename, renderInput(value), value),
  };
}

export async function searchBench(log: (s: string) => void, ingestRecordsPerS?: number): Promise<SearchBenchResult> {
  const n = Number(process.env.BENCH_SEARCH_TRACES ?? 1_000_000);
  const runs = Number(process.env.BENCH_SEARCH_RUNS ?? 7);
  const recordsPerS = ingestRecordsPerS ?? Number(process.env.BENCH_INGEST_RECORDS_PER_S ?? 3_700);
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-search-'));
  try {
    const index = new LanceSearchIndex({ uri: dir });
    const tenant = { organizationId: 'bench-org', projectId: 'bench-project' };
    log(`search: indexing ${n} traces in commits of ${SEARCH_BATCH_SIZE}`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let generateMs = 0;
    for (let from = 0; from < n; from += SEARCH_BATCH_SIZE) {
      const g = performance.now();
      const docs: SearchDocument[] = [];
      for (let i = from; i < Math.min(n, from + SEARCH_BATCH_SIZE); i++) docs.push(benchDocument(i, tenant.organizationId, tenant.projectId));
      generateMs += performance.now() - g;
      await index.upsert(tenant, docs, { fresh: true });
      if ((from / SEARCH_BATCH_SIZE) % 20 === 19) log(`search: ${from + SEARCH_BATCH_SIZE} indexed`);
    }
    const status = await index.optimize(tenant);
    const cpu = process.cpuUsage(cpu0);
    // The documents' generation is the bench's own work, not the index's.
    const buildMs = performance.now() - t0 - generateMs;
    log(`search: built in ${round(buildMs / 1000, 1)} s (${status.documents} documents, ${status.unindexed} unindexed)`);
    const bytes = Number(execSync(`du -sb ${JSON.stringify(dir)}`).toString().split('\t')[0]);

    const totals: Record<string, number> = {};
    const p50 = async (text: string) => {
      const ms: number[] = [];
      for (let r = 0; r <= runs; r++) {
        const t = performance.now();
        const page = await index.query({ tenant, text, sortBy: 'created_at', sortOrder: 'desc', limit: 100 });
        if (r > 0) ms.push(performance.now() - t); // the first is a warm-up
        totals[text] = page.total;
      }
      return round(median(ms), 1);
    };
    const rare = await p50(RARE_WORD);
    const common = await p50(COMMON_WORD);
    const absent = await p50(ABSENT_WORD);
    const cjk = await p50(CJK_QUERY);
    const ingestMs = (n / recordsPerS) * 1000;
    return {
      search_traces: n,
      search_build_ms: Math.round(buildMs),
      search_build_cpu_ms: Math.round((cpu.user + cpu.system) / 1000 - generateMs),
      search_build_share_of_ingest: round(buildMs / ingestMs, 3),
      search_ingest_records_per_s: recordsPerS,
      search_index_bytes_per_trace: Math.round(bytes / n),
      search_1m_p50_ms_rare: rare,
      search_1m_p50_ms_common: common,
      search_1m_p50_ms_absent: absent,
      search_1m_p50_ms_cjk: cjk,
      search_1m_p50_ms: Math.max(rare, common, absent),
      search_totals: totals,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
