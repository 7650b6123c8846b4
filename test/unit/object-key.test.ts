import { describe, expect, it } from 'vitest';
import { decodeEventKey, encodeEventKey, locateObject } from '../../functions/domain/object-key.js';

describe('locateObject', () => {
  it('reads uploads/<org>/<project>/<file> as an upload', () => {
    expect(locateObject('uploads/org1/proj-1/traces.jsonl')).toEqual({
      kind: 'trace-file',
      organizationId: 'org1',
      projectId: 'proj-1',
      filename: 'traces.jsonl',
      defaultSource: 'upload',
    });
  });

  it('reads drop/<org>/<project>/<file> as an s3 drop', () => {
    expect(locateObject('drop/Org_2/p2/batch 1.json')).toEqual({
      kind: 'trace-file',
      organizationId: 'Org_2',
      projectId: 'p2',
      filename: 'batch 1.json',
      defaultSource: 's3',
    });
  });

  it('accepts sub-paths under drop/ and keeps only the last segment as the filename', () => {
    expect(locateObject('drop/org1/proj1/2024/05/01/run.jsonl')).toEqual({
      kind: 'trace-file',
      organizationId: 'org1',
      projectId: 'proj1',
      filename: 'run.jsonl',
      defaultSource: 's3',
    });
  });

  it.each([
    ['a key outside both folders', 'payloads/org1/proj1/x.json', /outside uploads\/ and drop\//],
    ['a look-alike top folder', 'Uploads/org1/proj1/x.jsonl', /outside/],
    ['a top folder only', 'uploads', /is not uploads\//],
    ['too few segments (uploads)', 'uploads/org1/x.jsonl', /is not uploads\/<organizationId>\/<projectId>\/<file>/],
    ['too few segments (drop)', 'drop/org1/x.jsonl', /is not drop\/<organizationId>\/<projectId>\/\[path\/\]<file>/],
    ['extra segments under uploads/', 'uploads/org1/proj1/sub/x.jsonl', /is not uploads\//],
    ['an empty filename (trailing slash, uploads)', 'uploads/org1/proj1/', /is not uploads\//],
    ['an empty filename (trailing slash, drop)', 'drop/org1/proj1/sub/', /is not drop\//],
    ['an invalid organization id', 'uploads/-org/proj1/x.jsonl', /valid organization and project/],
    ['an invalid project id', 'drop/org1/pr.oj/x.jsonl', /valid organization and project/],
    ['an empty organization id', 'uploads//proj1/x.jsonl', /valid organization and project/],
    ['an id that is too long', `uploads/${'a'.repeat(65)}/proj1/x.jsonl`, /valid organization and project/],
    ['an id with a trailing newline', 'uploads/org1\n/proj1/x.jsonl', /valid organization and project/],
  ])('ignores %s', (_what, key, reason) => {
    const loc = locateObject(key);
    expect(loc.kind).toBe('ignored');
    if (loc.kind === 'ignored') {
      expect(loc.reason).toMatch(reason);
      expect(loc.reason).toContain(JSON.stringify(key));
    }
  });

  it('accepts ids of exactly 64 characters', () => {
    const id = `A${'b'.repeat(63)}`;
    expect(locateObject(`uploads/${id}/${id}/x.jsonl`).kind).toBe('trace-file');
  });
});

describe('decodeEventKey / encodeEventKey', () => {
  const keys = [
    'uploads/org1/proj1/plain.jsonl',
    'uploads/org1/proj1/with space.jsonl',
    'uploads/org1/proj1/a+b.jsonl',
    'uploads/org1/proj1/100%.jsonl',
    'uploads/org1/proj1/%20literal.jsonl',
    'uploads/org1/proj1/résumé 漢字.jsonl',
    'drop/org1/proj1/dir name/😀 emoji.json',
    'drop/org1/proj1/a&b=c?d#e.json',
  ];

  it.each(keys)('round-trips %j', (key) => {
    expect(decodeEventKey(encodeEventKey(key))).toBe(key);
  });

  it('keeps "/" and turns spaces into "+" as S3 does', () => {
    expect(encodeEventKey('drop/org1/proj1/my dir/a b.jsonl')).toBe('drop/org1/proj1/my+dir/a+b.jsonl');
    expect(encodeEventKey('uploads/o/p/a+b%.json')).toBe('uploads/o/p/a%2Bb%25.json');
    expect(encodeEventKey('uploads/o/p/é.json')).toBe('uploads/o/p/%C3%A9.json');
  });

  it('decodes keys as S3 notifications spell them', () => {
    expect(decodeEventKey('uploads/org1/proj1/my+file%2B1.jsonl')).toBe('uploads/org1/proj1/my file+1.jsonl');
    expect(decodeEventKey('drop/o/p/%F0%9F%98%80.json')).toBe('drop/o/p/😀.json');
    expect(decodeEventKey('uploads/o/p/100%25.json')).toBe('uploads/o/p/100%.json');
  });
});

describe('decodeEventKey on a malformed key', () => {
  it('throws a clear error instead of a bare URIError', () => {
    expect(() => decodeEventKey('drop/a/b/100%zz.jsonl')).toThrow(/is not valid URL encoding/);
  });
});
