/**
 * OTLP body fuzz: seeded mutations (FUZZ_SEED=<n> replays a run) of real exports, protobuf and
 * OTLP/JSON, gzip or not, sent to POST /otel/v1/traces on the local stack. Never a 5xx; every
 * answer in its request's encoding (a Status or an ExportTraceServiceResponse); afterwards the
 * traces exported before are exactly as they were and the project's counters equal its items.
 */
import { gzipSync } from 'node:zlib';
import { Agent } from 'node:http';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import root from '@opentelemetry/otlp-transformer/build/src/generated/root.js';
import protobuf from 'protobufjs/minimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/prng.js';
import { childOf, exporterFor, hexTraceId, mustExport, nestedAttributeRequest, recordSpans } from '../support/otlp.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { projectCounter, projectTraces, useTestStack } from '../support/stack.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x07e1);
const CASES = 300;
const CONCURRENCY = 6;

type Json = any;
const v1 = (
  root as unknown as { opentelemetry: { proto: { collector: { trace: { v1: Record<string, { decode(b: Uint8Array): Json }> } } } } }
).opentelemetry.proto.collector.trace.v1;

const stack = useTestStack({ notifications: false });
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
let baseline: { ids: string[]; answers: Map<string, string> };
/** Bodies of real exports the fuzzer starts from. */
let seeds: { protobuf: Buffer[]; json: Json[]; traceIds: string[] };

/**
 * The seed with its trace ids made the case's own (most of the time): cases write traces of their
 * own, concurrently, rather than all fighting over three.
 */
function ownTraces(n: number, body: Buffer): Buffer {
  if (chance(0.2)) return body;
  let out = body;
  seeds.traceIds.forEach((id, i) => {
    const from = Buffer.from(id, 'hex');
    const to = Buffer.from(`${String(n).padStart(8, '0')}${String(i).padStart(8, '0')}${id.slice(16)}`, 'hex');
    const text = out.toString('latin1').split(from.toString('latin1')).join(to.toString('latin1'));
    out = Buffer.from(text, 'latin1');
    out = Buffer.from(out.toString('latin1').split(id).join(to.toString('hex')), 'latin1');
  });
  return out;
}

const rnd = mulberry32(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const chance = (p: number) => rnd() < p;

async function getTrace(id: string): Promise<string> {
  const res = await fetch(
    `${stack.info.apiUrl}/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}/traces/${id}`,
    { headers: { 'x-api-key': stack.info.apiKey } },
  );
  return `${res.status} ${await res.text()}`;
}

beforeAll(async () => {
  // What is there before: two traces, exported cleanly.
  const kept = await recordSpans({ 'service.name': 'kept' }, (tracer) => {
    for (let t = 0; t < 2; t++) {
      const r = tracer.startSpan(`kept ${t}`, { attributes: { 'input.value': `kept question ${t}` } });
      childOf(tracer, r, 'chat', { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 3 }).end();
      r.end();
    }
  });
  await mustExport(exporterFor('protobuf', stack.info.apiUrl, stack.info.apiKey), kept);
  const ids = [...new Set(kept.map(hexTraceId))];
  baseline = { ids, answers: new Map(await Promise.all(ids.map(async (id) => [id, await getTrace(id)] as [string, string]))) };

  // Seeds: other spans (their traces are the fuzzer's to create and change), of every attribute type.
  const spans = await recordSpans(
    { 'service.name': 'fuzz', experiment_uuid: 'exp-fuzz', 'int.attr': 7, 'list.attr': ['a', 'b'] },
    (tracer) => {
      for (let t = 0; t < 3; t++) {
        const r = tracer.startSpan(`fuzz ${t}`, {
          attributes: { 'input.value': 'q', 'output.value': 'a', flag: true, ratio: 0.5, big: 2 ** 40 },
        });
        const c = childOf(tracer, r, 'llm', {
          'gen_ai.request.model': 'm',
          'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }]),
          'llm.input_messages.0.message.role': 'user',
          'llm.input_messages.0.message.content': 'hi',
          'gen_ai.usage.output_tokens': 2,
          nums: [1, 2, 3],
        });
        c.addEvent('exception', { 'exception.type': 'E', 'exception.message': 'm' });
        c.setStatus({ code: 2, message: 'x' });
        c.end();
        r.end();
      }
    },
  );
  seeds = {
    protobuf: [spans, spans.slice(0, 2), spans.slice(3)].map((s) => Buffer.from(ProtobufTraceSerializer.serializeRequest(s as never)!)),
    json: [spans, spans.slice(1, 4)].map((s) =>
      JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(s as never)!).toString('utf8')),
    ),
    traceIds: [...new Set(spans.map(hexTraceId))],
  };
}, 120_000);

