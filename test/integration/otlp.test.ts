/**
 * OpenTelemetry ingest end to end: the stock OpenTelemetry JS SDK and OTLP exporters (protobuf and
 * JSON, gzip or not), unmodified, against the local stack. Spans come back as nested trees through
 * the Parea routes, as traces (`source: "otlp"`) through the Stratix routes, and in experiments;
 * every OTel trace is counted once, whatever the batches, order, concurrency, retries or faults.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ExportResultCode } from '@opentelemetry/core';
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { ProtobufTraceSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import root from '@opentelemetry/otlp-transformer/build/src/generated/root.js';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs/minimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoOtelTraceStore } from '../../functions/adapters/dynamo/otel-trace-store.js';
import { DynamoSpanStore } from '../../functions/adapters/dynamo/span-store.js';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { spanKeys } from '../../functions/adapters/dynamo/span-store.js';
import { newDocumentClient, newDynamoClient } from '../../functions/adapters/clients.js';
import { s3Client } from '../../functions/adapters/s3/s3-sdk.js';
import { S3ObjectStorage } from '../../functions/adapters/s3/object-storage.js';
import { S3PayloadReader } from '../../functions/adapters/s3/payload-reader.js';
import type { OtelIngestDeps } from '../../functions/domain/otel/ingest.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { parseTraceLogForest, Trace, TraceList } from '../../functions/domain/wire.js';
import { makeOtlpHandler } from '../../functions/handlers/otlpTraces.js';
import { config } from '../../functions/shared/config.js';
import type { HttpEvent } from '../../functions/shared/http.js';
import { tenantStore } from '../../functions/shared/services.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import {
  childOf,
  exportOnce,
  exporterFor,
  hexSpanId,
  hexTraceId,
  mustExport,
  recordSpans,
  startFlakyProxy,
  type Encoding,
} from '../support/otlp.js';
import { rawRequest } from '../support/raw-http.js';
import { getItem, projectCounter, projectTraces, startTestStack, type TestStack } from '../support/stack.js';
import { incompressibleText } from '../support/prng.js';
import { callApi } from '../support/api.js';

type Json = any;
type Node = Record<string, unknown> & {
  trace_id: string;
  parent_trace_id: string;
  children: string[];
  children_logs: Node[];
  depth: number;
};

let stack: TestStack;
let other: { apiKey: string; organizationId: string; projectId: string };

const v1 = (
  root as unknown as { opentelemetry: { proto: { collector: { trace: { v1: Record<string, { decode(b: Uint8Array): Json }> } } } } }
).opentelemetry.proto.collector.trace.v1;

/** google.rpc.Status (code = 1, message = 2), read with protobufjs's Reader. */
function decodeStatus(bytes: Uint8Array): { code: number; message: string } {
  const reader = protobuf.Reader.create(bytes);
  const out = { code: 0, message: '' };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1) out.code = reader.int32();
    else if (tag >>> 3 === 2) out.message = reader.string();
    else reader.skipType(tag & 7);
  }
  return out;
}

const api = (method: string, path: string, body?: unknown, key?: string) => callApi(stack, method, path, body, key);

