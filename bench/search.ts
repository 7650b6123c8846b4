/**
 * BENCH_ONLY=search: full-text search (docs/decisions/search.md).
 *
 * 1. The indexer's cost against the ingest's, end to end on the bench's stack: a file of
 *    BENCH_SEARCH_SHARE_MB (default 10) of the bench's ~1 KB records is ingested by the bundled
 *    worker in its own process (its CPU measured there), then indexed by the indexer in this process
 *    (its CPU: reading the traces back from DynamoDB, cutting words, the engine's commit and the
 *    segment's seal; DynamoDB Local's own CPU is in neither). `search_build_share_of_ingest` is the
 *    indexer's CPU per trace over the ingest worker's; the search that follows is run through the
 *    AWS capacity model (read units and calls per search, as AWS would charge them).
 * 2. Queries at BENCH_SEARCH_TRACES traces (default 1,000,000; ~1 KB each, generated, made into
 *    entries as the indexer makes them, in commits of 20,000, sealed every 100,000): the first
 *    page (100, newest first) with its exact total, p50 of BENCH_SEARCH_RUNS, for a rare word
 *    (1 trace in 100,000), a common word (every trace) and an absent word, plus a CJK substring
 *    and the common word with a source filter; the index's size per trace.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newDocumentClient, newDynamoClient } from '../functions/adapters/clients.js';
import { DynamoSearchSource, DynamoSearchWork } from '../functions/adapters/dynamo/search-work.js';
import { IndexedSearch } from '../functions/adapters/dynamo/search-list.js';
import { DynamoTraceStore } from '../functions/adapters/dynamo/trace-store.js';
import { LanceSearchIndex, SEAL_ROWS } from '../functions/adapters/search/lance-search-index.js';
import { S3PayloadReader } from '../functions/adapters/s3/payload-reader.js';
import { indexProject } from '../functions/domain/search/indexer.js';
import type { SearchDocument } from '../functions/domain/search/search-index.js';
import { renderInput } from '../functions/domain/render-input.js';
import { searchText } from '../functions/domain/trace.js';
import { s3Client } from '../functions/adapters/s3/s3-sdk.js';
import { config } from '../functions/shared/config.js';
import { createApiKey } from '../functions/domain/tenancy.js';
import { tenantStore } from '../functions/shared/services.js';
import type { LocalStack } from '../local/stack.js';
import { startCapacityModel } from '../test/support/capacity-model.js';
import { record, writeJsonl } from './generate.js';
import { bundleWorker, putFile, runWorker } from './ingest.js';
import { DOLLARS_PER_MILLION_READ_UNITS } from './prices.js';
import { median, round } from './stats.js';

export interface SearchBenchResult {
  search_traces: number;
  search_engine_build_cpu_us_per_trace: number;
  search_engine_build_wall_s: number;
  search_index_bytes_per_trace: number;
  search_share_traces: number;
  search_ingest_cpu_us_per_trace: number;
  search_indexer_cpu_us_per_trace: number;
  /** Of which: reading the traces back (consistent BatchGetItem) and making their text. */
  search_indexer_read_cpu_us_per_trace: number;
  search_indexer_wall_s: number;
  search_build_share_of_ingest: number;
  search_aws_rcu_per_search: number;
  search_aws_calls_per_search: number;
  search_aws_dollars_per_million_searches_dynamodb: number;
  search_1m_p50_ms_rare: number;
  search_1m_p50_ms_common: number;
  search_1m_p50_ms_absent: number;
  search_1m_p50_ms_cjk: number;
  search_1m_p50_ms_common_source: number;
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
/** 50,000 made-up words: a vocabulary as varied as a real one's. */
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

