import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { DynamoTraceWriter, traceItem } from '../functions/adapters/dynamo/trace-writer.js';
import { dynamoClient } from '../functions/adapters/clients.js';
import { BATCH_WRITE_SIZE } from '../functions/domain/limits.js';
import { parseJsonl } from '../functions/domain/parse/jsonl.js';
import { buildTrace, storedTrace } from '../functions/domain/trace.js';
import { config } from '../functions/shared/config.js';
import type { LocalStack } from '../local/stack.js';
import { toS3Notification } from '../local/s3-bridge.js';
import { INGEST_MEMORY_MB, nodeOptionsFor } from '../lib/node-options.js';
import { writeJsonl } from './generate.js';
import { median, round } from './stats.js';

export interface IngestFigures {
  file_mb: number;
  records: number;
  ingest_ms: number;
  ingest_records_per_s: number;
  ingest_mb_per_s: number;
  ingest_worker_cpu_ms: number;
  ingest_peak_rss_mb: number;
  ingest_peak_rss_5mb_mb: number;
  store_limit_ms: number;
  ingest_vs_store_limit: number;
  rss_growth_50_vs_5: number;
  parse_ms: number;
  json_parse_ms: number;
  parse_mb_per_s: number;
  parse_vs_json_parse: number;
  /** The naive ingest (bench/naive.ts) on the same file and stack: how many runs its figures are the median of. */
  naive_runs: number;
  naive_ms: number;
  naive_records_per_s: number;
  naive_mb_per_s: number;
  naive_worker_cpu_ms: number;
  naive_peak_rss_mb: number;
  /** naive_ms over ingest_ms. */
  naive_speedup: number;
  /** naive_ms over store_limit_ms: the most any ingest could show against the naive one on this stack. */
  naive_vs_store_limit: number;
}

/** A naive run slower than this is not repeated (the bench must fit in 20 minutes on 2 cores). */
const NAIVE_REPEAT_MAX_MS = 120_000;

const MiB = 1024 * 1024;

/** Bundles a worker like the Lambda (one ESM file run by plain node). */
export async function bundleWorker(dir: string, name: 'ingest-worker' | 'naive-worker'): Promise<string> {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    entryPoints: [new URL(`./${name}.ts`, import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  });
  return outfile;
}

export interface WorkerResult {
  ms: number;
  maxRssMB: number;
  cpuMs: number;
  /** The ingest worker's failed messages; the naive one reports none (it throws instead). */
  failures?: number;
  /** The naive worker's counts. */
  records?: number;
  badLines?: number;
}

/** Runs a bundled worker in its own process; `env` adds to (or overrides) the stack's environment, e.g. a DynamoDB endpoint. */
export async function runWorker(worker: string, args: string[], extraEnv: Record<string, string> = {}): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    // The worker runs with the ingest function's own Node flags (its heap limit follows its memory).
    const env = {
      ...process.env,
      NODE_OPTIONS: nodeOptionsFor(INGEST_MEMORY_MB),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...extraEnv,
    };
    const child = spawn(process.execPath, [worker, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as WorkerResult;
        if (code !== 0 || (r.failures ?? 0) > 0) return reject(new Error(`worker failed (exit ${code}): ${out}`));
        resolve(r);
      } catch {
        reject(new Error(`worker printed no result (exit ${code}): ${out}`));
      }
    });
  });
}

export async function putFile(stack: LocalStack, key: string, file: string): Promise<string> {
  await stack.s3.send(
    new PutObjectCommand({ Bucket: stack.info.bucket, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size }),
  );
  const body = await toS3Notification(
    {
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: { bucket: { name: stack.info.bucket }, object: { key } },
        },
      ],
    },
    stack.s3,
    stack.info.region,
  );
  return body!;
}