const P = () => `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;

async function otlpTraces(): Promise<Json[]> {
  const res = await api('GET', `${P()}/traces?source=otlp&page_size=500`);
  expect(res.status, res.text).toBe(200);
  TraceList.parse(res.body);
  return res.body.traces;
}

async function treeOf(spanId: string): Promise<Node> {
  const res = await api('GET', `/api/parea/v1/trace_log/${spanId}`);
  expect(res.status, res.text).toBe(200);
  parseTraceLogForest([res.body]);
  return res.body as Node;
}

/** Every node of a tree, parents first. */
function nodes(tree: Node): Node[] {
  const out: Node[] = [];
  const stackOf = [tree];
  while (stackOf.length) {
    const n = stackOf.pop()!;
    out.push(n);
    stackOf.push(...[...n.children_logs].reverse());
  }
  return out;
}

/** Counters equal to the items: the project's, its otlp source's and each hour's. */
async function expectCountersMatchItems(): Promise<void> {
  const items = await projectTraces(stack);
  const counter = await projectCounter(stack);
  expect(counter?.traces).toBe(items.length);
  const bySource: Record<string, number> = {};
  for (const t of items) bySource[t.source] = (bySource[t.source] ?? 0) + 1;
  expect(Object.fromEntries(Object.entries(counter?.by_source ?? {}).filter(([, n]) => n !== 0))).toEqual(bySource);
  const byHour = new Map<string, number>();
  for (const t of items) byHour.set(t.created_at.slice(0, 13), (byHour.get(t.created_at.slice(0, 13)) ?? 0) + 1);
  for (const [hour, n] of byHour) {
    const item = (await getItem(stack, keys.hourCounter(stack.info.organizationId, stack.info.projectId, `${hour}:00:00.000Z`))) as
      | { traces: number }
      | undefined;
    expect(item?.traces, `hour ${hour}`).toBe(n);
  }
}

/**
 * An agent run: a root chain span (OpenInference), a GenAI chat span, a tool span and, under the
 * tool, an OpenInference LLM span. Answers the spans and the ids by role.
 */
async function agentRun(tag: string, resource: Record<string, string> = {}) {
  const ids: Record<'root' | 'chat' | 'tool' | 'summarize', string> = { root: '', chat: '', tool: '', summarize: '' };
  const spans = await recordSpans({ 'service.name': `agent-${tag}`, ...resource }, (tracer: Tracer) => {
    // Start times a millisecond apart: siblings are ordered by them.
    const t0 = Date.now();
    const rootSpan = tracer.startSpan('agent run', {
      startTime: t0,
      attributes: { 'openinference.span.kind': 'CHAIN', 'input.value': `What is the capital of France? (${tag})`, 'output.value': 'Paris' },
    });
    const chat = childOf(
      tracer,
      rootSpan,
      'chat gpt-4o',
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.max_tokens': 200,
        'gen_ai.usage.input_tokens': 31,
        'gen_ai.usage.output_tokens': 9,
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'What is the capital of France?' }] }]),
        'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: 'Let me look it up.' }] }]),
      },
      t0 + 1,
    );
    chat.end();
    const tool = childOf(
      tracer,
      rootSpan,
      'tool search',
      { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' },
      t0 + 2,
    );
    const summarize = childOf(
      tracer,
      tool,
      'summarize',
      {
        'openinference.span.kind': 'LLM',
        'llm.model_name': 'claude-3-5-haiku',
        'llm.provider': 'anthropic',
        'llm.input_messages.0.message.role': 'user',
        'llm.input_messages.0.message.content': 'Summarize: Paris is the capital.',
        'output.value': 'Paris.',
        'llm.token_count.prompt': 12,
        'llm.token_count.completion': 2,
        'llm.token_count.total': 14,
      },
      t0 + 3,
    );
    summarize.setStatus({ code: SpanStatusCode.ERROR, message: 'overloaded' });
    summarize.recordException(Object.assign(new Error('529 overloaded'), { name: 'OverloadedError' }));
    summarize.end();
    tool.end();
    rootSpan.end();
    ids.root = rootSpan.spanContext().spanId;
    ids.chat = chat.spanContext().spanId;
    ids.tool = tool.spanContext().spanId;
    ids.summarize = summarize.spanContext().spanId;
  });
  expect(spans).toHaveLength(4);
  return { spans, ids, traceId: hexTraceId(spans[0]!), byId: (id: string) => spans.find((s) => hexSpanId(s) === id)! };
}

/** Checks one agent run as the Parea, Stratix and experiment routes show it. */
async function expectAgentRun(run: Awaited<ReturnType<typeof agentRun>>, tag: string) {
  const tree = await treeOf(run.ids.root);
  expect(tree).toMatchObject({
    trace_id: run.ids.root,
    parent_trace_id: run.ids.root,
    root_trace_id: run.traceId,
    trace_name: 'agent run',
    depth: 0,
    status: 'success',
  });
  expect(tree.inputs).toEqual({ value: `What is the capital of France? (${tag})` });
  expect(tree.output).toBe('Paris');
  expect(tree.children_logs.map((c) => c.trace_id)).toEqual([run.ids.chat, run.ids.tool]);
  const [chat, tool] = tree.children_logs;
  expect(chat).toMatchObject({
    trace_name: 'chat gpt-4o',
    depth: 1,
    status: 'success',
    configuration: {
      model: 'gpt-4o',
      provider: 'openai',
      model_params: { temp: 0.2, max_length: 200 },
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    },
    output: 'Let me look it up.',
    input_tokens: 31,
    output_tokens: 9,
    total_tokens: 40,
  });
  expect(tool!.children_logs).toHaveLength(1);
  expect(tool!.children_logs[0]).toMatchObject({
    trace_id: run.ids.summarize,
    depth: 2,
    status: 'error',
    configuration: {
      model: 'claude-3-5-haiku',
      provider: 'anthropic',
      messages: [{ role: 'user', content: 'Summarize: Paris is the capital.' }],
    },
    output: 'Paris.',
    total_tokens: 14,
  });
  expect(String(tool!.children_logs[0]!.error)).toMatch(/^overloaded\n\nOverloadedError: 529 overloaded\n/);
  expect((tool as Node & { metadata: Record<string, string> }).metadata).toMatchObject({
    'service.name': `agent-${tag}`,
    'gen_ai.tool.name': 'search',
    'otel.scope.name': 'trace-ingest-tests',
  });
  // A subtree: the tool span and its child.
  const sub = await treeOf(run.ids.tool);
  expect(nodes(sub).map((n) => n.trace_id)).toEqual([run.ids.tool, run.ids.summarize]);

  // As a trace: once, with its spans as the document.
  const traces = (await otlpTraces()).filter((t) => t.id === run.traceId);
  expect(traces).toHaveLength(1);
  const got = await api('GET', `${P()}/traces/${run.traceId}`);
  expect(got.status, got.text).toBe(200);
  Trace.parse(got.body);
  expect(got.body).toMatchObject({
    id: run.traceId,
    source: 'otlp',
    filename: 'agent run',
    input: `What is the capital of France? (${tag})`,
    upload_id: run.traceId,
    evaluations_count: 0,
  });
  expect(got.body.data).toMatchObject({
    trace_id: run.traceId,
    root_span_id: run.ids.root,
    name: 'agent run',
    span_count: 4,
    status: 'error',
    input_tokens: 43,
    output_tokens: 11,
    total_tokens: 54,
  });
  expect(got.body.data.spans.map((s: Json) => s.trace_id).sort()).toEqual(Object.values(run.ids).sort());
  return tree;
}

beforeAll(async () => {
  stack = await startTestStack({ notifications: false });
  other = await createApiKey(tenantStore(), { organization: 'otel-other', project: 'p' });
}, 120_000);

afterAll(async () => {
  await stack?.cleanup();
});

describe('the stock OTLP exporters', () => {
  it.each<[Encoding, boolean]>([
    ['protobuf', false],
    ['protobuf', true],
    ['json', false],
    ['json', true],
  ])(
    '%s (gzip: %s): spans exported in batches, in any order, become nested trees, one trace and experiment trees',
    async (encoding, gzip) => {
      const tag = `${encoding}-${gzip}`;
      const experiment = `exp-otel-${tag}`;
      const run = await agentRun(tag, { experiment_uuid: experiment });
      const exporter = exporterFor(encoding, stack.info.apiUrl, stack.info.apiKey, { gzip });
      // Children first, the root last, in three export calls: as a BatchSpanProcessor may cut them.
      await mustExport(exporter, [run.byId(run.ids.summarize)]);
      await mustExport(exporter, [run.byId(run.ids.tool), run.byId(run.ids.chat)]);
      const before = (await otlpTraces()).find((t) => t.id === run.traceId);
      expect(before).toMatchObject({ filename: `otlp:${run.traceId}`, input: null });
      expect(before.data).toMatchObject({ root_span_id: null, span_count: 3 });
      await mustExport(exporter, [run.byId(run.ids.root)]);
      await exporter.shutdown();

      await expectAgentRun(run, tag);
      const trees = await api('POST', `/api/parea/v1/experiment/${experiment}/trace_logs`, {});
      expect(trees.status, trees.text).toBe(200);
      parseTraceLogForest(trees.body);
      expect(trees.body).toHaveLength(1);
      expect(nodes(trees.body[0]).map((n) => n.trace_id)).toEqual([run.ids.root, run.ids.chat, run.ids.tool, run.ids.summarize]);
      // Filters see OTel spans like any: a tree with an LLM span on claude.
      const filtered = await api('POST', `/api/parea/v1/experiment/${experiment}/trace_logs`, {
        filter_field: 'metadata',
        filter_key: 'service.name',
        filter_operator: 'equals',
        filter_value: `agent-${tag}`,
      });
      expect(filtered.body).toHaveLength(1);
      await expectCountersMatchItems();
    },
  );

  it('OTEL_EXPORTER_OTLP_ENDPOINT=<api>/otel with the key in OTEL_EXPORTER_OTLP_HEADERS is the whole setup (and Bearer works too)', async () => {
    const run = await agentRun('env');
    const saved = { ...process.env };
    try {
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `${stack.info.apiUrl}/otel`;
      process.env.OTEL_EXPORTER_OTLP_HEADERS = `x-api-key=${stack.info.apiKey}`;
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      const exporter = new OTLPTraceExporter();
      await mustExport(exporter, run.spans.slice(0, 2));
      await exporter.shutdown();
      process.env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=Bearer ${stack.info.apiKey}`;
      const { OTLPTraceExporter: JsonExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      const json = new JsonExporter();
      await mustExport(json, run.spans.slice(2));
      await json.shutdown();
    } finally {
      process.env = saved;
    }
    await expectAgentRun(run, 'env');
  });

  it('a bad or missing key is a 401 and stores nothing; another project never sees the spans', async () => {
    const run = await agentRun('keys');
    for (const key of ['', 'tik_not-a-key']) {
      const result = await exportOnce(exporterFor('protobuf', stack.info.apiUrl, key), run.spans);
      expect(result.code).toBe(ExportResultCode.FAILED);
    }
    expect((await otlpTraces()).some((t) => t.id === run.traceId)).toBe(false);
    await mustExport(exporterFor('json', stack.info.apiUrl, other.apiKey), run.spans);
    expect((await otlpTraces()).some((t) => t.id === run.traceId)).toBe(false);
    expect((await api('GET', `/api/parea/v1/trace_log/${run.ids.root}`)).status).toBe(404);
    expect((await api('GET', `/api/parea/v1/trace_log/${run.ids.root}`, undefined, other.apiKey)).status).toBe(200);
  });
});

