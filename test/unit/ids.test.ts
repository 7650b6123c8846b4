import { describe, expect, it } from 'vitest';
import { newApiKey, traceId, uploadId } from '../../functions/domain/ids.js';

/** RFC 9562 layout, version 8, variant 10xx. */
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const base = { organizationId: 'org1', projectId: 'proj1', objectKey: 'uploads/org1/proj1/a.jsonl', position: 1, raw: '{"a":1}' };

describe('traceId', () => {
  it('is deterministic', () => {
    expect(traceId(base)).toBe(traceId({ ...base }));
  });

  it.each([
    ['organizationId', { organizationId: 'org2' }],
    ['projectId', { projectId: 'proj2' }],
    ['objectKey', { objectKey: 'uploads/org1/proj1/b.jsonl' }],
    ['position', { position: 2 }],
    ['raw', { raw: '{"a":2}' }],
    ['raw (whitespace only)', { raw: '{"a":1} ' }],
  ])('changes with %s', (_name, change) => {
    expect(traceId({ ...base, ...change })).not.toBe(traceId(base));
  });

  it('does not let a part spill into the next one', () => {
    // Same concatenation of objectKey and position text, different tuple.
    const a = traceId({ ...base, objectKey: 'k1', position: 23 });
    const b = traceId({ ...base, objectKey: 'k12', position: 3 });
    expect(a).not.toBe(b);
  });

  it('is a version 8, RFC-variant UUID string', () => {
    for (let position = 1; position <= 50; position++) {
      expect(traceId({ ...base, position })).toMatch(UUID_V8);
    }
  });
});

describe('uploadId', () => {
  const u = { organizationId: 'org1', projectId: 'proj1', objectKey: 'uploads/org1/proj1/a.jsonl', version: 'etag-1' };

  it('is deterministic and a version 8, RFC-variant UUID', () => {
    expect(uploadId(u)).toBe(uploadId({ ...u }));
    expect(uploadId(u)).toMatch(UUID_V8);
  });

  it.each([
    ['organizationId', { organizationId: 'org2' }],
    ['projectId', { projectId: 'proj2' }],
    ['objectKey', { objectKey: 'uploads/org1/proj1/b.jsonl' }],
    ['version', { version: 'etag-2' }],
  ])('changes with %s', (_name, change) => {
    expect(uploadId({ ...u, ...change })).not.toBe(uploadId(u));
  });

  it('differs from the trace id of the same parts (separate namespaces)', () => {
    expect(uploadId(u)).not.toBe(traceId({ ...base }));
  });
});

describe('newApiKey', () => {
  it('has the tik_ prefix and at least 32 random bytes of base64url', () => {
    const key = newApiKey();
    expect(key.startsWith('tik_')).toBe(true);
    const body = key.slice(4);
    expect(body).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(body.length).toBeGreaterThanOrEqual(43);
    expect(Buffer.from(body, 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  it('differs on each call', () => {
    const keys = new Set(Array.from({ length: 100 }, () => newApiKey()));
    expect(keys.size).toBe(100);
  });
});