/** The store's own limit: the same items, pre-built, written with plain BatchWriteItem at the same concurrency. */
async function storeLimitMs(file: string, run: number): Promise<number> {
  const { records } = await collect(file);
  const ctx = {
    organizationId: `bench-base-${run}`,
    projectId: 'p',
    objectKey: `drop/bench-base-${run}/p/file.jsonl`,
    filename: 'file.jsonl',
    defaultSource: 's3' as const,
    createdAt: new Date().toISOString(),
    uploadId: `base-${run}`,
  };
  const requests = records.map((r) => ({ PutRequest: { Item: traceItem(storedTrace(buildTrace(ctx, r)).stored) } }));
  const writer = new DynamoTraceWriter(dynamoClient(), config().TABLE_NAME);
  await writer.writeRequests(requests.slice(0, 1)); // warm the connection, as the worker's first calls do
  const concurrency = config().INGEST_WRITE_CONCURRENCY;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const batch = requests.slice(next, next + BATCH_WRITE_SIZE);
        next += BATCH_WRITE_SIZE;
        await writer.writeRequests(batch);
      }
    }),
  );
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  if (process.env.BENCH_VERBOSE) console.error(`[bench] baseline CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms`);
  return ms;
}

async function collect(file: string) {
  const records: Array<{ kind: 'record'; position: number; raw: string; value: Record<string, unknown> }> = [];
  for await (const group of parseJsonl(createReadStream(file, { highWaterMark: 64 * 1024 }))) {
    for (const ev of group) if (ev.kind === 'record') records.push(ev);
  }
  return { records };
}

/** Parse-only throughput against bare JSON.parse per line, on the same bytes (in memory, 64 KiB chunks). */
async function parseFigures(file: string, runs: number) {
  const buf = readFileSync(file);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 64 * 1024) chunks.push(buf.subarray(i, i + 64 * 1024));
  const lines = buf
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  async function* source() {
    for (const c of chunks) yield c;
  }
  const ours: number[] = [];
  const bare: number[] = [];
  let sink = 0;
  for (let r = -1; r < runs; r++) {
    // run -1 warms both sides up (JIT) and is not counted
    let t = performance.now();
    for await (const group of parseJsonl(source())) sink += group.length;
    if (r >= 0) ours.push(performance.now() - t);
    t = performance.now();
    for (const line of lines) {
      const v = JSON.parse(line) as unknown;
      if (v !== null && typeof v === 'object') sink++;
    }
    if (r >= 0) bare.push(performance.now() - t);
  }
  if (sink === 0) throw new Error('nothing parsed');
  return { parse_ms: median(ours), json_parse_ms: median(bare), bytes: buf.length };
}

/**
 * Which of the `runs` ingest runs are followed by a naive run: `naiveRuns`
 * of them, spread evenly (one run: the middle one), so the naive figure sees
 * the store about as full as the ingest median does.
 */
export function naiveRunPositions(runs: number, naiveRuns: number): Set<number> {
  const k = Math.min(Math.max(naiveRuns, 0), runs);
  return new Set(Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * runs) / k)));
}