describe('idempotent, whatever the retries, batches and concurrency', () => {
  it('an export whose answer was lost (503, 429) is retried by the exporter and changes nothing', async () => {
    for (const status of [503, 429]) {
      const run = await agentRun(`retry-${status}`);
      const proxy = await startFlakyProxy(stack.info.apiUrl, 1, status);
      try {
        await mustExport(exporterFor('protobuf', stack.info.apiUrl, stack.info.apiKey, { url: `${proxy.url}/otel/v1/traces` }), run.spans);
        expect(proxy.requests).toBe(2);
      } finally {
        await proxy.close();
      }
      await expectAgentRun(run, `retry-${status}`);
      const item = await getItem(stack, keys.trace(stack.info.organizationId, stack.info.projectId, run.traceId));
      expect(item?.otel_version).toBe(1);
      const spanItem = await getItem(stack, spanKeys.span(stack.info.organizationId, stack.info.projectId, run.ids.root));
      expect(spanItem?.version).toBe(1);
      // And again, and an older batch after a newer one: the same document, versions unchanged.
      await mustExport(exporterFor('json', stack.info.apiUrl, stack.info.apiKey), run.spans.slice(0, 1));
      await mustExport(exporterFor('protobuf', stack.info.apiUrl, stack.info.apiKey), run.spans);
      expect((await getItem(stack, keys.trace(stack.info.organizationId, stack.info.projectId, run.traceId)))?.otel_version).toBe(1);
      expect((await getItem(stack, spanKeys.span(stack.info.organizationId, stack.info.projectId, run.ids.root)))?.version).toBe(1);
    }
    await expectCountersMatchItems();
  });

  it('spans of a few traces exported concurrently, one per call, make each trace once with every span', async () => {
    const runs = await Promise.all(['c1', 'c2', 'c3'].map((t) => agentRun(`concurrent-${t}`)));
    const extra = await recordSpans({ 'service.name': 'wide' }, (tracer) => {
      const t0 = Date.now();
      const r = tracer.startSpan('wide root', { startTime: t0 });
      for (let i = 0; i < 20; i++) childOf(tracer, r, `step ${i}`, { step: i }, t0 + 1 + i).end();
      r.end();
    });
    const all = [...runs.flatMap((r) => r.spans), ...extra];
    const shuffled = [...all].sort(() => Math.random() - 0.5);
    const counterBefore = (await projectCounter(stack))?.by_source.otlp ?? 0;
    await Promise.all(
      shuffled.map((s, i) => mustExport(exporterFor(i % 2 ? 'protobuf' : 'json', stack.info.apiUrl, stack.info.apiKey), [s])),
    );
    for (const [i, run] of runs.entries()) await expectAgentRun(run, `concurrent-c${i + 1}`);
    const wide = await api('GET', `${P()}/traces/${hexTraceId(extra[0]!)}`);
    expect(wide.body.data.span_count).toBe(21);
    const wideTree = await treeOf(wide.body.data.root_span_id);
    expect(wideTree.children_logs.map((c) => c.trace_name)).toEqual(Array.from({ length: 20 }, (_, i) => `step ${i}`));
    expect((await projectCounter(stack))?.by_source.otlp).toBe(counterBefore + 4);
    await expectCountersMatchItems();
  });

  it('through a table that throttles 30% of writes, retried exports end with exactly the spans and traces of a clean one; a throttled store answers 429 with Retry-After', async () => {
    const proxy = await startFaultProxy({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, seed: 14, throttleRate: 0.3 });
    const dynamo = newDynamoClient(proxy.endpoint);
    const c = config();
    const deps: OtelIngestDeps = {
      spans: new DynamoSpanStore(newDocumentClient(dynamo), c.TABLE_NAME),
      traces: new DynamoOtelTraceStore(dynamo, c.TABLE_NAME, new S3PayloadReader(s3Client(), c.BUCKET_NAME), { baseDelayMs: 5 }),
      payloads: new S3ObjectStorage(s3Client(), c.BUCKET_NAME),
    };
    const handler = makeOtlpHandler(() => deps);
    const runs = await Promise.all(['t1', 't2'].map((t) => agentRun(`throttled-${t}`)));
    const event = (body: Buffer): HttpEvent =>
      ({
        version: '2.0',
        routeKey: 'POST /otel/v1/traces',
        rawPath: '/otel/v1/traces',
        rawQueryString: '',
        headers: { 'content-type': 'application/x-protobuf', 'x-api-key': stack.info.apiKey },
        body: body.toString('base64'),
        isBase64Encoded: true,
        requestContext: {},
      }) as unknown as HttpEvent;
    const statuses: number[] = [];
    try {
      for (const run of runs) {
        // Two batches per trace, each retried until it is taken, as an exporter would.
        for (const batch of [run.spans.slice(0, 2), run.spans.slice(2)]) {
          const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(batch as never)!);
          for (let attempt = 0; ; attempt++) {
            const res = await handler(event(body));
            statuses.push(res.statusCode!);
            if (res.statusCode === 200) break;
            expect(res.statusCode).toBe(429);
            expect(res.headers?.['retry-after']).toBe('1');
            expect(res.headers?.['content-type']).toBe('application/x-protobuf');
            expect(decodeStatus(Buffer.from(res.body!, 'base64'))).toEqual({ code: 8, message: expect.stringMatching(/busy|throttling/) });
            expect(attempt).toBeLessThan(50);
          }
        }
      }
    } finally {
      await proxy.close();
    }
    expect(proxy.stats.provisionedThroughputExceeded + proxy.stats.throttlingExceptions).toBeGreaterThan(0);
    expect(statuses).toContain(429);
    for (const [i, run] of runs.entries()) await expectAgentRun(run, `throttled-t${i + 1}`);
    await expectCountersMatchItems();
  });
});