/** Trace i as an index entry: the bench's ~1 KB record plus a note of words drawn from the vocabulary. */
export function benchDocument(i: number): SearchDocument {
  const r = prng(i * 2654435761);
  const value = JSON.parse(record(i)) as Record<string, unknown>;
  const words: string[] = [];
  for (let k = 0; k < 24; k++) words.push(VOCAB[Math.floor(r() ** 2 * VOCAB.length)]!);
  if (i % 20 === 0) words.push(OTHER_SCRIPTS[(i / 20) % OTHER_SCRIPTS.length]!);
  if (i % 100_000 === 7) words.push(RARE_WORD);
  value.notes = words.join(' ');
  const filename = `bench-${i % 50}.jsonl`;
  const createdAt = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
  const upload = `bench${String(Math.floor(i / 20_000)).padStart(11, '0')}`;
  return {
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    uploadId: upload,
    sortKey: `${createdAt}#${upload}#${String(i).padStart(10, '0')}`,
    createdAt,
    source: i % 7 === 0 ? 's3' : 'upload',
    filename,
    text: searchText(filename, renderInput(value), value),
  };
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

export async function searchBench(stack: LocalStack, workDir: string, log: (s: string) => void): Promise<SearchBenchResult> {
  const share = await shareBench(stack, workDir, log);
  const queries = await queryBench(log);
  return { ...share, ...queries };
}

/** Part 1: the indexer against the ingest, on the same file, and one search under the capacity model. */
async function shareBench(stack: LocalStack, workDir: string, log: (s: string) => void) {
  const mb = Number(process.env.BENCH_SEARCH_SHARE_MB ?? 10);
  const file = join(workDir, 'bench-search.jsonl');
  const info = await writeJsonl(file, mb * 1024 * 1024);
  const worker = await bundleWorker(workDir, 'ingest-worker');
  // A project of its own: the other parts' uploads are work for the indexer too.
  const tenant = await createApiKey(tenantStore(), { organization: 'bench-search', project: 'share' });
  const key = `drop/${tenant.organizationId}/${tenant.projectId}/share.jsonl`;
  const ingest = await runWorker(worker, [await putFile(stack, key, file)]);
  const doc = newDocumentClient(newDynamoClient());
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-search-share-'));
  try {
    // A segment the size of the file, so its seal is in the measurement too.
    const index = new LanceSearchIndex({ uri: dir, sealRows: info.records });
    const work = new DynamoSearchWork(doc, config().TABLE_NAME);
    const source = new DynamoSearchSource(doc, config().TABLE_NAME);
    // The part of the indexer's CPU that reads the traces back and makes their text (the rest is words and the engine).
    let readCpu = 0;
    const timedSource = {
      documents: source.documents.bind(source),
      uploadDocuments: async (t: Parameters<typeof source.uploadDocuments>[0], u: string) => {
        const c = cpuMs();
        const docs = await source.uploadDocuments(t, u);
        readCpu += cpuMs() - c;
        return docs;
      },
    };
    const c0 = cpuMs();
    const t0 = performance.now();
    const run = await indexProject(
      { index, work, source: timedSource },
      { organizationId: tenant.organizationId, projectId: tenant.projectId },
    );
    const indexerCpu = cpuMs() - c0;
    const indexerWall = performance.now() - t0;
    if (run.traces !== info.records) throw new Error(`the indexer indexed ${run.traces} of ${info.records} traces`);
    const status = await index.status(tenant);
    log(
      `search: ${info.records} traces ingested (worker CPU ${round(ingest.cpuMs)} ms), indexed in ${round(indexerWall / 1000, 1)} s (CPU ${round(indexerCpu)} ms; ${status.segments.sealed} sealed segment)`,
    );

    // The same search under the capacity model: what a search costs on AWS in DynamoDB units.
    const model = await startCapacityModel({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, tableName: config().TABLE_NAME });
    try {
      const modeled = newDocumentClient(newDynamoClient(model.endpoint));
      const store = new DynamoTraceStore(modeled, config().TABLE_NAME, new S3PayloadReader(s3Client(), config().BUCKET_NAME), {
        search: new IndexedSearch(modeled, config().TABLE_NAME, index, new DynamoSearchWork(modeled, config().TABLE_NAME)),
      });
      const runs = 5;
      for (let r = 0; r < runs; r++)
        await store.list(tenant, { page: 1, pageSize: 100, sortBy: 'created_at', sortOrder: 'desc', search: 'reasoning' });
      const report = model.report();
      const ingestPerTrace = (ingest.cpuMs * 1000) / info.records;
      const indexerPerTrace = (indexerCpu * 1000) / info.records;
      return {
        search_share_traces: info.records,
        search_ingest_cpu_us_per_trace: round(ingestPerTrace, 1),
        search_indexer_cpu_us_per_trace: round(indexerPerTrace, 1),
        search_indexer_read_cpu_us_per_trace: round((readCpu * 1000) / info.records, 1),
        search_indexer_wall_s: round(indexerWall / 1000, 2),
        search_build_share_of_ingest: round(indexerPerTrace / ingestPerTrace, 3),
        search_aws_rcu_per_search: round(report.rcu / runs, 1),
        search_aws_calls_per_search: round(report.totalCalls / runs, 1),
        search_aws_dollars_per_million_searches_dynamodb: round((report.rcu / runs) * DOLLARS_PER_MILLION_READ_UNITS, 2),
      };
    } finally {
      await model.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Part 2: queries at BENCH_SEARCH_TRACES traces on the engine. */
async function queryBench(log: (s: string) => void) {
  const n = Number(process.env.BENCH_SEARCH_TRACES ?? 1_000_000);
  const runs = Number(process.env.BENCH_SEARCH_RUNS ?? 7);
  const commit = 20_000;
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-search-'));
  try {
    const index = new LanceSearchIndex({ uri: dir });
    const tenant = { organizationId: 'bench-org', projectId: 'bench-project' };
    log(`search: ${n} entries in commits of ${commit}, sealed every ${SEAL_ROWS}`);
    let buildCpu = 0;
    let buildWall = 0;
    for (let from = 0; from < n; from += commit) {
      const docs: SearchDocument[] = [];
      for (let i = from; i < Math.min(n, from + commit); i++) docs.push(benchDocument(i));
      // The documents' generation is the bench's own work, not the index's.
      const c0 = cpuMs();
      const t0 = performance.now();
      await index.append(tenant, docs);
      await index.maintain(tenant);
      buildCpu += cpuMs() - c0;
      buildWall += performance.now() - t0;
      if ((from / commit) % 10 === 9) log(`search: ${from + commit} entries (${round(buildWall / 1000, 0)} s so far)`);
    }
    const status = await index.status(tenant);
    log(
      `search: built in ${round(buildWall / 1000, 1)} s, CPU ${round(buildCpu / 1000, 1)} s (${status.documents} entries, ${status.segments.sealed} sealed segments, ${status.segments.open} open)`,
    );
    const bytes = Number(
      execSync(`du -sb ${JSON.stringify(dir)}`)
        .toString()
        .split('\t')[0],
    );

    const totals: Record<string, number> = {};
    const p50 = async (text: string, source?: string) => {
      const ms: number[] = [];
      for (let r = 0; r <= runs; r++) {
        const t = performance.now();
        const page = await index.query({ tenant, text, source, sortBy: 'created_at', sortOrder: 'desc', limit: 100 });
        if (r > 0) ms.push(performance.now() - t); // the first is a warm-up
        totals[source ? `${text} (source ${source})` : text] = page.total;
      }
      return round(median(ms), 1);
    };
    const rare = await p50(RARE_WORD);
    const common = await p50(COMMON_WORD);
    const absent = await p50(ABSENT_WORD);
    const cjk = await p50(CJK_QUERY);
    const commonSource = await p50(COMMON_WORD, 's3');
    return {
      search_traces: n,
      search_engine_build_cpu_us_per_trace: round((buildCpu * 1000) / n, 1),
      search_engine_build_wall_s: round(buildWall / 1000, 1),
      search_index_bytes_per_trace: Math.round(bytes / n),
      search_1m_p50_ms_rare: rare,
      search_1m_p50_ms_common: common,
      search_1m_p50_ms_absent: absent,
      search_1m_p50_ms_cjk: cjk,
      search_1m_p50_ms_common_source: commonSource,
      search_1m_p50_ms: Math.max(rare, common, absent),
      search_totals: totals,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
