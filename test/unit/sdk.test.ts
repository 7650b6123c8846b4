import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TraceIngestClient, TraceIngestError, listQuery, parseFilterExpression, normalizeBaseUrl, resolveConfig } from '../../sdk/index.js';
import { backoffMs, retryAfterMs } from '../../sdk/http.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let baseUrl = '';
let handler: Handler = (_req, res) => res.end();
const seen: Array<{ method: string; url: string; apiKey: string | undefined }> = [];

const ORGS = { data: { id: 'org-1', name: 'acme', owner_id: null, projects: [{ id: 'proj-1', name: 'web' }] } };
const TRACE = {
  id: 't1',
  organization_id: 'org-1',
  project_id: 'proj-1',
  created_at: '2026-01-01T00:00:00.000Z',
  filename: 'a.jsonl',
  data: { x: 1 },
  input: null,
  integration_id: null,
  source: 'upload',
  upload_id: 'u1',
  evaluations_count: 0,
  last_evaluations: [],
};

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', apiKey: req.headers['x-api-key'] as string | undefined });
    if (req.url === '/api/v1/organizations') return reply(res, 200, ORGS);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  seen.length = 0;
});

const client = (extra: Partial<ConstructorParameters<typeof TraceIngestClient>[0]> = {}) =>
  new TraceIngestClient({ baseUrl, apiKey: 'tik_test', retryBaseDelayMs: 1, env: {}, ...extra });
const traceCalls = () => seen.filter((s) => s.url.includes('/traces/t1'));

describe('retries', () => {
  it('retries a 429 with Retry-After: 0 once, then succeeds', async () => {
    let n = 0;
    handler = (_req, res) =>
      n++ === 0 ? reply(res, 429, { error: { code: 'throttled', message: 'slow down' } }, { 'retry-after': '0' }) : reply(res, 200, TRACE);
    const t = await client().traces.get('t1');
    expect(t.id).toBe('t1');
    expect(traceCalls()).toHaveLength(2);
    expect(seen.every((s) => s.apiKey === 'tik_test')).toBe(true);
    expect(seen[1]!.url).toBe('/api/v1/organizations/org-1/projects/proj-1/traces/t1');
  });

  it('gives up after 3 retries of a 500 with a TraceIngestError carrying status 500', async () => {
    handler = (_req, res) => reply(res, 500, { error: { code: 'internal', message: 'boom' } });
    const err = await client()
      .traces.get('t1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TraceIngestError);
    expect(err).toMatchObject({ status: 500, code: 'internal', message: 'boom' });
    expect(traceCalls()).toHaveLength(4);
  });

  it('never repeats creating an evaluation after a 5xx (it may have been created), but does after a 429', async () => {
    handler = (_req, res) => reply(res, 502, { error: { code: 'bad_gateway', message: 'upstream failed' } });
    const err = (await client()
      .evaluations.create({ traceId: 't1', judgeId: 'j' })
      .catch((e: unknown) => e)) as TraceIngestError;
    expect(err.status).toBe(502);
    expect(seen.filter((s) => s.url.endsWith('/trace-evaluations'))).toHaveLength(1);
    seen.length = 0;
    let n = 0;
    const EVAL = {
      id: 'e1',
      trace_id: 't1',
      judge_id: 'j',
      judge_name: 'j',
      judge_version: 1,
      status: 'pending',
      passed: null,
      score: null,
      reasoning: null,
      created_at: '2026-01-01T00:00:00.000Z',
      organization_id: 'org-1',
      project_id: 'proj-1',
    };
    handler = (_req, res) =>
      n++ === 0 ? reply(res, 429, { error: { code: 'throttled', message: 'slow down' } }, { 'retry-after': '0' }) : reply(res, 201, EVAL);
    expect((await client().evaluations.create({ traceId: 't1', judgeId: 'j' })).id).toBe('e1');
    expect(seen.filter((s) => s.url.endsWith('/trace-evaluations'))).toHaveLength(2);
  });

  it('honours retries: 0', async () => {
    handler = (_req, res) => reply(res, 503, 'unavailable');
    const err = (await client({ retries: 0 })
      .traces.get('t1')
      .catch((e: unknown) => e)) as TraceIngestError;
    expect(err.status).toBe(503);
    expect(err.code).toBe('http_503');
    expect(traceCalls()).toHaveLength(1);
  });

  it('does not retry a 4xx other than 429', async () => {
    handler = (_req, res) => reply(res, 404, { error: { code: 'not_found', message: 'no trace "t1" in this project' } });
    const err = (await client()
      .traces.get('t1')
      .catch((e: unknown) => e)) as TraceIngestError;
    expect(err).toMatchObject({ status: 404, code: 'not_found', message: 'no trace "t1" in this project' });
    expect(traceCalls()).toHaveLength(1);
  });

  it('Retry-After in seconds or as a date; backoff grows with jitter and a cap', () => {
    expect(retryAfterMs('0')).toBe(0);
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeNull();
    const policy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffMs(0, policy, () => 0)).toBe(50);
    expect(backoffMs(2, policy, () => 1)).toBe(400);
    expect(backoffMs(10, policy, () => 1)).toBe(1000);
  });
});

