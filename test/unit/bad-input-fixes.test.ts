/**
 * The bugs the bad-input corpus (test/support/corpus.ts, test/integration/corpus.test.ts) found,
 * each pinned down where it lived.
 */
import { describe, expect, it } from 'vitest';
import { fitsLocalStore } from '../../local/s3.js';
import { jsonText, renderInput, stringifyIteratively } from '../../functions/domain/render-input.js';
import { buildTrace, type UploadContext } from '../../functions/domain/trace.js';
import { recordSpans, type SpanRecord, type SpanStore } from '../../functions/domain/parea/index.js';
import type { Tenant } from '../../functions/domain/tenancy.js';

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('a value nested deeper than JSON.stringify goes (JSON.parse takes any depth)', () => {
  it('JSON.stringify really gives up on it (else these tests prove nothing)', () => {
    expect(() => JSON.stringify(JSON.parse(deep(10_000)))).toThrow(RangeError);
  });

  it('is rendered as input, plain and inside chat messages, instead of failing the whole file', () => {
    expect(renderInput(JSON.parse(`{"input":${deep(10_000)}}`) as Record<string, unknown>)).toBe(deep(10_000));
    const chat = JSON.parse(`{"messages":[{"role":"user","content":{"deep":${deep(10_000)}},"tool_calls":${deep(10_000)}}]}`) as Record<
      string,
      unknown
    >;
    expect(renderInput(chat)).toBe(`user: {"deep":${deep(10_000)}}\n[tool calls] ${deep(10_000)}`);
  });

  it('the iterative writer gives what JSON.stringify gives, whatever the value', () => {
    const values = [
      JSON.parse(
        '{"__proto__":{"x":1},"constructor":null,"a":[1,-0,1e400,-1e400,1.5e-10,123456789012345678901234567890],"":{},"e":[],"s":"\\ud800 \\" \\\\ \\n \\u2028 日本 😀"}',
      ),
      [],
      {},
      [[], [{}], { a: [[{ b: null }]] }],
      'text',
      -0,
      null,
      true,
      { 2: 'b', 1: 'a', z: 1, y: [false] },
    ];
    for (const v of values) expect(stringifyIteratively(v)).toBe(JSON.stringify(v));
    expect(jsonText({ a: 1 })).toBe('{"a":1}');
    expect(jsonText(JSON.parse(`{"d":${deep(50_000)}}`))).toBe(`{"d":${deep(50_000)}}`);
  });

  it('a span nested that deep is skipped as a span (the record stays a trace); the spans next to it are stored', async () => {
    const saved: SpanRecord[] = [];
    const store: SpanStore = {
      get: async () => null,
      save: async (_t, next) => {
        saved.push(next);
        return true;
      },
      treeDocs: async () => [],
      experimentSpans: async function* () {},
    };
    const tenant: Tenant = { organizationId: 'o', projectId: 'p' };
    const records = [
      JSON.parse(`{"trace_id":"deep","x":${deep(10_000)}}`) as Record<string, unknown>,
      { trace_id: 'flat', trace_name: 'flat' },
    ];
    const out = await recordSpans({ store }, tenant, records, '2026-01-01T00:00:00.000Z');
    expect(out).toEqual({ stored: 1, skipped: 1 });
    expect(saved.map((s) => s.traceId)).toEqual(['flat']);
  });
});

describe('an integration_id too long for an identifier', () => {
  const ctx: UploadContext = {
    organizationId: 'org1',
    projectId: 'proj1',
    objectKey: 'uploads/org1/proj1/a.jsonl',
    filename: 'a.jsonl',
    defaultSource: 'upload',
    createdAt: '2024-05-01T12:00:00.000Z',
    uploadId: '11111111-2222-8333-9444-555555555555',
  };
  const trace = (value: Record<string, unknown>) => buildTrace(ctx, { kind: 'record', position: 1, raw: JSON.stringify(value), value });

  it("is not used (it would have made the item overflow DynamoDB's 400 KB, failing the file); up to 256 characters it is", () => {
    expect(trace({ integration_id: 'i'.repeat(210_000) }).integrationId).toBeNull();
    expect(trace({ integration_id: 'i'.repeat(257) }).integrationId).toBeNull();
    expect(trace({ integration_id: 'i'.repeat(256) }).integrationId).toBe('i'.repeat(256));
    // The document keeps it, verbatim.
    expect(trace({ integration_id: 'i'.repeat(300) }).document).toContain('i'.repeat(300));
  });
});

describe('keys the local S3 stand-in can keep on disk', () => {
  it("each segment a file name of at most 255 bytes, the last one with s3rver's 22-byte suffix", () => {
    expect(fitsLocalStore(`uploads/o/p/${'x'.repeat(233)}`)).toBe(true);
    expect(fitsLocalStore(`uploads/o/p/${'x'.repeat(234)}`)).toBe(false);
    expect(fitsLocalStore(`uploads/o/p/${'日'.repeat(77)}x`)).toBe(true); // 232 bytes
    expect(fitsLocalStore(`uploads/o/p/${'日'.repeat(78)}`)).toBe(false); // 234 bytes
    expect(fitsLocalStore(`drop/o/p/${'d'.repeat(255)}/a.jsonl`)).toBe(true);
    expect(fitsLocalStore(`drop/o/p/${'d'.repeat(256)}/a.jsonl`)).toBe(false);
  });
});
