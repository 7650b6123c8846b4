/**
 * Experiment trace logs: building trees in memory (10k and 100k spans, random forests) and one
 * experiment of 10,000 spans answered end to end over HTTP.
 */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { buildForest } from '../functions/domain/parea/tree.js';
import { createApiKey } from '../functions/domain/tenancy.js';
import { tenantStore } from '../functions/shared/services.js';
import type { LocalStack } from '../local/stack.js';
import { median, round } from './stats.js';
import { mulberry32 as prng } from '../test/support/prng.js';
import { bulkLoadSpans } from '../test/support/spans.js';

export interface PareaFigures {
  tree_build_10k_ms: number;
  tree_build_100k_ms: number;
  tree_100k_vs_10k: number;
  tree_e2e_10k_ms: number;
  /** The e2e answer's size: gzip bytes on the wire, and the JSON it decodes to. */
  tree_e2e_10k_gzip_bytes: number;
  tree_e2e_10k_json_bytes: number;
}

const hex = (rand: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const uuid = (rand: () => number) => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`;

/**
 * `n` spans of one experiment in trees of 1 to 40 spans, each span under a random earlier span of
 * its tree (so depths vary), shuffled: children arrive before their parents, as the SDKs send them.
 */
export function randomForest(n: number, seed: number, experimentUuid = 'exp-bench'): Record<string, unknown>[] {
  const rand = prng(seed);
  const spans: Record<string, unknown>[] = [];
  const t0 = Date.parse('2026-11-01T09:00:00Z');
  while (spans.length < n) {
    const size = Math.min(n - spans.length, 1 + Math.floor(rand() * 40));
    const root = uuid(rand);
    const ids = [root];
    const start = t0 + spans.length * 1000;
    for (let i = 0; i < size; i++) {
      const id = i === 0 ? root : uuid(rand);
      if (i > 0) ids.push(id);
      const parent = i === 0 ? root : ids[Math.floor(rand() * i)]!;
      const ts = new Date(start + i * 10).toISOString().replace('Z', '000+00:00');
      spans.push({
        trace_id: id,
        parent_trace_id: parent,
        root_trace_id: root,
        experiment_uuid: experimentUuid,
        project_name: 'bench',
        trace_name: i === 0 ? 'answer_question' : `step-${i}`,
        start_timestamp: ts,
        end_timestamp: ts,
        execution_order: i,
        depth: null,
        children: [],
        status: rand() < 0.1 ? 'error' : 'success',
        error: null,
        inputs: { question: `question ${spans.length}` },
        output: `output of span ${i}`,
        latency: round(rand(), 3),
        input_tokens: 20,
        output_tokens: 5,
        total_tokens: 25,
        cost: 0.0001,
        scores: i === size - 1 ? [{ name: 'accuracy', score: round(rand(), 2), reason: null }] : [],
        metadata: { run: String(spans.length % 10) },
        tags: [],
        comments: null,
        annotations: null,
        images: [],
      });
    }
  }
  for (let i = spans.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [spans[i], spans[j]] = [spans[j]!, spans[i]!];
  }
  return spans;
}

function post(
  url: string,
  apiKey: string,
  body: string,
): Promise<{ status: number; bytes: Buffer; encoding?: string; nextCursor?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'accept-encoding': 'gzip' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            bytes: Buffer.concat(chunks),
            ...(typeof res.headers['content-encoding'] === 'string' ? { encoding: res.headers['content-encoding'] } : {}),
            ...(typeof res.headers['x-next-cursor'] === 'string' ? { nextCursor: res.headers['x-next-cursor'] } : {}),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** buildForest on one input: median of `runs` after a warm-up. */
function timeBuild(spans: Record<string, unknown>[], runs: number): number {
  buildForest(spans); // warm-up
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const forest = buildForest(spans);
    times.push(performance.now() - t);
    if (forest.length === 0) throw new Error('no trees');
  }
  return median(times);
}

/** The in-memory figures: buildForest on random forests of 10k and 100k spans. */
export function treeBuildFigures(runs: number): { build10k: number; build100k: number } {
  const build10k = timeBuild(randomForest(10_000, 1), runs);
  const build100k = timeBuild(randomForest(100_000, 2), runs);
  return { build10k, build100k };
}

export async function pareaBench(
  stack: LocalStack,
  log: (s: string) => void,
  runs = Number(process.env.BENCH_RUNS ?? 5),
): Promise<PareaFigures> {
  const { build10k, build100k } = treeBuildFigures(runs);
  log(`buildForest: 10k spans ${round(build10k)} ms, 100k spans ${round(build100k)} ms`);

  // One experiment of 10,000 spans, stored as posted (the use case's parsing and merge, the store's
  // item layout), written with BatchWriteItem: a bulk load, not 20,000 single reads and writes.
  const tenant = await createApiKey(tenantStore(), { organization: 'bench-parea', project: 'p' });
  const experiment = 'exp-bench-e2e';
  const spans = randomForest(10_000, 3, experiment);
  const t = performance.now();
  await bulkLoadSpans(tenant, spans);
  log(`wrote ${spans.length} spans in ${round((performance.now() - t) / 1000, 1)} s`);

  const url = `${stack.info.apiUrl}/api/parea/v1/experiment/${experiment}/trace_logs`;
  const times: number[] = [];
  let gzipBytes = 0;
  let jsonBytes = 0;
  let cut = 0;
  for (let r = 0; r < runs + 1; r++) {
    const started = performance.now();
    // Gzip accepted like the SDKs' HTTP clients do; the client's own decoding is part of the time.
    const res = await post(url, tenant.apiKey, '{}');
    const text = res.encoding === 'gzip' ? gunzipSync(res.bytes).toString('utf8') : res.bytes.toString('utf8');
    const elapsed = performance.now() - started;
    if (res.status !== 200) throw new Error(`experiment trace logs: ${res.status} ${text.slice(0, 200)}`);
    if (res.nextCursor) cut++;
    if (r === 0) {
      // Warm-up; check the answer is whole.
      const trees = JSON.parse(text) as unknown[];
      if (res.nextCursor) log(`note: the warm-up answer was cut at ${trees.length} trees after ${round(elapsed)} ms (X-Next-Cursor set)`);
      gzipBytes = res.bytes.length;
      jsonBytes = Buffer.byteLength(text);
      log(
        `e2e answer: ${trees.length} root trees, ${jsonBytes} bytes of JSON, ${gzipBytes} bytes on the wire (${res.encoding ?? 'identity'})`,
      );
      continue;
    }
    times.push(elapsed);
  }
  const e2e = median(times);
  if (cut > 1) log(`note: ${cut - 1} of ${runs} timed answers were cut (X-Next-Cursor): the read budget ran out`);
  log(`POST /experiment/{uuid}/trace_logs, 10k spans: ${round(e2e)} ms (median of ${runs})`);
  return {
    tree_build_10k_ms: round(build10k),
    tree_build_100k_ms: round(build100k),
    tree_100k_vs_10k: round(build100k / build10k, 2),
    tree_e2e_10k_ms: round(e2e),
    tree_e2e_10k_gzip_bytes: gzipBytes,
    tree_e2e_10k_json_bytes: jsonBytes,
  };
}