afterAll(async () => {
  agent.destroy();
});

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

function mutateBytes(body: Buffer): { body: Buffer; kind: string } {
  const b = Buffer.from(body);
  const kind = pick(['flip', 'flips', 'truncate', 'insert', 'random', 'concat', 'length', 'zero', 'repeat']);
  switch (kind) {
    case 'flip': {
      const at = int(b.length);
      b[at] = b[at]! ^ (1 << int(8));
      return { kind, body: b };
    }
    case 'flips':
      for (let i = 0; i < 1 + int(20); i++) b[int(b.length)] = int(256);
      return { kind, body: b };
    case 'truncate':
      return { kind, body: b.subarray(0, int(b.length)) };
    case 'insert': {
      const at = int(b.length);
      return {
        kind,
        body: Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(12) }, () => int(256))), b.subarray(at)]),
      };
    }
    case 'random':
      return { kind, body: Buffer.from(Array.from({ length: int(2000) }, () => int(256))) };
    case 'concat':
      // Two messages back to back are one message in protobuf (repeated fields concatenate).
      return { kind, body: Buffer.concat([b, pick(seeds.protobuf)]) };
    case 'length': {
      // A length prefix that claims far more than there is, or wraps.
      const at = int(b.length - 5);
      b.set([0xff, 0xff, 0xff, 0xff, 0x0f], Math.max(0, at));
      return { kind, body: b };
    }
    case 'zero':
      b.fill(0, int(b.length));
      return { kind, body: b };
    default:
      return { kind, body: Buffer.concat(Array.from({ length: 2 + int(30) }, () => b)) };
  }
}

const JUNK: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -0,
  '',
  'x',
  'zz',
  '00',
  'ffffffffffffffffffffffffffffffff',
  '1e400',
  '-5',
  '18446744073709551616',
  '99999999999999999999999999',
  [],
  {},
  [null],
  [[[]]],
  { stringValue: 5 },
  { intValue: 'NaN' },
  { arrayValue: { values: 'x' } },
  { kvlistValue: { values: [{ key: 5 }] } },
  { bytesValue: '!!' },
  'SPAN_KIND_BOGUS',
  '\ud800',
  '\u0000',
  'x'.repeat(300_000),
];

/** Every path to a value inside `v` (iteratively). */
function paths(v: Json): (string | number)[][] {
  const out: (string | number)[][] = [];
  const todo: Array<{ v: Json; p: (string | number)[] }> = [{ v, p: [] }];
  while (todo.length) {
    const { v: x, p } = todo.pop()!;
    out.push(p);
    if (Array.isArray(x))
      x.forEach((y, i) => {
        todo.push({ v: y, p: [...p, i] });
      });
    else if (x && typeof x === 'object') for (const k of Object.keys(x)) todo.push({ v: x[k], p: [...p, k] });
  }
  return out;
}