describe('traces like any other', () => {
  it('are listed, searched, evaluated and deleted; spans after an evaluation keep it, spans after a delete make the trace again, counted once', async () => {
    const run = await agentRun('lifecycle');
    const exporter = exporterFor('protobuf', stack.info.apiUrl, stack.info.apiKey);
    await mustExport(
      exporter,
      run.spans.filter((s) => hexSpanId(s) !== run.ids.summarize),
    );
    const search = await api('GET', `${P()}/traces?search=${encodeURIComponent('(lifecycle)')}`);
    expect(search.body.traces.map((t: Json) => t.id)).toEqual([run.traceId]);
    expect((await api('GET', `${P()}/traces/sources`)).body.sources).toContain('otlp');

    const evaluation = await api('POST', `${P()}/trace-evaluations`, {
      trace_id: run.traceId,
      judge_id: 'judge-otel',
      passed: true,
      score: 1,
    });
    expect(evaluation.status, evaluation.text).toBe(201);
    await mustExport(exporter, [run.byId(run.ids.summarize)]);
    const evaluated = await api('GET', `${P()}/traces/${run.traceId}`);
    expect(evaluated.body).toMatchObject({
      evaluations_count: 1,
      last_evaluations: [expect.objectContaining({ judge_id: 'judge-otel', passed: true })],
    });
    expect(evaluated.body.data.span_count).toBe(4);
    expect((await api('GET', `${P()}/traces?judge_id=judge-otel&status=pass`)).body.traces.map((t: Json) => t.id)).toEqual([run.traceId]);

    const counted = (await projectCounter(stack))!.by_source.otlp!;
    expect((await api('DELETE', `${P()}/traces/${run.traceId}`)).status).toBe(204);
    expect((await api('GET', `${P()}/traces/${run.traceId}`)).status).toBe(404);
    expect((await projectCounter(stack))!.by_source.otlp).toBe(counted - 1);
    expect((await api('GET', `${P()}/trace-evaluations?trace_id=${run.traceId}`)).body.total).toBe(0);
    await expectCountersMatchItems();
    // The spans stay trace logs (as an uploaded record's spans do).
    expect((await api('GET', `/api/parea/v1/trace_log/${run.ids.root}`)).status).toBe(200);
    // A span that comes after the delete starts the trace again, counted once.
    await mustExport(exporter, [run.byId(run.ids.chat)]);
    const again = await api('GET', `${P()}/traces/${run.traceId}`);
    expect(again.body.data.span_count).toBe(1);
    expect((await projectCounter(stack))!.by_source.otlp).toBe(counted);
    await expectCountersMatchItems();
  });

  it('a trace too large for an item keeps its document in S3, one object per trace, the one it replaced deleted', async () => {
    const big = incompressibleText(150_000); // a span of ~150 KB that does not deflate
    const spans = await recordSpans({ 'service.name': 'big' }, (tracer) => {
      const r = tracer.startSpan('big root', { attributes: { 'output.value': big } });
      for (let i = 0; i < 4; i++) childOf(tracer, r, `big ${i}`, { 'output.value': `${i}${big}` }).end();
      r.end();
    });
    const traceId = hexTraceId(spans[0]!);
    const exporter = exporterFor('protobuf', stack.info.apiUrl, stack.info.apiKey, { gzip: true });
    await mustExport(exporter, spans.slice(0, 2));
    await mustExport(exporter, spans.slice(2, 4));
    await mustExport(exporter, spans.slice(4));
    const item = await getItem(stack, keys.trace(stack.info.organizationId, stack.info.projectId, traceId));
    expect(item?.payload_key).toEqual(expect.stringMatching(new RegExp(`^payloads/.+/${traceId}\\.v\\d+\\.`)));
    expect(item?.doc).toBeUndefined();
    const got = await api('GET', `${P()}/traces/${traceId}`);
    expect(got.body.data.span_count).toBe(5);
    expect(got.body.data.spans.every((s: Json) => typeof s.output === 'string' && s.output.endsWith(big))).toBe(true);
    const objects = await stack.s3.send(
      new ListObjectsV2Command({
        Bucket: stack.info.bucket,
        Prefix: `payloads/${stack.info.organizationId}/${stack.info.projectId}/${traceId}`,
      }),
    );
    expect((objects.Contents ?? []).map((o) => o.Key)).toEqual([item?.payload_key]);
    expect((await api('DELETE', `${P()}/traces/${traceId}`)).status).toBe(204);
    const after = await stack.s3.send(
      new ListObjectsV2Command({
        Bucket: stack.info.bucket,
        Prefix: `payloads/${stack.info.organizationId}/${stack.info.projectId}/${traceId}`,
      }),
    );
    expect(after.Contents ?? []).toEqual([]);
    await expectCountersMatchItems();
  });
});