export async function ingestBench(
  stack: LocalStack,
  workDir: string,
  runs: number,
  log: (s: string) => void,
  naiveRuns: number,
): Promise<IngestFigures> {
  // BENCH_FILE_MB shrinks the files for quick iterations (default 50; the small file is a tenth of it).
  const fileMb = Number(process.env.BENCH_FILE_MB ?? 50);
  const big = join(workDir, 'bench-big.jsonl');
  const small = join(workDir, 'bench-small.jsonl');
  const bigInfo = await writeJsonl(big, fileMb * MiB - 64 * 1024);
  await writeJsonl(small, (fileMb / 10) * MiB - 8 * 1024);
  log(`generated ${round(bigInfo.bytes / MiB)} MiB (${bigInfo.records} records) and a ${round(fileMb / 10)} MiB file`);
  // First, on a clean heap: later measurements leave hundreds of MB of garbage whose collection would land in these timings.
  const parse = await parseFigures(big, 5);
  log(`parse only ${round(parse.parse_ms)} ms, bare JSON.parse ${round(parse.json_parse_ms)} ms`);
  const worker = await bundleWorker(workDir, 'ingest-worker');
  const naiveWorker = await bundleWorker(workDir, 'naive-worker');
  const naiveAt = naiveRunPositions(runs, naiveRuns);

  // Warm-up (discarded): DynamoDB Local's JIT and the table's first pages.
  await runWorker(worker, [await putFile(stack, `${stack.info.dropPrefix}bench/warm-up/small.jsonl`, small)]);
  await storeLimitMs(small, -1);
  log('warmed up');

  const ingestMs: number[] = [];
  const cpuMs: number[] = [];
  const rss50: number[] = [];
  const rss5: number[] = [];
  const baseMs: number[] = [];
  const naive: WorkerResult[] = [];
  // Interleaved, so a store that slows as it fills weighs on both sides alike.
  for (let run = 0; run < runs; run++) {
    const bigKey = `${stack.info.dropPrefix}bench/run-${run}/big.jsonl`;
    const n = await putFile(stack, bigKey, big);
    const r = await runWorker(worker, [n]);
    ingestMs.push(r.ms);
    cpuMs.push(r.cpuMs);
    rss50.push(r.maxRssMB);
    baseMs.push(await storeLimitMs(big, run));
    const s = await runWorker(worker, [await putFile(stack, `${stack.info.dropPrefix}bench/run-${run}/small.jsonl`, small)]);
    rss5.push(s.maxRssMB);
    log(
      `run ${run + 1}/${runs}: ingest ${round(r.ms)} ms (worker CPU ${round(r.cpuMs)} ms, peak RSS ${round(r.maxRssMB)} MB), plain BatchWriteItem ${round(baseMs[run]!)} ms, small file peak RSS ${round(s.maxRssMB)} MB`,
    );
    if (naiveAt.has(run) && !(naive.length > 0 && naive[naive.length - 1]!.ms > NAIVE_REPEAT_MAX_MS)) {
      // The same object the ingest just read, read again by the naive code; its items go to an organization of its own.
      const nv = await runWorker(naiveWorker, [stack.info.bucket, bigKey, `bench-naive-${run}`]);
      if (nv.records !== bigInfo.records || nv.badLines !== 0)
        throw new Error(`naive ingest wrote ${nv.records} of ${bigInfo.records} records (${nv.badLines} bad lines)`);
      naive.push(nv);
      log(
        `run ${run + 1}/${runs}: naive ingest ${round(nv.ms)} ms (CPU ${round(nv.cpuMs)} ms, peak RSS ${round(nv.maxRssMB)} MB), ${round(nv.ms / r.ms)}x this run's ingest`,
      );
      if (nv.ms > NAIVE_REPEAT_MAX_MS && naive.length < naiveAt.size) log(`naive run over ${NAIVE_REPEAT_MAX_MS / 1000} s: not repeated`);
    }
  }
  const ms = median(ingestMs);
  const naiveMs = naive.length > 0 ? median(naive.map((x) => x.ms)) : NaN;
  return {
    file_mb: round(bigInfo.bytes / MiB),
    records: bigInfo.records,
    ingest_ms: round(ms),
    ingest_records_per_s: round(bigInfo.records / (ms / 1000), 0),
    ingest_mb_per_s: round(bigInfo.bytes / MiB / (ms / 1000)),
    ingest_worker_cpu_ms: round(median(cpuMs)),
    ingest_peak_rss_mb: round(median(rss50)),
    ingest_peak_rss_5mb_mb: round(median(rss5)),
    store_limit_ms: round(median(baseMs)),
    ingest_vs_store_limit: round(ms / median(baseMs), 3),
    rss_growth_50_vs_5: round(median(rss50) / median(rss5), 3),
    parse_ms: round(parse.parse_ms),
    json_parse_ms: round(parse.json_parse_ms),
    parse_mb_per_s: round(parse.bytes / MiB / (parse.parse_ms / 1000)),
    parse_vs_json_parse: round(parse.json_parse_ms / parse.parse_ms, 3),
    naive_runs: naive.length,
    naive_ms: round(naiveMs),
    naive_records_per_s: round(bigInfo.records / (naiveMs / 1000), 0),
    naive_mb_per_s: round(bigInfo.bytes / MiB / (naiveMs / 1000)),
    naive_worker_cpu_ms: naive.length > 0 ? round(median(naive.map((x) => x.cpuMs))) : NaN,
    naive_peak_rss_mb: naive.length > 0 ? round(median(naive.map((x) => x.maxRssMB))) : NaN,
    naive_speedup: round(naiveMs / ms, 2),
    naive_vs_store_limit: round(naiveMs / median(baseMs), 2),
  };
}

export function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
