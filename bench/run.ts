/**
 * `npm run bench`: every benchmark on the local stack, one table, and
 * bench/results.json. Ratios are measured in the same run (the machine is
 * noisy); each figure is a median of several runs. BENCH_RUNS sets how many.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../local/ports.js';
import { startLocalStack } from '../local/stack.js';
import { gitRevision, ingestBench } from './ingest.js';
import { listBench } from './list.js';
import { lambdaInitBench } from './lambda-init.js';
import { awsBench } from './aws.js';
import { otlpBench, otlpOptionsFromEnv } from './otlp.js';
import { pareaBench } from './parea.js';
import { ABSENT_WORD, COMMON_WORD, CJK_QUERY, RARE_WORD, searchBench } from './search.js';
import { round } from './stats.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const runs = Number(process.env.BENCH_RUNS ?? 5);
// One naive run on the 50 MiB file is about 53,000 sequential PutItems (1.5 to 2 minutes here): it runs fewer
// times than the rest (BENCH_NAIVE_RUNS, default 1; the AWS-modeled comparison is the target now).
const naiveRuns = Math.min(runs, Number(process.env.BENCH_NAIVE_RUNS ?? 1));
const log = (s: string) => console.log(`[bench] ${s}`);

/** The keys bench/results.json must hold as numbers, by the part that measures them. */
const REQUIRED: Record<string, 'ingest' | 'aws' | 'list' | 'parea' | 'lambda' | 'otlp' | 'search'> = {
  ingest_vs_store_limit: 'ingest',
  parse_vs_json_parse: 'ingest',
  rss_growth_50_vs_5: 'ingest',
  naive_speedup: 'ingest',
  aws_ingest_traces_per_s: 'aws',
  wcu_per_trace: 'aws',
  naive_speedup_aws: 'aws',
  list_first_page_100k_vs_1k: 'list',
  list_cursor_deep_100k_vs_1k: 'list',
  search_100k_vs_1k: 'list',
  status_100k_vs_1k: 'list',
  judge_100k_vs_1k: 'list',
  tree_100k_vs_10k: 'parea',
  lambda_init_ms_max: 'lambda',
  otlp_spans_per_s: 'otlp',
  search_1m_p50_ms: 'search',
  search_build_share_of_ingest: 'search',
};

function naiveLabel(n: number, records: number): string {
  return `${n === 1 ? 'one run' : `median of ${n} runs`}, ${records} PutItems in sequence`;
}

const workDir = mkdtempSync(join(tmpdir(), 'trace-ingest-bench-'));
const stack = await startLocalStack({
  dataDir: join(workDir, 'data'),
  apiPort: await freePort(),
  s3Port: await freePort(),
  dynamoPort: await freePort(),
  persistDynamo: false,
  notifications: false,
  // The search part runs the indexer itself, to measure it.
  searchIndexerIntervalMs: 0,
});
// Keep the bench's own stdout readable: the worker logs go to its own process.
console.log = (
  (orig) =>
  (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('{"level"')) return;
    orig(...args);
  }
)(console.log);

