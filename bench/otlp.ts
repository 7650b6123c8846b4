/**
 * OTLP ingest: spans per second through POST /otel/v1/traces, sent by the stock protobuf exporter
 * (`@opentelemetry/exporter-trace-otlp-proto`) in BatchSpanProcessor-sized exports, to the API
 * server in a process of its own (bench/otlp-server.ts), on a given DynamoDB endpoint.
 *
 * Inputs (environment): BENCH_OTLP_SPANS (default 20,000), BENCH_OTLP_BATCH (spans per export,
 * default 512, the SDK's default), BENCH_OTLP_CONCURRENCY (exports in flight, default 4),
 * BENCH_OTLP_DYNAMODB_ENDPOINT (default: the bench stack's DynamoDB Local).
 *
 * Figures: new spans/s (first exports), retried spans/s (the same exports again: nothing changes),
 * export latency, the server's CPU per 1,000 spans and peak RSS, and, from a smaller run through
 * a counting proxy, the DynamoDB calls per 1,000 spans by operation (new and retried): the inputs
 * of a capacity model.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { modeledSeconds, startCapacityModel } from '../test/support/capacity-model.js';
import { childOf, exportOnce, recordSpans } from '../test/support/otlp.js';
import { SERVER_LINE } from './otlp-server-line.js';
import { median, round } from './stats.js';

export interface OtlpBenchOptions {
  spans: number;
  batch: number;
  concurrency: number;
  /** The DynamoDB endpoint the server writes to. */
  dynamoEndpoint: string;
}

export interface OtlpFigures {
  otlp_spans: number;
  otlp_traces: number;
  otlp_batch: number;
  otlp_concurrency: number;
  otlp_batch_kb: number;
  otlp_spans_per_s: number;
  otlp_retry_spans_per_s: number;
  otlp_export_p50_ms: number;
  otlp_export_p95_ms: number;
  otlp_server_cpu_ms_per_1k_spans: number;
  otlp_server_peak_rss_mb: number;
  otlp_dynamodb_calls_per_1k_spans: Record<string, number>;
  otlp_dynamodb_calls_per_1k_retried_spans: Record<string, number>;
  /** Under the AWS capacity model: spans/s at the bench's exports in flight, what the partitions alone allow, and write units per span. */
  otlp_aws_spans_per_s: number;
  otlp_aws_partition_bound_spans_per_s: number;
  otlp_wcu_per_span: number;
}

/** Spans one export writes at once (the OTLP use case's default concurrency). */
const OTLP_STORE_CONCURRENCY = 16;

export function otlpOptionsFromEnv(stack: { dynamoEndpoint: string }): OtlpBenchOptions {
  return {
    spans: Number(process.env.BENCH_OTLP_SPANS ?? 20_000),
    batch: Number(process.env.BENCH_OTLP_BATCH ?? 512),
    concurrency: Number(process.env.BENCH_OTLP_CONCURRENCY ?? 4),
    dynamoEndpoint: process.env.BENCH_OTLP_DYNAMODB_ENDPOINT ?? stack.dynamoEndpoint,
  };
}

const SPANS_PER_TRACE = 10;

