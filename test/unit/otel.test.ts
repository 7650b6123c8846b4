import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs/minimal.js';
import root from '@opentelemetry/otlp-transformer/build/src/generated/root.js';
import { mergeDocument, MAX_INLINE_SPANS_BYTES, type OtelTraceDocument } from '../../functions/domain/otel/ingest.js';
import { isoMicros, toTraceLog } from '../../functions/domain/otel/map.js';
import {
  decodeRequest,
  decompress,
  loadOtlpCodec,
  encodeResponse,
  encodeStatus,
  encodingOf,
  MAX_ATTRIBUTE_DEPTH,
  MAX_DECODED_BODY_BYTES,
  OtlpRequestError,
  type OtlpRequest,
} from '../../functions/domain/otel/otlp.js';
import { parseSpan } from '../../functions/domain/parea/index.js';
import { nestedAttributeRequest } from '../support/otlp.js';
import type { Span } from '../../functions/domain/parea/span.js';

// The generated messages load on first use (as the handler does before decoding).
beforeAll(loadOtlpCodec);

const TRACE = '5b8efff798038103d269b633813fc60c';
const ROOT = 'eee19b7ec3c1b174';
const CHILD = 'eee19b7ec3c1b173';

type Attr = string | number | boolean | Attr[] | { kv: Record<string, Attr> } | { int: string } | { bytes: string };

/** An OTLP/JSON AnyValue, as exporters write it. */
function any(v: Attr): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: v } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(any) } };
  if ('int' in v) return { intValue: v.int };
  if ('bytes' in v) return { bytesValue: v.bytes };
  return { kvlistValue: { values: kvs(v.kv) } };
}
const kvs = (o: Record<string, Attr>) => Object.entries(o).map(([key, value]) => ({ key, value: any(value) }));

interface JsonSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  attributes?: Record<string, Attr>;
  events?: Array<{ name: string; timeUnixNano?: string; attributes?: Record<string, Attr> }>;
  status?: { code?: number; message?: string };
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  [k: string]: unknown;
}

function request(spans: JsonSpan[], resource: Record<string, Attr> = { 'service.name': 'agent' }): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: kvs(resource) },
        scopeSpans: [
          {
            scope: { name: 'my-scope', version: '1.2.3' },
            spans: spans.map((s) => ({
              traceId: TRACE,
              spanId: ROOT,
              name: 'span',
              kind: 1,
              startTimeUnixNano: '1767225600123456789',
              endTimeUnixNano: '1767225601623456789',
              ...s,
              attributes: kvs(s.attributes ?? {}),
              events: (s.events ?? []).map((e) => ({ timeUnixNano: '1767225600500000000', ...e, attributes: kvs(e.attributes ?? {}) })),
            })),
          },
        ],
      },
    ],
  };
}

const decodeJson = (body: unknown): OtlpRequest => decodeRequest(Buffer.from(JSON.stringify(body)), 'json');

/** The trace log of the first span of an OTLP/JSON request, as POST /trace_log would validate it. */
function traceLog(span: JsonSpan, resource?: Record<string, Attr>): Span & Record<string, unknown> {
  const req = decodeJson(request([span], resource));
  const rs = req.resourceSpans[0]!;
  const ss = rs.scopeSpans[0]!;
  return parseSpan(toTraceLog(ss.spans[0]!, { resource: rs.resource, scope: ss.scope }), '2026-01-01T00:00:00Z') as Span &
    Record<string, unknown>;
}

const ExportRequest = (
  root as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          trace: {
            v1: Record<
              string,
              {
                fromObject(o: unknown): unknown;
                encode(m: unknown): { finish(): Uint8Array };
                decode(b: Uint8Array): Record<string, unknown>;
              }
            >;
          };
        };
      };
    };
  }
).opentelemetry.proto.collector.trace.v1;

