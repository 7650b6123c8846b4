import { describe, expect, it } from 'vitest';
import { traceId } from '../../functions/domain/ids.js';
import type { ParsedRecord } from '../../functions/domain/parse/types.js';
import {
  ITEM_INLINE_BUDGET_BYTES,
  SEARCH_TEXT_MAX_CHARS,
  buildTrace,
  storedTrace,
  unpackText,
  type TraceDraft,
  payloadBody,
  payloadKey,
  searchText,
  type UploadContext,
} from '../../functions/domain/trace.js';

const ctx: UploadContext = {
  organizationId: 'org1',
  projectId: 'proj1',
  objectKey: 'uploads/org1/proj1/Run-42.jsonl',
  filename: 'Run-42.jsonl',
  defaultSource: 'upload',
  createdAt: '2024-05-01T12:00:00.000Z',
  uploadId: '11111111-2222-8333-9444-555555555555',
};

/** A record as the parsers produce it: exact text plus its parsed value. */
function record(raw: string, position = 1): ParsedRecord {
  return { kind: 'record', position, raw, value: JSON.parse(raw) as Record<string, unknown> };
}

describe('buildTrace', () => {
  it('carries the upload context and the record', () => {
    const raw = '{ "input": "Hello",  "output": "Hi", "n": 1.50 }';
    const t = buildTrace(ctx, record(raw, 7));
    expect(t.id).toBe(traceId({ organizationId: 'org1', projectId: 'proj1', objectKey: ctx.objectKey, position: 7, raw }));
    expect(t.organizationId).toBe('org1');
    expect(t.projectId).toBe('proj1');
    expect(t.createdAt).toBe(ctx.createdAt);
    expect(t.uploadId).toBe(ctx.uploadId);
    expect(t.position).toBe(7);
    expect(t.filename).toBe('Run-42.jsonl');
    expect(t.input).toBe('Hello');
    // The document is the record's exact text: spacing and number spelling untouched.
    expect(t.document).toBe(raw);
  });

  it('uses the default source unless the record has its own string source', () => {
    expect(buildTrace(ctx, record('{"a":1}')).source).toBe('upload');
    expect(buildTrace({ ...ctx, defaultSource: 's3' }, record('{"a":1}')).source).toBe('s3');
    expect(buildTrace(ctx, record('{"source":"langsmith"}')).source).toBe('langsmith');
    expect(buildTrace(ctx, record('{"source":"  padded  "}')).source).toBe('padded');
    expect(buildTrace(ctx, record('{"source":""}')).source).toBe('upload');
    expect(buildTrace(ctx, record('{"source":"   "}')).source).toBe('upload');
    expect(buildTrace(ctx, record('{"source":42}')).source).toBe('upload');
    expect(buildTrace(ctx, record('{"source":{"name":"x"}}')).source).toBe('upload');
  });

  it('ignores a source that is too long', () => {
    expect(buildTrace(ctx, record(JSON.stringify({ source: 's'.repeat(256) }))).source).toBe('s'.repeat(256));
    expect(buildTrace(ctx, record(JSON.stringify({ source: 's'.repeat(257) }))).source).toBe('upload');
  });

  it('sets integration_id only for non-empty strings', () => {
    expect(buildTrace(ctx, record('{"integration_id":"int-7"}')).integrationId).toBe('int-7');
    expect(buildTrace(ctx, record('{"integration_id":""}')).integrationId).toBeNull();
    expect(buildTrace(ctx, record('{"integration_id":"  "}')).integrationId).toBeNull();
    expect(buildTrace(ctx, record('{"integration_id":7}')).integrationId).toBeNull();
    expect(buildTrace(ctx, record('{"integration_id":null}')).integrationId).toBeNull();
    expect(buildTrace(ctx, record('{}')).integrationId).toBeNull();
  });

  it('makes identical records at different positions distinct traces', () => {
    const a = buildTrace(ctx, record('{"x":1}', 1));
    const b = buildTrace(ctx, record('{"x":1}', 2));
    expect(a.id).not.toBe(b.id);
    expect(buildTrace(ctx, record('{"x":1}', 1)).id).toBe(a.id);
  });
});

/** The text search matches for a trace. */
const searchOf = (t: TraceDraft) => searchText(t.filename, t.input, JSON.parse(t.document));