/** Agent runs of SPANS_PER_TRACE spans: a root, GenAI chat spans with ~1 KB of messages, tool spans. */
async function makeSpans(n: number): Promise<ReadableSpan[]> {
  return recordSpans({ 'service.name': 'bench-agent', 'deployment.environment': 'bench' }, (tracer) => {
    for (let made = 0, t = 0; made < n; t++) {
      const size = Math.min(SPANS_PER_TRACE, n - made);
      const t0 = Date.now();
      const root = tracer.startSpan(`agent run ${t}`, {
        startTime: t0,
        attributes: { 'openinference.span.kind': 'AGENT', 'input.value': `question ${t}: ${'context '.repeat(20)}` },
      });
      for (let i = 1; i < size; i++) {
        const chat = i % 3 !== 0;
        const span = childOf(
          tracer,
          root,
          chat ? 'chat gpt-4o' : 'tool search',
          chat
            ? {
                'gen_ai.operation.name': 'chat',
                'gen_ai.provider.name': 'openai',
                'gen_ai.request.model': 'gpt-4o',
                'gen_ai.request.temperature': 0.2,
                'gen_ai.usage.input_tokens': 300,
                'gen_ai.usage.output_tokens': 40,
                'gen_ai.input.messages': JSON.stringify([
                  { role: 'user', parts: [{ type: 'text', content: `step ${i} ${'of the plan, '.repeat(40)}` }] },
                ]),
                'gen_ai.output.messages': JSON.stringify([
                  { role: 'assistant', parts: [{ type: 'text', content: `answer ${i} ${'words '.repeat(30)}` }] },
                ]),
              }
            : { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search', 'input.value': `query ${i}` },
          t0 + i,
        );
        span.end();
      }
      root.end();
      made += size;
    }
  });
}

interface Server {
  url: string;
  apiKey: string;
  organizationId: string;
  projectId: string;
  stats(): Promise<{ cpuMs: number; maxRssMB: number }>;
  stop(): Promise<void>;
}

/** bench/otlp-server.ts in its own process, with the functions' environment on the given DynamoDB endpoint. */
async function startServer(dynamoEndpoint: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./otlp-server.ts', import.meta.url).pathname], {
    env: { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  // The server's own lines carry SERVER_LINE; the handlers' logs (Powertools writes to stdout) are skipped.
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const line = await lines.next();
      if (line.done) throw new Error('the OTLP bench server exited');
      if (line.value.startsWith(SERVER_LINE)) return JSON.parse(line.value.slice(SERVER_LINE.length)) as Record<string, unknown>;
    }
  };
  const info = (await next()) as unknown as Omit<Server, 'stats' | 'stop'>;
  return {
    ...info,
    stats: async () => {
      child.stdin.write('stats\n');
      return (await next()) as unknown as { cpuMs: number; maxRssMB: number };
    },
    stop: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin.end();
      await exited;
    },
  };
}