function mutateJson(seed: Json): { body: string | Buffer; kind: string } {
  const doc = structuredClone(seed);
  const kind = pick([
    'replace',
    'replace',
    'replaces',
    'delete',
    'deep',
    'ids',
    'numbers',
    'proto',
    'text',
    'badUtf8',
    'wrongTop',
    'duplicate',
  ]);
  const all = paths(doc).filter((p) => p.length > 0);
  const setAt = (p: (string | number)[], value: unknown) => {
    let x = doc;
    for (const k of p.slice(0, -1)) x = x[k];
    x[p[p.length - 1]!] = value;
  };
  switch (kind) {
    case 'replace':
      setAt(pick(all), structuredClone(pick(JUNK)));
      break;
    case 'replaces':
      for (let i = 0; i < 2 + int(8); i++) {
        const live = paths(doc).filter((p) => p.length > 0);
        if (live.length) setAt(pick(live), structuredClone(pick(JUNK)));
      }
      break;
    case 'delete': {
      const p = pick(all);
      let x = doc;
      for (const k of p.slice(0, -1)) x = x[k];
      if (Array.isArray(x)) x.splice(p[p.length - 1] as number, 1);
      else delete x[p[p.length - 1]!];
      break;
    }
    case 'deep': {
      const levels = pick([65, 500, 5_000, 50_000]);
      const text = JSON.stringify(doc).replace(
        '{"stringValue":"q"}',
        `${'{"arrayValue":{"values":['.repeat(levels)}{"stringValue":"deep"}${']}}'.repeat(levels)}`,
      );
      return { kind: `deep:${levels}`, body: text };
    }
    case 'ids': {
      const ids = all.filter((p) => ['traceId', 'spanId', 'parentSpanId'].includes(String(p[p.length - 1])));
      setAt(pick(ids), pick(['', 'abc', 'g'.repeat(32), '0'.repeat(32), 'AAAAAAAAAAAAAAAAAAAAAA==', 'ab'.repeat(64), 5, null, { x: 1 }]));
      break;
    }
    case 'numbers': {
      const times = all.filter((p) => /UnixNano$|Count$|kind|code/.test(String(p[p.length - 1])));
      setAt(pick(times), pick(['1e400', '-1', '18446744073709551616', 'abc', 1e300, -5, 1.5, '', true, []]));
      break;
    }
    case 'proto':
      return {
        kind,
        body: JSON.stringify(doc).replace(
          '{"resourceSpans"',
          '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"resourceSpans"',
        ),
      };
    case 'text':
      return {
        kind,
        body: pick([
          '',
          ' ',
          '{',
          '{"resourceSpans":[',
          'null',
          '[]',
          '"x"',
          '1',
          '{"resourceSpans":[{}]}',
          '{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}',
          '\ufeff{}',
          'NaN',
        ]),
      };
    case 'badUtf8': {
      const text = Buffer.from(JSON.stringify(doc));
      const at = text.indexOf('"q"') + 1;
      return { kind, body: Buffer.concat([text.subarray(0, at), Buffer.from([pick([0xff, 0xc3, 0xed, 0x80])]), text.subarray(at)]) };
    }
    case 'wrongTop':
      return {
        kind,
        body: JSON.stringify(pick([[doc], doc.resourceSpans, { resourceSpans: doc }, { resource_spans: doc.resourceSpans }])),
      };
    default: {
      // Every span twice (the later copy wins), attributes with a key given twice.
      const spans = doc.resourceSpans?.[0]?.scopeSpans?.[0]?.spans;
      if (Array.isArray(spans)) {
        spans.push(...structuredClone(spans));
        for (const s of spans)
          if (Array.isArray(s.attributes) && s.attributes[0]) s.attributes.push({ ...s.attributes[0], value: { stringValue: 'again' } });
      }
    }
  }
  return { kind, body: JSON.stringify(doc) };
}

interface Case {
  n: number;
  kind: string;
  contentType: string;
  encoding: 'protobuf' | 'json';
  gzip: boolean;
  body: Buffer;
}

function generate(): Case[] {
  const cases: Case[] = [];
  for (let n = 0; n < CASES; n++) {
    const proto = chance(0.5);
    let kind: string;
    let body: Buffer;
    if (proto) {
      if (chance(0.05)) {
        const levels = pick([65, 3_000, 200_000]);
        ({ kind, body } = { kind: `nested:${levels}`, body: nestedAttributeRequest(levels) });
      } else {
        const m = mutateBytes(ownTraces(n, pick(seeds.protobuf)));
        kind = `protobuf:${m.kind}`;
        body = m.body;
      }
    } else {
      const m = mutateJson(JSON.parse(ownTraces(n, Buffer.from(JSON.stringify(pick(seeds.json)))).toString('latin1')));
      kind = `json:${m.kind}`;
      body = Buffer.from(m.body);
    }
    const gzip = chance(0.25);
    if (gzip) body = chance(0.1) ? Buffer.concat([gzipSync(body).subarray(0, 20), Buffer.from('junk')]) : gzipSync(body);
    // Now and then the other encoding's content type for the body: it must fail cleanly too.
    const swapped = chance(0.08);
    const encoding: 'protobuf' | 'json' = proto !== swapped ? 'protobuf' : 'json';
    const contentType =
      encoding === 'protobuf'
        ? pick(['application/x-protobuf', 'application/protobuf'])
        : pick(['application/json', 'application/json; charset=utf-8']);
    cases.push({ n, kind: `${kind}${gzip ? '+gzip' : ''}${swapped ? '+swapped' : ''}`, contentType, encoding, gzip, body });
  }
  return cases;
}