describe('answers', () => {
  it('a malformed answer is a TraceIngestError invalid_response', async () => {
    handler = (_req, res) => reply(res, 200, { ...TRACE, evaluations_count: 'many' });
    const err = (await client()
      .traces.get('t1')
      .catch((e: unknown) => e)) as TraceIngestError;
    expect(err).toBeInstanceOf(TraceIngestError);
    expect(err.code).toBe('invalid_response');
    expect(err.message).toContain('evaluations_count');
  });

  it('a body that is not JSON is invalid_response', async () => {
    handler = (_req, res) => reply(res, 200, '<html>');
    await expect(client().traces.get('t1')).rejects.toMatchObject({ code: 'invalid_response', status: 200 });
  });

  it('a connection refused is network_error, status 0', async () => {
    const c = new TraceIngestClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', retries: 0, env: {} });
    await expect(c.traces.sources()).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });

  it('iterate follows next_cursor to the end', async () => {
    handler = (req, res) => {
      const cursor = new URL(req.url!, baseUrl).searchParams.get('cursor');
      const page = cursor === null ? 0 : Number(cursor);
      reply(res, 200, {
        traces: [{ ...TRACE, id: `t${page}` }],
        count: 1,
        total_count: 3,
        total_count_exact: true,
        page: cursor ? null : 1,
        page_size: 1,
        next_cursor: page < 2 ? String(page + 1) : null,
      });
    };
    const ids: string[] = [];
    for await (const t of client().traces.iterate({ pageSize: 1, source: 'upload' })) ids.push(t.id);
    expect(ids).toEqual(['t0', 't1', 't2']);
    const lists = seen.filter((s) => s.url.includes('/traces?'));
    expect(lists[0]!.url).toContain('source=upload');
    expect(lists[0]!.url).toContain('page_size=1');
    expect(lists[2]!.url).toContain('cursor=2');
  });
});