describe('answers per OTLP/HTTP', () => {
  const post = (body: string | Buffer, headers: Record<string, string>, key = stack.info.apiKey) =>
    rawRequest(stack.info.apiUrl, { method: 'POST', path: '/otel/v1/traces', headers: { 'x-api-key': key, ...headers }, body });

  it('partial success names the spans it could not take, in the request encoding; the rest are stored', async () => {
    const spans = await recordSpans({ 'service.name': 'partial' }, (tracer) => {
      const r = tracer.startSpan('partial root');
      childOf(tracer, r, 'huge', { 'output.value': 'h'.repeat(400_000) }).end();
      childOf(tracer, r, 'fine').end();
      r.end();
    });
    const huge = spans.find((s) => s.name === 'huge')!;
    const proto = await post(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans as never)!), {
      'content-type': 'application/x-protobuf',
    });
    expect(proto.status).toBe(200);
    expect(proto.headers['content-type']).toBe('application/x-protobuf');
    const answer = v1.ExportTraceServiceResponse!.decode(proto.bytes);
    expect(String(answer.partialSuccess.rejectedSpans)).toBe('1');
    expect(answer.partialSuccess.errorMessage).toMatch(new RegExp(`span ${hexSpanId(huge)}: span ${hexSpanId(huge)} is too large`));
    const json = await post(Buffer.from(JsonTraceSerializer.serializeRequest(spans as never)!), { 'content-type': 'application/json' });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.text)).toEqual({
      partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining(hexSpanId(huge)) },
    });
    const doc = (await api('GET', `${P()}/traces/${hexTraceId(huge)}`)).body.data;
    expect(doc.spans.map((s: Json) => s.trace_name).sort()).toEqual(['fine', 'partial root']);
    // The stock exporter takes a partial success as a success (and logs it).
    await mustExport(exporterFor('json', stack.info.apiUrl, stack.info.apiKey), spans);
    // All taken: an empty answer.
    const ok = await post(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans.filter((s) => s !== huge) as never)!), {
      'content-type': 'application/x-protobuf',
    });
    expect(ok.status).toBe(200);
    expect(ok.bytes.length).toBe(0);
    // Spans without valid ids are refused one by one (OTLP/JSON, hex ids).
    const bad = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans.slice(0, 2) as never)!).toString()) as Json;
    bad.resourceSpans[0].scopeSpans[0].spans[0].spanId = 'not-hex';
    bad.resourceSpans[0].scopeSpans[0].spans[1].traceId = '00000000000000000000000000000000';
    const refused = await post(JSON.stringify(bad), { 'content-type': 'application/json' });
    expect(JSON.parse(refused.text).partialSuccess.rejectedSpans).toBe('2');
  });

  it('errors: a protobuf request gets a protobuf Status, a JSON one a JSON Status with our error object', async () => {
    const bad = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), { 'content-type': 'application/x-protobuf' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeStatus(bad.bytes)).toEqual({
      code: 3,
      message: expect.stringMatching(/^the body is not an OTLP ExportTraceServiceRequest in protobuf/),
    });
    const badJson = await post('{"resourceSpans": 5}', { 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.text)).toEqual({
      code: 3,
      message: expect.any(String),
      error: { code: 'invalid_body', message: expect.any(String) },
    });
    const notGzip = await post('plain', { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(notGzip.status).toBe(400);
    expect(JSON.parse(notGzip.text).error.message).toBe('the body is not valid gzip');
    const type = await post('{}', { 'content-type': 'text/plain' });
    expect(type.status).toBe(415);
    expect(JSON.parse(type.text).error.code).toBe('unsupported_media_type');
    const encoding = await post('{}', { 'content-type': 'application/json', 'content-encoding': 'br' });
    expect(encoding.status).toBe(415);
    const bomb = await post(gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20)), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(bomb.status).toBe(413);
    expect(JSON.parse(bomb.text).error.code).toBe('payload_too_large');
    const huge = await post(Buffer.alloc(7 * 1024 * 1024, 1), { 'content-type': 'application/x-protobuf' });
    expect(huge.status).toBe(413);
    // OTLP/HTTP's answer to a missing or bad key is a 401 (the exporters do not retry it), in the request's encoding.
    const noKey = await post('{}', { 'content-type': 'application/json' }, '');
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.text).error.code).toBe('unauthorized');
    const badKey = await post(Buffer.alloc(0), { 'content-type': 'application/x-protobuf' }, 'tik_not-a-key');
    expect(badKey.status).toBe(401);
    expect(badKey.headers['content-type']).toBe('application/x-protobuf');
  });
});