describe('searchText', () => {
  it('is lower-cased and holds filename, input and nested string values', () => {
    const raw = JSON.stringify({
      input: 'What Is The CAPITAL?',
      meta: { tags: ['Alpha', { deeper: ['BETA'] }], n: 5 },
      output: 'Paris',
    });
    const text = searchOf(buildTrace(ctx, record(raw)));
    expect(text).toBe(text.toLowerCase());
    expect(text.startsWith('run-42.jsonl')).toBe(true);
    for (const s of ['what is the capital?', 'alpha', 'beta', 'paris']) expect(text).toContain(s);
    // Keys are not values.
    expect(text).not.toContain('deeper');
  });

  it('reaches string values at any depth', () => {
    const depth = 5_000;
    const raw = `${'{"a":['.repeat(depth)}"Needle"${']}'.repeat(depth)}`;
    expect(searchOf(buildTrace(ctx, record(raw)))).toContain('needle');
  });

  it('keeps document order for values', () => {
    const s = searchText('f.jsonl', null, { a: 'first', b: ['second', { c: 'third' }], d: 'fourth' });
    expect(s).toBe('f.jsonl\nfirst\nsecond\nthird\nfourth');
  });

  it(`is capped at SEARCH_TEXT_MAX_CHARS (${SEARCH_TEXT_MAX_CHARS})`, () => {
    const many = Array.from({ length: 2_000 }, (_, i) => `Value${i} ${'x'.repeat(20)}`);
    const text = searchOf(buildTrace(ctx, record(JSON.stringify({ input: 'Q'.repeat(100), many }))));
    expect(text.length).toBe(SEARCH_TEXT_MAX_CHARS);
    expect(text.startsWith(`run-42.jsonl\n${'q'.repeat(100)}`)).toBe(true);
    expect(text).toContain('value0 ');
    expect(text).not.toContain('value1999 ');

    const hugeInput = 'A'.repeat(SEARCH_TEXT_MAX_CHARS * 2);
    expect(searchText('f.json', hugeInput, { input: hugeInput }).length).toBe(SEARCH_TEXT_MAX_CHARS);
  });

  it('stays well-formed when the cap falls inside a surrogate pair', () => {
    const filename = 'f';
    // filename + '\n' + 'a' * (cap - 3) puts an emoji's high surrogate at the last kept index.
    const input = `${'a'.repeat(SEARCH_TEXT_MAX_CHARS - 3)}\u{1f600}tail`;
    const s = searchText(filename, input, {});
    expect(s.length).toBe(SEARCH_TEXT_MAX_CHARS);
    expect((s as string & { isWellFormed(): boolean }).isWellFormed()).toBe(true);
  });
});

describe('storedTrace', () => {
  it('keeps a small trace inline, deflated, and the document comes back byte for byte', () => {
    const raw = '{"input":"hi","output":"there","n":1.50,"big":12345678901234567890}';
    const { stored, payload } = storedTrace(buildTrace(ctx, record(raw)));
    expect(payload).toBeNull();
    expect(stored.payloadKey).toBeNull();
    expect(stored.packedSearch).toBeNull();
    expect(unpackText(stored.packed!)).toBe(raw);
  });

  it('keeps inline what deflates under the budget, however long its text', () => {
    const raw = JSON.stringify({ input: 'ab'.repeat(ITEM_INLINE_BUDGET_BYTES) });
    expect(Buffer.byteLength(raw)).toBeGreaterThan(ITEM_INLINE_BUDGET_BYTES);
    const { stored, payload } = storedTrace(buildTrace(ctx, record(raw)));
    expect(payload).toBeNull();
    expect(stored.packed!.length).toBeLessThanOrEqual(ITEM_INLINE_BUDGET_BYTES);
  });

  it('offloads what still takes more than the budget deflated, with its payload and search text', () => {
    const words = Array.from({ length: 120_000 }, (_, i) => ((i * 2654435761) >>> 0).toString(36));
    const raw = JSON.stringify({ input: 'Find ME', output: words.join(' ') });
    const t = buildTrace(ctx, record(raw));
    const { stored, payload } = storedTrace(t);
    expect(stored.packed).toBeNull();
    expect(stored.payloadKey).toBe(payloadKey(t));
    expect(payload).toEqual({ key: payloadKey(t), body: payloadBody(t) });
    expect(unpackText(stored.packedSearch!)).toBe(searchOf(t));
    expect(unpackText(stored.packedSearch!)).toContain('find me');
  });
});

describe('payloadKey and payloadBody', () => {
  it('puts the payload under payloads/<org>/<project>/<id>.json', () => {
    const t = buildTrace(ctx, record('{"a":1}'));
    expect(payloadKey(t)).toBe(`payloads/org1/proj1/${t.id}.json`);
  });

  it('is JSON holding the input and the document, spliced in verbatim', () => {
    const raw =
      '{"n":123456789012345678901234567890,"f":1.0000000000000000001,"input":"q \\"quoted\\" \\u00e9","nested":{"a":[1,2,{"b":null}]}}';
    const t = buildTrace(ctx, record(raw));
    const body = payloadBody(t);
    const parsed = JSON.parse(body) as { input: unknown; data: unknown };
    expect(parsed.data).toEqual(JSON.parse(raw));
    expect(parsed.input).toBe('q "quoted" é');
    // Big integers and exact number spellings survive byte for byte.
    expect(body).toContain(raw);
    expect(body).toContain('123456789012345678901234567890');
  });

  it('writes a null input as JSON null', () => {
    const t = buildTrace(ctx, record('{"n":123456789012345678901234567890}'));
    const body = payloadBody(t);
    expect(body).toContain('{"n":123456789012345678901234567890}');
    // biome-ignore lint/correctness/noPrecisionLoss: the number the document holds, as JSON.parse reads it
    expect(JSON.parse(body)).toEqual({ input: null, data: { n: 123456789012345678901234567890 } });
  });
});

describe('searchText and characters that grow when lower-cased', () => {
  it('never exceeds SEARCH_TEXT_MAX_CHARS, even when lower-casing lengthens the text', () => {
    const text = searchText('f', 'İ'.repeat(20_000), {});
    expect(text.length).toBeLessThanOrEqual(SEARCH_TEXT_MAX_CHARS);
    expect(text.isWellFormed()).toBe(true);
  });
});