describe('OTLP decoding', () => {
  it('reads protobuf and OTLP/JSON into the same spans (hex ids, nanosecond times, typed attributes)', () => {
    const json = request([
      {
        parentSpanId: CHILD,
        attributes: {
          s: 'x',
          i: 7,
          big: { int: '9007199254740993' },
          d: 0.5,
          b: true,
          arr: ['a', 1],
          kv: { kv: { k: 'v' } },
          raw: { bytes: 'AAE=' },
        },
      },
    ]);
    const fromJson = decodeJson(json);
    // The same request as the protobuf bytes an exporter sends (ids as bytes there).
    const withBytes = structuredClone(json) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    for (const s of withBytes.resourceSpans[0]!.scopeSpans[0]!.spans) {
      for (const f of ['traceId', 'spanId', 'parentSpanId']) s[f] = Buffer.from(s[f] as string, 'hex');
    }
    const bytes = ExportRequest.ExportTraceServiceRequest!.encode(ExportRequest.ExportTraceServiceRequest!.fromObject(withBytes)).finish();
    const fromProto = decodeRequest(Buffer.from(bytes), 'protobuf');
    expect(fromProto).toEqual(fromJson);
    const span = fromJson.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(span).toMatchObject({
      traceId: TRACE,
      spanId: ROOT,
      parentSpanId: CHILD,
      startNs: 1767225600123456789n,
      endNs: 1767225601623456789n,
      invalid: null,
    });
    expect(Object.fromEntries(span.attributes)).toEqual({
      s: 'x',
      i: 7,
      big: '9007199254740993',
      d: 0.5,
      b: true,
      arr: ['a', 1],
      kv: { k: 'v' },
      raw: 'AAE=',
    });
    expect(Object.fromEntries(fromJson.resourceSpans[0]!.resource)).toEqual({ 'service.name': 'agent' });
  });

  it('marks ids that are not hex, of the wrong length or all zero as missing, so the span is refused', () => {
    const req = decodeJson(
      request([
        { spanId: 'zz19b7ec3c1b174q' },
        { traceId: 'abc' },
        { spanId: '0000000000000000' },
        { parentSpanId: 'abcd' },
        { parentSpanId: '0000000000000000' },
      ]),
    );
    const spans = req.resourceSpans[0]!.scopeSpans[0]!.spans;
    expect(spans.map((s) => [s.traceId !== '', s.spanId !== '', s.badParent, s.parentSpanId])).toEqual([
      [true, false, false, ''],
      [false, true, false, ''],
      [true, false, false, ''],
      [true, true, true, ''],
      [true, true, false, ''], // an all-zero parent is no parent: a root
    ]);
  });

  it('refuses what is not an OTLP request with a malformed error, never anything else', () => {
    const bad: Array<[string | Buffer, 'json' | 'protobuf']> = [
      ['{', 'json'],
      ['[]', 'json'],
      ['null', 'json'],
      ['{"resourceSpans": 5}', 'json'],
      ['{"resourceSpans": [null]}', 'json'],
      ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": "x"}]}]}]}', 'json'],
      ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": ""}]}]}]}', 'json'],
      [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'protobuf'],
      [Buffer.from([0x0f]), 'protobuf'],
      [Buffer.from('not protobuf at all, just text'), 'protobuf'],
    ];
    for (const [body, encoding] of bad) {
      let error: unknown;
      try {
        decodeRequest(Buffer.from(body), encoding);
      } catch (err) {
        error = err;
      }
      expect(error, String(body)).toBeInstanceOf(OtlpRequestError);
      expect((error as OtlpRequestError).kind).toBe('invalid_body');
    }
    // Unknown fields are ignored, as OTLP/JSON receivers must.
    expect(decodeJson({ anything: 1, resourceSpans: [] }).resourceSpans).toEqual([]);
  });

  it('refuses the spans (not the request) of an attribute nested beyond the limit; a body nested beyond any stack is malformed', () => {
    let deep: Attr = 'leaf';
    for (let i = 0; i <= MAX_ATTRIBUTE_DEPTH; i++) deep = [deep];
    const req = decodeJson(request([{ attributes: { deep } }, { spanId: CHILD }]));
    expect(req.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.invalid)).toEqual([
      expect.stringMatching(/nested more than 64 levels/),
      null,
    ]);
    const viaResource = decodeJson(request([{}], { deep }));
    expect(viaResource.resourceSpans[0]!.invalid).toMatch(/nested more than 64/);
    // An attribute of 100,000 nested arrays, in protobuf: deeper than any decoder's stack.
    const inner = nestedAttributeRequest(100_000);
    // (The same shape 100 levels deep decodes, and its span is refused for the depth.)
    expect(decodeRequest(nestedAttributeRequest(100), 'protobuf').resourceSpans[0]!.scopeSpans[0]!.spans[0]!.invalid).toMatch(
      /nested more than 64/,
    );
    expect(() => decodeRequest(inner, 'protobuf')).toThrow(OtlpRequestError);
  });

  it('gunzips within a bound, and refuses other encodings', () => {
    const body = Buffer.from(JSON.stringify(request([{}])));
    expect(decompress(gzipSync(body), 'gzip')).toEqual(body);
    expect(decompress(body, undefined)).toEqual(body);
    expect(() => decompress(Buffer.from('not gzip'), 'gzip')).toThrow(expect.objectContaining({ kind: 'invalid_body' }));
    expect(() => decompress(body, 'br')).toThrow(
      expect.objectContaining({
        kind: 'unsupported_media_type',
        message: expect.stringMatching(/^Content-Encoding "br" is not supported/),
      }),
    );
    const bomb = gzipSync(Buffer.alloc(MAX_DECODED_BODY_BYTES + 1));
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decompress(bomb, 'gzip')).toThrow(expect.objectContaining({ kind: 'payload_too_large' }));
  });

  it('knows the two OTLP/HTTP content types', () => {
    expect(encodingOf('application/x-protobuf')).toBe('protobuf');
    expect(encodingOf('application/json; charset=utf-8')).toBe('json');
    expect(encodingOf('APPLICATION/JSON')).toBe('json');
    for (const t of [undefined, '', 'text/plain', 'application/jsonx', 'application/octet-stream']) expect(encodingOf(t)).toBeNull();
  });

  it('answers ExportTraceServiceResponse in either encoding, partial_success only when spans were refused', () => {
    const Response = ExportRequest.ExportTraceServiceResponse!;
    expect(encodeResponse({ rejectedSpans: 0, errorMessage: '' }, 'json')).toBe('{}');
    expect(JSON.parse(encodeResponse({ rejectedSpans: 2, errorMessage: 'why' }, 'json') as string)).toEqual({
      partialSuccess: { rejectedSpans: '2', errorMessage: 'why' },
    });
    expect((encodeResponse({ rejectedSpans: 0, errorMessage: '' }, 'protobuf') as Buffer).length).toBe(0);
    const decoded = Response.decode(encodeResponse({ rejectedSpans: 3, errorMessage: 'why' }, 'protobuf') as Buffer) as {
      partialSuccess: { rejectedSpans: { toString(): string }; errorMessage: string };
    };
    expect(decoded.partialSuccess.rejectedSpans.toString()).toBe('3');
    expect(decoded.partialSuccess.errorMessage).toBe('why');
    // google.rpc.Status: code 3, message.
    expect([...encodeStatus(3, 'bad')]).toEqual([0x08, 0x03, 0x12, 0x03, 0x62, 0x61, 0x64]);
    // The same bytes as protobufjs's Writer, for any code and message (a negative int32 is ten bytes, a long message's length two).
    for (const [code, message] of [
      [0, ''],
      [16, 'no key'],
      [300, 'é'.repeat(100)],
      [-1, 'x'],
      [2 ** 31 - 1, ''],
    ] as const) {
      const w = protobuf.Writer.create();
      if (code !== 0) w.uint32(8).int32(code);
      if (message !== '') w.uint32(18).string(message);
      expect([...encodeStatus(code, message)], `${code}`).toEqual([...w.finish()]);
    }
  });
});