describe('upload', () => {
  it('presigns, PUTs with Content-Length, and follows a 202 to its upload record until completed', async () => {
    const puts: Array<{ length: string | undefined; type: string | undefined; bytes: number }> = [];
    let polls = 0;
    handler = (req, res) => {
      const url = req.url ?? '';
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        if (url.endsWith('/traces/upload'))
          return reply(res, 200, {
            url: `${baseUrl}/s3/put?X-Amz-Signature=secret`,
            upload_key: 'k',
            headers: { 'Content-Type': 'application/json' },
          });
        if (url.startsWith('/s3/put')) {
          puts.push({ length: req.headers['content-length'], type: req.headers['content-type'], bytes: n });
          return puts.length === 1 ? reply(res, 503, '<Error><Code>SlowDown</Code></Error>', { 'retry-after': '0' }) : reply(res, 200, '');
        }
        if (url.endsWith('/traces')) {
          const poll = '/api/v1/organizations/org-1/projects/proj-1/uploads/u-1';
          return reply(res, 202, { status: 'processing', upload_id: 'u-1', trace_ids: ['x'], errors: [], poll }, { 'retry-after': '2' });
        }
        if (url.endsWith('/uploads/u-1')) {
          polls++;
          return reply(
            res,
            200,
            polls < 2
              ? { upload_id: 'u-1', status: 'processing' }
              : {
                  upload_id: 'u-1',
                  status: 'completed',
                  trace_ids: ['x', 'y'],
                  errors: [{ line: 2, message: 'bad' }],
                  error_count: 1,
                  records: 3,
                },
          );
        }
        reply(res, 404, { error: { code: 'not_found', message: url } });
      });
    };
    const body = Buffer.from('[{"a":1},{"a":2},{"a":3}]');
    const result = await client({ pollIntervalMs: 5 }).traces.upload(body, { filename: 'f.json' });
    expect(result).toEqual({
      traceIds: ['x', 'y'],
      uploadId: 'u-1',
      status: 'completed',
      errors: [{ line: 2, message: 'bad' }],
      errorCount: 1,
      records: 3,
      newTraces: null,
    });
    expect(puts).toEqual([
      { length: String(body.length), type: 'application/json', bytes: body.length },
      { length: String(body.length), type: 'application/json', bytes: body.length },
    ]);
    expect(polls).toBe(2);
  });

  it('a Buffer or stream needs a filename', async () => {
    await expect(client().traces.upload(Buffer.from('{}'))).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('requests', () => {
  it('list filters become the snake_case query, checked by the server schema', () => {
    expect(listQuery({ judgeId: 'j', timeRange: '7d', sortBy: 'filename', sortOrder: 'asc', page: 2, pageSize: 10 })).toBe(
      '?judge_id=j&time_range=7d&sort_by=filename&sort_order=asc&page=2&page_size=10',
    );
    expect(() => listQuery({ pageSize: 501 })).toThrow(/page_size must be at most 500/);
    expect(() => listQuery({ timeRange: '7w' })).toThrow(/time_range/);
  });

  it('parses FIELD OP VALUE filters', () => {
    expect(parseFilterExpression('score:accuracy >= 0.5')).toEqual({
      filter_field: 'score:accuracy',
      filter_key: null,
      filter_operator: 'greater_than_or_equal',
      filter_value: '0.5',
    });
    expect(parseFilterExpression('metadata equals 0', 'run')).toMatchObject({ filter_key: 'run', filter_operator: 'equals' });
    expect(parseFilterExpression('error is_null')).toMatchObject({ filter_operator: 'is_null', filter_value: null });
    expect(() => parseFilterExpression('nonsense')).toThrow(TraceIngestError);
  });
});

describe('configuration', () => {
  it('options, then env, then <DATA_DIR>/local-stack.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-config-'));
    try {
      writeFileSync(join(dir, 'local-stack.json'), JSON.stringify({ apiUrl: 'http://127.0.0.1:3999', apiKey: 'tik_file' }));
      expect(resolveConfig({}, { DATA_DIR: dir })).toMatchObject({
        baseUrl: 'http://127.0.0.1:3999',
        apiKey: 'tik_file',
        from: 'local-stack',
      });
      expect(resolveConfig({}, { DATA_DIR: dir, TRACE_INGEST_URL: 'http://x/api/v1/', TRACE_INGEST_API_KEY: 'tik_env' })).toMatchObject({
        baseUrl: 'http://x',
        apiKey: 'tik_env',
        from: 'env',
      });
      expect(resolveConfig({ baseUrl: 'http://o', apiKey: 'tik_o' }, { DATA_DIR: dir })).toMatchObject({
        baseUrl: 'http://o',
        apiKey: 'tik_o',
      });
      expect(() => resolveConfig({}, { DATA_DIR: join(dir, 'none') })).toThrow(/TRACE_INGEST_URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(normalizeBaseUrl('http://h:1/api/parea/v1')).toBe('http://h:1');
  });
});
