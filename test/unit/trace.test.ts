import { describe, expect, it } from 'vitest';
import { traceId } from '../../functions/domain/ids.js';
import type { ParsedRecord } from '../../functions/domain/parse/types.js';
import {
  ITEM_INLINE_BUDGET_BYTES,
  SEARCH_TEXT_MAX_CHARS,
  buildTrace,
  mustOffload,
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

describe('searchText', () => {
  it('is lower-cased and holds filename, input and nested string values', () => {
    const raw = JSON.stringify({
      input: 'What Is The CAPITAL?',
      meta: { tags: ['Alpha', { deeper: ['BETA'] }], n: 5 },
      output: 'Paris',
    });
    const t = buildTrace(ctx, record(raw));
    expect(t.searchText).toBe(t.searchText.toLowerCase());
    expect(t.searchText.startsWith('run-42.jsonl')).toBe(true);
    for (const s of ['what is the capital?', 'alpha', 'beta', 'paris']) expect(t.searchText).toContain(s);
    // Keys are not values.
    expect(t.searchText).not.toContain('deeper');
  });

  it('reaches string values at any depth', () => {
    const depth = 5_000;
    const raw = `${'{"a":['.repeat(depth)}"Needle"${']}'.repeat(depth)}`;
    const t = buildTrace(ctx, record(raw));
    expect(t.searchText).toContain('needle');
  });

  it('keeps document order for values', () => {
    const s = searchText('f.jsonl', null, { a: 'first', b: ['second', { c: 'third' }], d: 'fourth' });
    expect(s).toBe('f.jsonl\nfirst\nsecond\nthird\nfourth');
  });

  it(`is capped at SEARCH_TEXT_MAX_CHARS (${SEARCH_TEXT_MAX_CHARS})`, () => {
    const many = Array.from({ length: 2_000 }, (_, i) => `Value${i} ${'x'.repeat(20)}`);
    const t = buildTrace(ctx, record(JSON.stringify({ input: 'Q'.repeat(100), many })));
    expect(t.searchText.length).toBe(SEARCH_TEXT_MAX_CHARS);
    expect(t.searchText.startsWith('run-42.jsonl\n' + 'q'.repeat(100))).toBe(true);
    expect(t.searchText).toContain('value0 ');
    expect(t.searchText).not.toContain('value1999 ');

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

describe('mustOffload', () => {
  it('is false for a small trace', () => {
    expect(mustOffload(buildTrace(ctx, record('{"input":"hi","output":"there"}')))).toBe(false);
  });

  it('counts UTF-8 bytes of document plus input, exactly at the budget', () => {
    // {"input":"€…"}: 12 ASCII bytes + 3 bytes per € in the document, and 3 per € again in the input.
    const n = (ITEM_INLINE_BUDGET_BYTES - 12) / 6;
    expect(Number.isInteger(n)).toBe(true);
    const atBudget = buildTrace(ctx, record(JSON.stringify({ input: '€'.repeat(n) })));
    expect(Buffer.byteLength(atBudget.document) + Buffer.byteLength(atBudget.input!)).toBe(ITEM_INLINE_BUDGET_BYTES);
    expect(mustOffload(atBudget)).toBe(false);
    const over = buildTrace(ctx, record(JSON.stringify({ input: '€'.repeat(n + 1) })));
    expect(mustOffload(over)).toBe(true);
  });

  it('counts two-byte characters in a document without input', () => {
    // {"t":"é…"}: 8 ASCII bytes + 2 bytes per é.
    const n = (ITEM_INLINE_BUDGET_BYTES - 8) / 2;
    const at = buildTrace(ctx, record(JSON.stringify({ t: 'é'.repeat(n) })));
    expect(at.input).toBeNull();
    expect(Buffer.byteLength(at.document)).toBe(ITEM_INLINE_BUDGET_BYTES);
    expect(mustOffload(at)).toBe(false);
    // One more ASCII byte tips it over.
    const over = buildTrace(ctx, record(JSON.stringify({ t: `${'é'.repeat(n)}x` })));
    expect(Buffer.byteLength(over.document)).toBe(ITEM_INLINE_BUDGET_BYTES + 1);
    expect(mustOffload(over)).toBe(true);
  });

  it('counts 4-byte characters (surrogate pairs) as 4 bytes, not 6', () => {
    // 76,800 emoji = 153,600 UTF-16 units (rough bound 460,800) but 307,200 bytes: exactly the budget.
    const at = { ...buildTrace(ctx, record('{}')), document: '\u{1f600}'.repeat(ITEM_INLINE_BUDGET_BYTES / 4), input: null };
    expect(mustOffload(at)).toBe(false);
    expect(mustOffload({ ...at, input: 'x' })).toBe(true);
  });
});

describe('payloadKey and payloadBody', () => {
  it('puts the payload under payloads/<org>/<project>/<id>.json', () => {
    const t = buildTrace(ctx, record('{"a":1}'));
    expect(payloadKey(t)).toBe(`payloads/org1/proj1/${t.id}.json`);
  });

  it('is JSON holding the input and the document, spliced in verbatim', () => {
    const raw = '{"n":123456789012345678901234567890,"f":1.0000000000000000001,"input":"q \\"quoted\\" \\u00e9","nested":{"a":[1,2,{"b":null}]}}';
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