/** Exports the batches, `concurrency` at a time; answers the wall time and each export's latency. */
async function exportAll(server: Server, batches: ReadableSpan[][], concurrency: number): Promise<{ ms: number; latencies: number[] }> {
  // One exporter per sender, as each instance of an instrumented app has its own.
  const exporters = Array.from(
    { length: concurrency },
    () => new OTLPTraceExporter({ url: `${server.url}/otel/v1/traces`, headers: { 'x-api-key': server.apiKey }, timeoutMillis: 60_000 }),
  );
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    exporters.map(async (exporter) => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const t = performance.now();
        const result = await exportOnce(exporter, batch);
        if (result.code !== 0) throw new Error(`an export failed: ${String(result.error)}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const ms = performance.now() - started;
  await Promise.all(exporters.map((e) => e.shutdown()));
  return { ms, latencies };
}

async function countOtlpTraces(server: Server): Promise<number> {
  const res = await fetch(
    `${server.url}/api/v1/organizations/${server.organizationId}/projects/${server.projectId}/traces?source=otlp&page_size=1`,
    { headers: { 'x-api-key': server.apiKey } },
  );
  return ((await res.json()) as { total_count: number }).total_count;
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;

function perThousand(calls: Record<string, number>, spans: number): Record<string, number> {
  return Object.fromEntries(Object.entries(calls).map(([op, n]) => [op, round((n * 1000) / spans, 1)]));
}

export async function otlpBench(log: (s: string) => void, options: OtlpBenchOptions): Promise<OtlpFigures> {
  const spans = await makeSpans(options.spans);
  const warmUp = await makeSpans(SPANS_PER_TRACE);
  const batches: ReadableSpan[][] = [];
  // In the order the spans ended, as a BatchSpanProcessor cuts them: a trace may straddle two exports.
  for (let i = 0; i < spans.length; i += options.batch) batches.push(spans.slice(i, i + options.batch));
  const batchBytes = median(batches.map((b) => ProtobufTraceSerializer.serializeRequest(b as never)!.length));
  const traces = Math.ceil(options.spans / SPANS_PER_TRACE);
  log(
    `otlp: ${spans.length} spans in ${traces} traces, ${batches.length} exports of up to ${options.batch} spans (${round(batchBytes / 1024)} KB of protobuf), ${options.concurrency} in flight, DynamoDB at ${options.dynamoEndpoint}`,
  );

  const server = await startServer(options.dynamoEndpoint);
  let first: { ms: number; latencies: number[] };
  let again: { ms: number; latencies: number[] };
  let stats: { cpuMs: number; maxRssMB: number };
  try {
    await exportAll(server, [warmUp], 1); // warm-up: loads the handler, the clients, the key (a trace of its own)
    const cpuBefore = (await server.stats()).cpuMs;
    first = await exportAll(server, batches, options.concurrency);
    stats = await server.stats();
    stats = { cpuMs: stats.cpuMs - cpuBefore, maxRssMB: stats.maxRssMB };
    again = await exportAll(server, batches, options.concurrency);
    const counted = await countOtlpTraces(server);
    if (counted !== traces + 1) throw new Error(`otlp bench: ${counted} traces listed, ${traces + 1} exported`);
  } finally {
    await server.stop();
  }
  const spansPerS = (spans.length * 1000) / first.ms;
  log(
    `otlp: new spans ${round(spansPerS)} spans/s (${round(first.ms)} ms), retried ${round((spans.length * 1000) / again.ms)} spans/s; server CPU ${round(stats.cpuMs)} ms, peak RSS ${round(stats.maxRssMB)} MB`,
  );

  // DynamoDB calls, units and the time AWS would need, on a smaller run through the AWS capacity
  // model (round trips counted, not waited out): new spans, then the same exports again.
  const sample = spans.slice(0, Math.min(spans.length, 2_000));
  const sampleBatches: ReadableSpan[][] = [];
  for (let i = 0; i < sample.length; i += options.batch) sampleBatches.push(sample.slice(i, i + options.batch));
  const model = await startCapacityModel({ target: options.dynamoEndpoint, tableName: process.env.TABLE_NAME!, injectRoundTrip: false });
  const counting = await startServer(model.endpoint);
  let newCalls: Record<string, number>;
  let retryCalls: Record<string, number>;
  let modeled: { spansPerS: number; partitionBound: number; wcuPerSpan: number; hottest: string };
  try {
    await exportAll(counting, [warmUp], 1);
    model.reset();
    await exportAll(counting, sampleBatches, options.concurrency);
    const r = model.report();
    newCalls = r.calls;
    // Exports in flight, each writing OTLP_STORE_CONCURRENCY spans at once: the callers' concurrency for the round trips.
    const m = modeledSeconds(model, r, options.concurrency * OTLP_STORE_CONCURRENCY);
    modeled = {
      spansPerS: sample.length / m.seconds,
      partitionBound: sample.length / Math.max(m.partitionSeconds, 1e-9),
      wcuPerSpan: r.wcu / sample.length,
      hottest: r.hottestWrite
        ? `${r.hottestWrite.where} ${r.hottestWrite.key.replace(/#[0-9a-f-]{36}/g, '#…')} ${round(r.hottestWrite.wcu, 0)} WCU`
        : '-',
    };
    model.reset();
    await exportAll(counting, sampleBatches, options.concurrency);
    retryCalls = model.report().calls;
  } finally {
    await counting.stop();
    await model.close();
  }
  log(
    `otlp: DynamoDB calls per 1,000 new spans ${JSON.stringify(perThousand(newCalls, sample.length))}, retried ${JSON.stringify(perThousand(retryCalls, sample.length))}`,
  );
  log(
    `otlp under the AWS capacity model: ${round(modeled.spansPerS, 0)} spans/s at ${options.concurrency} exports in flight (partitions alone would allow ${round(modeled.partitionBound, 0)}), ${round(modeled.wcuPerSpan, 2)} WCU per span, hottest ${modeled.hottest}`,
  );

  return {
    otlp_spans: spans.length,
    otlp_traces: traces,
    otlp_batch: options.batch,
    otlp_concurrency: options.concurrency,
    otlp_batch_kb: round(batchBytes / 1024),
    otlp_spans_per_s: round(spansPerS),
    otlp_retry_spans_per_s: round((spans.length * 1000) / again.ms),
    otlp_export_p50_ms: round(median(first.latencies)),
    otlp_export_p95_ms: round(p95(first.latencies)),
    otlp_server_cpu_ms_per_1k_spans: round((stats.cpuMs * 1000) / spans.length),
    otlp_server_peak_rss_mb: round(stats.maxRssMB),
    otlp_dynamodb_calls_per_1k_spans: perThousand(newCalls, sample.length),
    otlp_dynamodb_calls_per_1k_retried_spans: perThousand(retryCalls, sample.length),
    otlp_aws_spans_per_s: round(modeled.spansPerS, 0),
    otlp_aws_partition_bound_spans_per_s: round(modeled.partitionBound, 0),
    otlp_wcu_per_span: round(modeled.wcuPerSpan, 2),
  };
}
