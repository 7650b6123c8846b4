/**
 * OpenTelemetry test support: spans made by the real SDK (`@opentelemetry/sdk-trace-base`) and sent
 * by the real exporters (`@opentelemetry/exporter-trace-otlp-proto` and `-http`), as they are.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export type Encoding = 'protobuf' | 'json';

/**
 * Runs `build` with a tracer of a provider whose spans are only recorded (nothing is exported),
 * and answers the finished spans, ready to hand to an exporter in any batches and order.
 */
export async function recordSpans(resource: Attributes, build: (tracer: Tracer) => void | Promise<void>): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  await build(provider.getTracer('trace-ingest-tests', '1.0.0'));
  await provider.forceFlush();
  const spans = memory.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

/** A child span of `parent` (explicit context: the tests register no context manager), started at `startTime` if given. */
export function childOf(tracer: Tracer, parent: Span, name: string, attributes: Attributes = {}, startTime?: number): Span {
  return tracer.startSpan(name, { attributes, ...(startTime === undefined ? {} : { startTime }) }, trace.setSpan(context.active(), parent));
}

/** The stock exporter of an encoding, aimed at `<apiUrl>/otel/v1/traces` with a key header. */
export function exporterFor(
  encoding: Encoding,
  apiUrl: string,
  apiKey: string,
  options: { gzip?: boolean; header?: 'x-api-key' | 'bearer'; url?: string } = {},
) {
  const headers: Record<string, string> = options.header === 'bearer' ? { authorization: `Bearer ${apiKey}` } : { 'x-api-key': apiKey };
  const config = {
    url: options.url ?? `${apiUrl}/otel/v1/traces`,
    headers,
    ...(options.gzip ? { compression: 'gzip' as never } : {}),
    timeoutMillis: 20_000,
  };
  return encoding === 'protobuf' ? new ProtoExporter(config) : new HttpJsonExporter(config);
}

/** One `export` call of an exporter, as a BatchSpanProcessor makes it. */
export function exportOnce(
  exporter: { export(spans: ReadableSpan[], done: (r: ExportResult) => void): void },
  spans: ReadableSpan[],
): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

export async function mustExport(exporter: Parameters<typeof exportOnce>[0], spans: ReadableSpan[]): Promise<void> {
  const result = await exportOnce(exporter, spans);
  if (result.code !== ExportResultCode.SUCCESS) throw new Error(`export failed: ${String(result.error)}`);
}

export const hexSpanId = (s: ReadableSpan) => s.spanContext().spanId;
export const hexTraceId = (s: ReadableSpan) => s.spanContext().traceId;

/**
 * An HTTP proxy in front of the API that forwards every request, but for the first `fail` of them
 * answers `status` (with `Retry-After: 0`) instead of the API's answer: the export happened, the
 * exporter does not know it, and retries.
 */
export async function startFlakyProxy(
  target: string,
  fail: number,
  status = 503,
): Promise<{ url: string; requests: number; close(): Promise<void> }> {
  const state = { url: '', requests: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = ++state.requests;
      const forward = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer: IncomingMessage) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          if (n <= fail) {
            res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
            res.end('{"error":{"code":"flaky","message":"answer lost on purpose"}}');
          } else {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(body));
          }
        });
      });
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/**
 * An ExportTraceServiceRequest in protobuf whose one span has an attribute of `levels` nested
 * arrays (AnyValue.array_value = 5, ArrayValue.values = 1), written outside in: each level is only
 * a tag and a length in front of the next, so any depth costs a few bytes per level.
 */
export function nestedAttributeRequest(levels: number): Buffer {
  const key = [0x0a, 0x01, 0x6b]; // KeyValue.key = "k"
  const frames: number[][] = [];
  let length = 0;
  for (let i = 0; i < levels; i++) {
    for (const tag of [0x0a, 0x2a]) {
      frames.push([tag, ...varint(length)]);
      length += 1 + varint(length).length;
    }
  }
  const kvValueHeader = [0x12, ...varint(length)]; // KeyValue.value
  length += kvValueHeader.length + key.length;
  const outer: number[][] = [];
  // Span.attributes (9), ScopeSpans.spans (2), ResourceSpans.scope_spans (2), ExportTraceServiceRequest.resource_spans (1)
  for (const tag of [0x4a, 0x12, 0x12, 0x0a]) {
    outer.push([tag, ...varint(length)]);
    length += 1 + varint(length).length;
  }
  return Buffer.from([...outer.reverse().flat(), ...key, ...kvValueHeader, ...frames.reverse().flat()]);
}