try {
  log(`DynamoDB Local (in memory) and s3rver up; ${cpus().length} cores; ${runs} runs per figure`);
  const only = new Set((process.env.BENCH_ONLY ?? 'ingest,aws,list,parea,lambda,otlp,search').split(','));
  const ingest = only.has('ingest') ? await ingestBench(stack, workDir, runs, log, naiveRuns) : null;
  const aws = only.has('aws') ? await awsBench(stack, workDir, log) : null;
  const list = only.has('list') ? await listBench(stack, 20, log) : null;
  const parea = only.has('parea') ? await pareaBench(stack, log) : null;
  const lambda = only.has('lambda') ? await lambdaInitBench(log) : null;
  const otlp = only.has('otlp')
    ? await otlpBench(log, otlpOptionsFromEnv({ dynamoEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB! }))
    : null;
  const search = only.has('search') ? await searchBench(stack, workDir, log) : null;

  const targets: Array<[string, number | string, string]> = [];
  if (ingest)
    targets.push(
      ['ingest: file', `${ingest.file_mb} MiB, ${ingest.records} records`, ''],
      ['ingest: wall time (median)', `${ingest.ingest_ms} ms`, ''],
      ['ingest: records/s', ingest.ingest_records_per_s, ''],
      ['ingest: MB/s', ingest.ingest_mb_per_s, ''],
      ['ingest: worker CPU time', `${ingest.ingest_worker_cpu_ms} ms`, ''],
      ['ingest: worker peak RSS, 50 MiB', `${ingest.ingest_peak_rss_mb} MB`, ''],
      ['ingest: worker peak RSS, 5 MiB', `${ingest.ingest_peak_rss_5mb_mb} MB`, ''],
      ['store limit: plain BatchWriteItem, same items', `${ingest.store_limit_ms} ms`, ''],
      ['ingest_vs_store_limit', ingest.ingest_vs_store_limit, '<= 1.25'],
      ['rss_growth_50_vs_5', ingest.rss_growth_50_vs_5, '<= 1.3'],
      ['parse only (50 MiB, in memory)', `${ingest.parse_ms} ms, ${ingest.parse_mb_per_s} MB/s`, ''],
      ['bare JSON.parse per line', `${ingest.json_parse_ms} ms`, ''],
      ['parse_vs_json_parse', ingest.parse_vs_json_parse, '>= 0.7'],
    );
  if (ingest && ingest.naive_runs > 0)
    targets.push(
      [`naive ingest: wall time (${naiveLabel(ingest.naive_runs, ingest.records)})`, `${ingest.naive_ms} ms`, ''],
      ['naive ingest: records/s, MB/s', `${ingest.naive_records_per_s} records/s, ${ingest.naive_mb_per_s} MB/s`, ''],
      ['naive ingest: CPU time, peak RSS', `${ingest.naive_worker_cpu_ms} ms, ${ingest.naive_peak_rss_mb} MB`, ''],
      ['naive_speedup (naive wall time / ingest, DynamoDB Local)', ingest.naive_speedup, ''],
      ['naive / store limit (the most any ingest could show here)', ingest.naive_vs_store_limit, ''],
    );
  if (aws) {
    const n = (k: string) => aws[k] as number;
    targets.push(
      [
        'AWS model: one 50 MiB file into one project, modeled',
        `${n('aws_ingest_modeled_s')} s (partitions ${n('aws_ingest_partition_s')} s, round trips ${n('aws_ingest_round_trip_s')} s)`,
        '',
      ],
      [
        'AWS model: the same, wall clock here (5 ms round trips waited)',
        `${n('aws_ingest_wall_s')} s, ${n('aws_ingest_calls')} calls, ${n('aws_ingest_throttled')} throttled`,
        '',
      ],
      ['AWS model: hottest partition', String(aws.aws_ingest_hottest), ''],
      ['aws_ingest_traces_per_s (modeled)', n('aws_ingest_traces_per_s'), '>= 10000'],
      [
        'worker CPU on this machine, and the rate it alone would allow',
        `${n('aws_ingest_worker_cpu_s')} s, ${n('aws_ingest_cpu_bound_traces_per_s')} traces/s`,
        '',
      ],
      [
        'AWS model: five such files at once into one project',
        `${n('aws_ingest_5_files_traces_per_s')} traces/s modeled (${n('aws_ingest_5_files_modeled_s')} s; wall ${n('aws_ingest_5_files_wall_s')} s, ${n('aws_ingest_5_files_throttled')} throttled)`,
        '',
      ],
      ['wcu_per_trace (every write of the ingest, ~1 KB records)', n('wcu_per_trace'), '<= 4'],
      [`dollars per million traces ingested (${String(aws.prices_as_of)})`, `$${n('dollars_per_million_traces')}`, ''],
      [
        'stored per trace (item + index entries), and per million a month',
        `${n('stored_bytes_per_trace')} B (item ${n('stored_item_bytes_per_trace')} B), $${n('dollars_per_million_traces_stored_month')}`,
        '',
      ],
      ['naive loop under the model (calls in sequence x 5 ms)', `${n('naive_aws_modeled_s')} s, ${n('naive_aws_calls')} calls`, ''],
      ['naive_speedup_aws (both modeled)', n('naive_speedup_aws'), '>= 10'],
      [
        `AWS model: ${n('aws_spans_posted')} spans of one experiment posted, 64 at a time`,
        `${n('aws_spans_per_s')} spans/s modeled (${n('aws_spans_modeled_s')} s; wall ${n('aws_spans_wall_s')} s), ${n('wcu_per_span')} WCU/span`,
        '',
      ],
    );
  }
  if (list) {
    for (const [what, label] of [
      ['first_page', 'list: first page (p50)'],
      ['filtered_page', 'list: source + time_range page (p50)'],
      ['page_50', 'list: page 50 by number (p50)'],
      ['cursor_deep', 'list: deep page by cursor (p50)'],
    ] as const) {
      targets.push([`${label}, 1k / 100k`, `${list[`list_${what}_1k_ms`]} ms / ${list[`list_${what}_100k_ms`]} ms`, '']);
      targets.push([
        `list_${what}_100k_vs_1k`,
        list[`list_${what}_100k_vs_1k`]!,
        what === 'first_page' || what === 'cursor_deep' ? '<= 1.5' : '',
      ]);
    }
    for (const [what, label, target] of [
      ['status', 'list: status=pass page (p50; 200 matches in each), 1k / 100k', '<= 3'],
      ['judge', 'list: judge_id page (p50; 200 matches in each), 1k / 100k', '<= 3'],
      ['search', 'list: search, a common word (p50), 1k / 100k', '<= 3'],
      ['search_rare', 'list: search, a word one trace holds (p50), 1k / 100k', ''],
      ['search_absent', 'list: search, a word none holds (p50), 1k / 100k', ''],
    ] as const) {
      targets.push([label, `${list[`${what}_1k_ms`]} ms / ${list[`${what}_100k_ms`]} ms`, '']);
      targets.push([`${what}_100k_vs_1k`, list[`${what}_100k_vs_1k`]!, target]);
    }
  }
  if (parea) {
    targets.push(
      ['tree build in memory, 10k / 100k spans', `${parea.tree_build_10k_ms} ms / ${parea.tree_build_100k_ms} ms`, ''],
      ['tree_100k_vs_10k', parea.tree_100k_vs_10k!, '<= 12'],
      ['tree: read + build an experiment of 10k spans over HTTP', `${parea.tree_e2e_10k_ms} ms`, ''],
    );
  }
  if (lambda) {
    targets.push(
      ['lambda: largest bundle', `${lambda.lambda_bundle_kb_max} KB`, ''],
      ['lambda_init_ms_max', lambda.lambda_init_ms_max, '<= 150'],
    );
  }
  if (search) {
    const k = `${round(search.search_traces / 1000, 0)}k`;
    targets.push(
      [
        `search: indexer vs ingest, ${search.search_share_traces} traces (CPU per trace)`,
        `${search.search_indexer_cpu_us_per_trace} us vs ${search.search_ingest_cpu_us_per_trace} us`,
        '',
      ],
      ['search: of the indexer, reading the traces back', `${search.search_indexer_read_cpu_us_per_trace} us`, ''],
      ['search_build_share_of_ingest (CPU)', search.search_build_share_of_ingest, '<= 0.25'],
      [
        'search: one search under the AWS model (RCU, calls; $ per 1M)',
        `${search.search_aws_rcu_per_search}, ${search.search_aws_calls_per_search}; $${search.search_aws_dollars_per_million_searches_dynamodb}`,
        '',
      ],
      [
        `search: ${k} entries built (engine CPU per trace, wall)`,
        `${search.search_engine_build_cpu_us_per_trace} us, ${search.search_engine_build_wall_s} s`,
        '',
      ],
      ['search: index size per trace', `${search.search_index_bytes_per_trace} bytes`, ''],
      [`search_1m_p50_ms_rare (${k} traces, total ${search.search_totals[RARE_WORD]})`, search.search_1m_p50_ms_rare, '<= 1000'],
      [`search_1m_p50_ms_common (total ${search.search_totals[COMMON_WORD]})`, search.search_1m_p50_ms_common, '<= 1000'],
      [`search_1m_p50_ms_absent (total ${search.search_totals[ABSENT_WORD]})`, search.search_1m_p50_ms_absent, '<= 1000'],
      [`search: CJK substring (total ${search.search_totals[CJK_QUERY]})`, `${search.search_1m_p50_ms_cjk} ms`, ''],
      [
        `search: common word, source s3 (total ${search.search_totals[`${COMMON_WORD} (source s3)`]})`,
        `${search.search_1m_p50_ms_common_source} ms`,
        '',
      ],
      ['search_1m_p50_ms (slowest of the three)', search.search_1m_p50_ms, '<= 1000'],
    );
  }
  if (otlp) {
    targets.push(
      [
        'otlp: spans, traces, exports of',
        `${otlp.otlp_spans}, ${otlp.otlp_traces}, ${otlp.otlp_batch} spans (${otlp.otlp_batch_kb} KB)`,
        '',
      ],
      ['otlp_spans_per_s (new spans, protobuf exporter)', otlp.otlp_spans_per_s, ''],
      ['otlp: retried exports, spans/s (nothing written)', otlp.otlp_retry_spans_per_s, ''],
      [
        'otlp under the AWS model: spans/s modeled (partitions alone), WCU/span',
        `${otlp.otlp_aws_spans_per_s} (${otlp.otlp_aws_partition_bound_spans_per_s}), ${otlp.otlp_wcu_per_span}`,
        '',
      ],
      ['otlp: export latency p50 / p95', `${otlp.otlp_export_p50_ms} ms / ${otlp.otlp_export_p95_ms} ms`, ''],
      ['otlp: server CPU per 1k spans, peak RSS', `${otlp.otlp_server_cpu_ms_per_1k_spans} ms, ${otlp.otlp_server_peak_rss_mb} MB`, ''],
      ['otlp: DynamoDB calls per 1k new spans', JSON.stringify(otlp.otlp_dynamodb_calls_per_1k_spans), ''],
      ['otlp: DynamoDB calls per 1k retried spans', JSON.stringify(otlp.otlp_dynamodb_calls_per_1k_retried_spans), ''],
    );
  }
  targets.push(['bench: total wall time', `${round(performance.now() / 1000, 1)} s`, '<= 1200 s']);
  const w = Math.max(...targets.map(([k]) => k.length));
  console.log('');
  console.log(`${'figure'.padEnd(w)}  ${'value'.padEnd(28)}  target`);
  for (const [k, v, t] of targets) console.log(`${k.padEnd(w)}  ${String(v).padEnd(28)}  ${t}`);
  console.log('');

  const results: Record<string, unknown> = {
    revision: gitRevision(),
    measured_at: new Date().toISOString(),
    runs,
    bench_wall_s: round(performance.now() / 1000, 1),
    ...ingest,
    ...aws,
    ...list,
    ...parea,
    ...(lambda
      ? {
          lambda_init_ms_max: lambda.lambda_init_ms_max,
          lambda_bundle_kb_max: lambda.lambda_bundle_kb_max,
          lambda_per_function: lambda.per_function,
        }
      : {}),
    ...otlp,
    ...search,
  };
  // Every headline ratio of the parts that ran must be a number (a NaN would be written as null): fail loudly, write nothing.
  // Only a partial run may leave out the naive ingest (BENCH_NAIVE_RUNS=0).
  const all = Object.values(REQUIRED).every((part) => only.has(part));
  const missing = Object.entries(REQUIRED)
    .filter(([key, part]) => only.has(part) && (all || naiveRuns > 0 || key !== 'naive_speedup'))
    .map(([key]) => key)
    .filter((key) => typeof results[key] !== 'number' || !Number.isFinite(results[key]));
  if (missing.length > 0) throw new Error(`bench/results.json would lack ${missing.join(', ')} (not finite numbers); not written`);
  writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
  log('written to bench/results.json');
} finally {
  await stack.stop();
  rmSync(workDir, { recursive: true, force: true });
}