/** google.rpc.Status, read with protobufjs's Reader: its message, or null when it is not one. */
function statusMessage(bytes: Uint8Array): string | null {
  try {
    const reader = protobuf.Reader.create(bytes);
    let message: string | null = null;
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 2) message = reader.string();
      else reader.skipType(tag & 7);
    }
    return message;
  } catch {
    return null;
  }
}

function problemsOf(c: Case, res: RawResponse): string[] {
  const problems: string[] = [];
  const type = String(res.headers['content-type'] ?? '');
  if (res.status >= 500) problems.push(`a ${res.status}`);
  if (![200, 400, 413, 415, 429].includes(res.status)) problems.push(`an unexpected status ${res.status}`);
  // Every answer of the handler is in the request's encoding.
  if (c.encoding === 'protobuf') {
    if (type !== 'application/x-protobuf') problems.push(`content-type ${type} for a protobuf request`);
    if (res.status === 200) {
      try {
        v1.ExportTraceServiceResponse!.decode(res.bytes);
      } catch {
        problems.push('a 200 that is not an ExportTraceServiceResponse');
      }
    } else if (!statusMessage(res.bytes)) problems.push('an error that is not a google.rpc.Status with a message');
  } else {
    if (!/^application\/json/.test(type)) problems.push(`content-type ${type} for a JSON request`);
    let body: Json;
    try {
      body = JSON.parse(res.text);
    } catch {
      problems.push('a body that is not JSON');
    }
    if (res.status === 200 && body && Object.keys(body).some((k) => k !== 'partialSuccess'))
      problems.push('a 200 that is not an ExportTraceServiceResponse');
    if (
      res.status !== 200 &&
      (typeof body?.error?.code !== 'string' || typeof body?.error?.message !== 'string' || typeof body?.message !== 'string')
    ) {
      problems.push('an error without {"code", "message", "error": {"code", "message"}}');
    }
  }
  return problems;
}

describe(`OTLP body fuzz (FUZZ_SEED=${SEED})`, () => {
  const statuses: Record<string, number> = {};
  it('answers hundreds of mutated protobuf and JSON exports without a 5xx, each in its encoding', async () => {
    const cases = generate();
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          const res = await rawRequest(
            stack.info.apiUrl,
            {
              method: 'POST',
              path: '/otel/v1/traces',
              headers: { 'x-api-key': stack.info.apiKey, 'content-type': c.contentType, ...(c.gzip ? { 'content-encoding': 'gzip' } : {}) },
              body: c.body,
            },
            { agent },
          );
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          const problems = problemsOf(c, res);
          if (problems.length)
            failures.push(
              `#${c.n} [${c.kind}] → ${res.status}: ${problems.join('; ')}\n  answer: ${JSON.stringify(res.text.slice(0, 300))}`,
            );
        }
      }),
    );
    console.log(`otlp fuzz: ${cases.length} requests (seed ${SEED}) ${JSON.stringify(statuses)}`);
    expect(failures.join('\n'), `${failures.length} failing requests`).toBe('');
    // The mutations reach every outcome: taken, refused as malformed.
    expect(statuses[200]).toBeGreaterThan(50);
    expect(statuses[400]).toBeGreaterThan(50);
  }, 240_000);

  it('leaves the traces exported before exactly as they were, every document whole, counters equal to the items', async () => {
    for (const id of baseline.ids) expect(await getTrace(id)).toBe(baseline.answers.get(id));
    const items = await projectTraces(stack);
    const counter = await projectCounter(stack);
    expect(counter?.traces).toBe(items.length);
    expect(counter?.by_source.otlp).toBe(items.filter((t) => t.source === 'otlp').length);
    for (const item of items) {
      const doc = JSON.parse(item.doc ?? (await getTrace(item.id)).replace(/^200 /, '')) as Json;
      const data = doc.data ?? doc;
      expect(data.span_count, item.id).toBe(data.spans.length);
      expect(data.trace_id).toBe(item.id);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