describe('OTel span → trace log', () => {
  it('takes ids, name, times, latency and status; the OTel trace id groups the tree', () => {
    const root = traceLog({ name: 'agent run' });
    expect(root).toMatchObject({
      trace_id: ROOT,
      parent_trace_id: ROOT,
      root_trace_id: TRACE,
      trace_name: 'agent run',
      start_timestamp: '2026-01-01T00:00:00.123456Z',
      end_timestamp: '2026-01-01T00:00:01.623456Z',
      latency: 1.5,
      status: 'success',
    });
    expect(traceLog({ spanId: CHILD, parentSpanId: ROOT })).toMatchObject({ trace_id: CHILD, parent_trace_id: ROOT, root_trace_id: TRACE });
    expect(isoMicros(0n)).toBe('1970-01-01T00:00:00.000000Z');
    expect(isoMicros(1767225600000000999n)).toBe('2026-01-01T00:00:00.000000Z');
  });

  it('an ERROR status is an error holding the status message and each exception event', () => {
    const span = traceLog({
      status: { code: 2, message: 'model call failed' },
      events: [
        {
          name: 'exception',
          attributes: {
            'exception.type': 'RateLimitError',
            'exception.message': 'slow down',
            'exception.stacktrace': 'RateLimitError: slow down\n    at call (client.ts:1)',
          },
        },
        { name: 'retry', attributes: { attempt: 2 } },
      ],
    });
    expect(span.status).toBe('error');
    expect(span.error).toBe('model call failed\n\nRateLimitError: slow down\n    at call (client.ts:1)');
    // The other event is kept, not the exception (it is in `error`).
    expect(JSON.parse(span.metadata!['otel.events'] as string)).toEqual([
      { name: 'retry', timestamp: '2026-01-01T00:00:00.500000Z', attributes: { attempt: 2 } },
    ]);
    expect(traceLog({ status: { code: 1 } }).status).toBe('success');
  });

  it('GenAI conventions: model, provider, parameters, messages, output and token counts', () => {
    const span = traceLog({
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.max_tokens': 256,
        'gen_ai.request.top_p': 0.9,
        'gen_ai.request.stop_sequences': ['\n\n'],
        'gen_ai.usage.input_tokens': 42,
        'gen_ai.usage.output_tokens': 7,
        'gen_ai.system_instructions': JSON.stringify([{ type: 'text', content: 'Be brief.' }]),
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'Capital of France?' }] }]),
        'gen_ai.output.messages': JSON.stringify([
          {
            role: 'assistant',
            parts: [
              { type: 'text', content: 'Paris.' },
              { type: 'tool_call', id: 'c1', name: 'lookup', arguments: { q: 'x' } },
            ],
            finish_reason: 'stop',
          },
        ]),
      },
    });
    expect(span.configuration).toEqual({
      model: 'gpt-4o',
      provider: 'openai',
      model_params: { temp: 0.2, max_length: 256, top_p: 0.9, stop_sequences: ['\n\n'] },
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Capital of France?' },
      ],
    });
    expect(span.output).toBe('Paris.\n{"type":"tool_call","id":"c1","name":"lookup","arguments":{"q":"x"}}');
    expect(span).toMatchObject({ input_tokens: 42, output_tokens: 7, total_tokens: 49 });
    // What no field took stays in metadata, as strings.
    expect(span.metadata).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'service.name': 'agent',
    });
    expect(
      Object.keys(span.metadata!).filter((k) => k.startsWith('gen_ai.request.') || k.startsWith('gen_ai.usage.') || k.includes('messages')),
    ).toEqual([]);
  });

  it('GenAI older forms: gen_ai.system, gen_ai.prompt / gen_ai.completion as JSON, flattened, or as events', () => {
    const asJson = traceLog({
      attributes: {
        'gen_ai.system': 'anthropic',
        'llm.request.type': 'chat',
        'gen_ai.request.model': 'claude-3-5-sonnet',
        'gen_ai.prompt': JSON.stringify([{ role: 'user', content: 'Hi' }]),
        'gen_ai.completion': JSON.stringify([{ role: 'assistant', content: 'Hello!' }]),
        'gen_ai.usage.prompt_tokens': 3,
        'gen_ai.usage.completion_tokens': 2,
      },
    });
    expect(asJson.configuration).toEqual({
      model: 'claude-3-5-sonnet',
      provider: 'anthropic',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(asJson).toMatchObject({ output: 'Hello!', input_tokens: 3, output_tokens: 2, total_tokens: 5 });

    const flattened = traceLog({
      attributes: {
        'gen_ai.prompt.0.role': 'system',
        'gen_ai.prompt.0.content': 'Be kind.',
        'gen_ai.prompt.1.role': 'user',
        'gen_ai.prompt.1.content': 'Hi',
        'gen_ai.completion.0.role': 'assistant',
        'gen_ai.completion.0.content': 'Hello!',
        'gen_ai.completion.0.finish_reason': 'stop',
      },
    });
    expect((flattened.configuration as { messages: unknown }).messages).toEqual([
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(flattened.output).toBe('Hello!');
    expect(flattened.metadata).toMatchObject({ 'gen_ai.completion.0.finish_reason': 'stop' });
    expect(flattened.metadata).not.toHaveProperty('gen_ai.prompt.0.role');

    const events = traceLog({
      events: [
        { name: 'gen_ai.content.prompt', attributes: { 'gen_ai.prompt': JSON.stringify([{ role: 'user', content: 'Hi' }]) } },
        { name: 'gen_ai.content.completion', attributes: { 'gen_ai.completion': JSON.stringify([{ role: 'assistant', content: 'Yo' }]) } },
      ],
    });
    expect((events.configuration as { messages: unknown }).messages).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(events.output).toBe('Yo');
    expect(events.metadata).not.toHaveProperty('otel.events');
  });

  it('OpenInference: input.value into inputs, output.value, llm.* model, parameters, messages and token counts', () => {
    const span = traceLog({
      attributes: {
        'openinference.span.kind': 'LLM',
        'input.value': '{"question": "Capital of France?"}',
        'input.mime_type': 'application/json',
        'output.value': 'Paris',
        'llm.model_name': 'gpt-4o-mini',
        'llm.provider': 'openai',
        'llm.invocation_parameters': JSON.stringify({ temperature: 0, max_tokens: 100, model: 'ignored' }),
        'llm.input_messages.0.message.role': 'system',
        'llm.input_messages.0.message.content': 'Answer briefly.',
        'llm.input_messages.1.message.role': 'user',
        'llm.input_messages.1.message.contents.0.message_content.type': 'text',
        'llm.input_messages.1.message.contents.0.message_content.text': 'Capital of France?',
        'llm.output_messages.0.message.role': 'assistant',
        'llm.output_messages.0.message.content': 'Paris',
        'llm.token_count.prompt': 20,
        'llm.token_count.completion': 1,
        'llm.token_count.total': 21,
        'session.id': 'sess-1',
        'user.id': 'user-9',
        'tag.tags': ['a', 'b'],
      },
    });
    expect(span.inputs).toEqual({ value: '{"question": "Capital of France?"}' });
    expect(span.output).toBe('Paris');
    expect(span.configuration).toEqual({
      model: 'gpt-4o-mini',
      provider: 'openai',
      model_params: { temp: 0, max_length: 100 },
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Capital of France?' },
      ],
    });
    expect(span).toMatchObject({
      input_tokens: 20,
      output_tokens: 1,
      total_tokens: 21,
      session_id: 'sess-1',
      end_user_identifier: 'user-9',
      tags: ['a', 'b'],
    });
    expect(span.metadata).toMatchObject({
      'openinference.span.kind': 'LLM',
      'input.mime_type': 'application/json',
      'llm.input_messages.1.message.contents.0.message_content.type': 'text',
    });
    // The output messages were not needed (output.value came first): kept.
    expect(span.metadata).toHaveProperty('llm.output_messages.0.message.content', 'Paris');
  });

  it('experiment_uuid from the span or its resource; every other attribute kept in metadata as a string', () => {
    expect(traceLog({}, { experiment_uuid: 'exp-1' }).experiment_uuid).toBe('exp-1');
    expect(traceLog({ attributes: { experiment_uuid: 'exp-2' } }, { experiment_uuid: 'exp-1' }).experiment_uuid).toBe('exp-2');
    const span = traceLog(
      {
        attributes: { n: 5, f: 1.25, b: false, list: ['x', 2], map: { kv: { a: 'b' } }, shared: 'span', ['__proto__']: 'kept' },
        traceState: 'k=v',
        droppedAttributesCount: 3,
        links: [{ traceId: TRACE, spanId: CHILD, attributes: kvs({ why: 'x' }) }],
      },
      { 'service.name': 'svc', shared: 'resource', 'deployment.environment': 'prod' },
    );
    expect({ ...span.metadata }).toEqual({
      n: '5',
      f: '1.25',
      b: 'false',
      list: '["x",2]',
      map: '{"a":"b"}',
      shared: 'span',
      ['__proto__']: 'kept',
      'resource.shared': 'resource',
      'service.name': 'svc',
      'deployment.environment': 'prod',
      'otel.span_kind': 'INTERNAL',
      'otel.trace_state': 'k=v',
      'otel.scope.name': 'my-scope',
      'otel.scope.version': '1.2.3',
      'otel.links': JSON.stringify([{ trace_id: TRACE, span_id: CHILD, attributes: { why: 'x' } }]),
      'otel.dropped_attributes_count': '3',
    });
    expect(Object.hasOwn(span.metadata!, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("an OTel trace's document", () => {
  const spanOf = (id: string, parent: string, start: string, extra: Record<string, unknown> = {}): Span =>
    parseSpan(
      {
        trace_id: id,
        parent_trace_id: parent,
        root_trace_id: TRACE,
        trace_name: `s-${id}`,
        start_timestamp: start,
        end_timestamp: start,
        status: 'success',
        ...extra,
      },
      '2026-01-01T00:00:00Z',
    );
  const spans = [
    spanOf('a000000000000001', 'a000000000000001', '2026-01-01T00:00:00.000001Z', { input_tokens: 5, output_tokens: 1, total_tokens: 6 }),
    spanOf('a000000000000002', 'a000000000000001', '2026-01-01T00:00:00.000002Z', { status: 'error' }),
    spanOf('a000000000000003', 'a000000000000002', '2026-01-01T00:00:00.000003Z', { input_tokens: 1, total_tokens: 1 }),
    spanOf('a000000000000004', 'a000000000000001', '2026-01-01T00:00:00.000004Z'),
  ];

  it('is the same whatever the order and batches its spans came in, and a span again changes nothing', () => {
    const all = mergeDocument(TRACE, null, spans);
    expect(all).toMatchObject({
      trace_id: TRACE,
      root_span_id: 'a000000000000001',
      name: 's-a000000000000001',
      span_count: 4,
      status: 'error',
      input_tokens: 6,
      output_tokens: 1,
      total_tokens: 7,
      summarized_spans: 0,
    });
    let doc: OtelTraceDocument | null = null;
    for (const batch of [[spans[3]!], [spans[1]!, spans[2]!], [spans[0]!]]) doc = mergeDocument(TRACE, doc, batch);
    expect(JSON.stringify(doc)).toBe(JSON.stringify(all));
    expect(JSON.stringify(mergeDocument(TRACE, doc, [spans[2]!, spans[0]!]))).toBe(JSON.stringify(all));
    // Before the root arrives, the trace has no name.
    expect(mergeDocument(TRACE, null, [spans[2]!])).toMatchObject({ root_span_id: null, name: null, span_count: 1 });
  });

  it('lists spans beyond the inline budget by their summary (each whole under GET /trace_log)', () => {
    const big = 'x'.repeat(200_000);
    const many = Array.from({ length: Math.ceil(MAX_INLINE_SPANS_BYTES / 200_000) + 3 }, (_, i) =>
      spanOf(`b${String(i).padStart(15, '0')}`, 'b000000000000000', `2026-01-01T00:00:01.${String(i).padStart(6, '0')}Z`, { output: big }),
    );
    const doc = mergeDocument(TRACE, null, many);
    expect(doc.span_count).toBe(many.length);
    expect(doc.summarized_spans).toBeGreaterThan(0);
    expect(JSON.stringify(doc).length).toBeLessThan(MAX_INLINE_SPANS_BYTES + 100_000);
    const summary = doc.spans.find((s) => 'summary' in s)!;
    expect(Object.keys(summary).sort()).toEqual([
      'end_timestamp',
      'parent_trace_id',
      'start_timestamp',
      'status',
      'summary',
      'trace_id',
      'trace_name',
    ]);
    // Idempotent there too.
    expect(JSON.stringify(mergeDocument(TRACE, doc, many))).toBe(JSON.stringify(doc));
  });
});

describe('the local server passes bodies as API Gateway HTTP API does', () => {
  it('as text only for text/*, JSON, XML and JavaScript, never when compressed', async () => {
    const { isTextBody } = await import('../../local/api-server.js');
    for (const t of ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/xml', 'application/javascript'])
      expect(isTextBody(t, undefined), t).toBe(true);
    for (const t of [
      undefined,
      'application/x-protobuf',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'application/vnd.api+json',
    ])
      expect(isTextBody(t, undefined), String(t)).toBe(false);
    expect(isTextBody('application/json', 'gzip')).toBe(false);
    expect(isTextBody('application/json', 'identity')).toBe(true);
  });
});
