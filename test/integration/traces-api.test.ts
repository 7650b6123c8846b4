import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { tenantStore } from '../../functions/shared/services.js';
import { openApiDocument } from '../../functions/shared/openapi.js';
import { ingestAt as ingestFileAt, useTestStack } from '../support/stack.js';

const stack = useTestStack({ notifications: false });
let base: string;
let other: { apiKey: string; organizationId: string; projectId: string };
const BIG_NUMBER_RECORD = '{"input":"precise","n":123456789012345678901234567890,"x":1.0,"__proto__":{"polluted":true}}';
const HOUR = 3_600_000;
const RECENT =
  '{"input":"recent one"}\n{"input":"recent two","source":"sdk"}\n{"input":[{"role":"user","content":"Capital of Peru?"}],"source":"sdk"}\n{"input":"recent four","meta":{"note":"Needle in the doc"}}\n';

interface Trace {
  id: string;
  created_at: string;
  filename: string;
  source: string;
  input: string | null;
  data: Record<string, unknown>;
  evaluations_count: number;
  last_evaluations: unknown[];
}
interface ListAnswer {
  traces: Trace[];
  count: number;
  total_count: number;
  next_cursor: string | null;
}

async function ingestAt(filename: string, body: string, at: number) {
  await ingestFileAt(stack, `${stack.info.dropPrefix}api/${filename}`, body, at);
}

async function api(path: string, init: RequestInit & { key?: string | null } = {}) {
  const headers: Record<string, string> = { accept: 'application/json', ...(init.headers as Record<string, string>) };
  if (init.key !== null) headers['x-api-key'] = init.key ?? stack.info.apiKey;
  return fetch(`${stack.info.apiUrl}${path}`, { ...init, headers });
}

async function list(query = '', key?: string): Promise<ListAnswer> {
  const res = await api(`${base}/traces${query ? `?${query}` : ''}`, { key: key ?? stack.info.apiKey });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ListAnswer;
}

async function all(query: string, pageSize: number): Promise<Trace[]> {
  const out: Trace[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(`${query}&page_size=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.traces);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
  other = await createApiKey(tenantStore(), { organization: 'other-org', project: 'other-project' });
  const now = Date.now();
  await ingestAt(
    'old.jsonl',
    '{"input":"What is the capital of France?"}\n{"input":"old two"}\n{"input":"old three"}\n',
    now - 10 * 24 * HOUR,
  );
  await ingestAt('recent.jsonl', RECENT, now - HOUR);
  await ingestAt('b-file.json', `[{"input":"array one"}, ${BIG_NUMBER_RECORD}]`, now - 60_000);
  await ingestAt('huge.jsonl', `${JSON.stringify({ input: 'huge', blob: 'y'.repeat(400_000) })}\n`, now - 30_000);
}, 90_000);

describe('GET /traces: listing', () => {
  it('lists every trace, newest first, with an exact total from the counters', async () => {
    const page = await list();
    expect(page.total_count).toBe(10);
    expect(page.count).toBe(10);
    const times = page.traces.map((t) => t.created_at);
    expect(times).toEqual([...times].sort().reverse());
    expect(page.traces[0]!.filename).toBe('huge.jsonl');
    expect(page.next_cursor).toBeNull();
    for (const t of page.traces) {
      expect(t.evaluations_count).toBe(0);
      expect(t.last_evaluations).toEqual([]);
    }
  });

  it('pages by cursor through every trace exactly once, in the same order as one big page', async () => {
    const whole = (await list('page_size=500')).traces.map((t) => t.id);
    for (const size of [1, 3, 4]) expect((await all('', size)).map((t) => t.id)).toEqual(whole);
  });

  it('pages by page number like the client does', async () => {
    const whole = (await list()).traces.map((t) => t.id);
    const second = await list('page=2&page_size=3');
    expect(second.traces.map((t) => t.id)).toEqual(whole.slice(3, 6));
    expect(second.total_count).toBe(10);
    const beyond = await list('page=9&page_size=3');
    expect(beyond.traces).toEqual([]);
    expect(beyond.total_count).toBe(10);
  });

  it('sorts ascending, and by filename in both orders', async () => {
    const desc = (await list()).traces.map((t) => t.id);
    expect((await list('sort_order=asc')).traces.map((t) => t.id)).toEqual([...desc].reverse());
    const byName = (await list('sort_by=filename&sort_order=asc')).traces.map((t) => t.filename);
    expect(byName).toEqual([...byName].sort());
    expect(byName[0]).toBe('b-file.json');
    const byNameDesc = (await list('sort_by=filename')).traces.map((t) => t.filename);
    expect(byNameDesc[0]).toBe('recent.jsonl');
    expect((await all('sort_by=filename&sort_order=asc', 3)).map((t) => t.filename)).toEqual(byName);
  });

  it('filters by source with a counted total, and by time range', async () => {
    const sdk = await list('source=sdk');
    expect(sdk.total_count).toBe(2);
    expect(sdk.traces.map((t) => t.source)).toEqual(['sdk', 'sdk']);
    const recent = await list('time_range=2h');
    expect(recent.total_count).toBe(7);
    expect(recent.traces.every((t) => Date.parse(t.created_at) >= Date.now() - 2 * HOUR)).toBe(true);
    const both = await list('source=s3&time_range=24h');
    expect(both.total_count).toBe(5);
    expect(both.traces.every((t) => t.source === 's3')).toBe(true);
    expect((await list('time_range=30d')).total_count).toBe(10);
    expect((await list('time_range=30m')).total_count).toBe(3);
    expect((await list('sort_by=filename&source=sdk&time_range=24h')).total_count).toBe(2);
    // The same totals as counting every matching item, for every range and source.
    for (const range of ['30m', '2h', '24h', '11d', '30d']) {
      for (const source of ['', 's3', 'sdk', 'nope']) {
        const q = `time_range=${range}${source ? `&source=${source}` : ''}`;
        expect((await list(q)).total_count, q).toBe((await all(q, 500)).length);
      }
    }
  });

  it('searches case-insensitively over filename, input and the document text', async () => {
    const capital = await list('search=CAPITAL');
    expect(capital.traces.map((t) => t.input).sort()).toEqual(['What is the capital of France?', 'user: Capital of Peru?']);
    expect(capital.total_count).toBe(2);
    expect((await list('search=needle')).traces.map((t) => t.input)).toEqual(['recent four']);
    expect((await list('search=b-file')).total_count).toBe(2);
    expect((await list('search=nothing-matches-this')).traces).toEqual([]);
  });

  it('filters by judge and by evaluation status (from the trace evaluations)', async () => {
    const [a, b] = (await list('page_size=2')).traces;
    const evaluate = async (id: string, judge: string, passed: boolean) => {
      const res = await api(`${base}/trace-evaluations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ trace_id: id, judge_id: judge, passed }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
    };
    await evaluate(a!.id, 'judge-1', true);
    await evaluate(b!.id, 'judge-1', true);
    await evaluate(b!.id, 'judge-2', false);
    expect((await list('judge_id=judge-1')).traces.map((t) => t.id).sort()).toEqual([a!.id, b!.id].sort());
    expect((await list('judge_id=judge-2')).traces.map((t) => t.id)).toEqual([b!.id]);
    expect((await list('status=pass')).traces.map((t) => t.id)).toEqual([a!.id]);
    expect((await list('status=fail&judge_id=judge-2')).total_count).toBe(1);
    expect((await list('status=unevaluated')).total_count).toBe(8);
    expect((await list('status=pending')).total_count).toBe(0);
    expect((await all('status=unevaluated', 3)).length).toBe(8);
    // Cursor pages through a time range, both orders, with a filter.
    expect((await all('time_range=2h&status=unevaluated', 2)).length).toBe(5);
    expect((await all('time_range=2h&sort_order=asc', 2)).map((t) => t.id)).toEqual(
      (await list('time_range=2h&sort_order=asc')).traces.map((t) => t.id),
    );
    expect((await all('time_range=2h', 3)).map((t) => t.id)).toEqual((await list('time_range=2h')).traces.map((t) => t.id));
  });

  it('accepts the camelCase spellings of older clients', async () => {
    const page = await list('pageSize=2&sortOrder=asc&sortBy=created_at&timeRange=24h');
    expect(page.count).toBe(2);
    expect(page.total_count).toBe(7);
    expect(page.traces[0]!.filename).toBe('recent.jsonl');
  });

  it('answers bad parameters with a 400 that names the parameter and what is allowed', async () => {
    const cases: Array<[string, RegExp]> = [
      ['sort_by=size', /sort_by: must be one of created_at, filename/],
      ['sort_order=up', /sort_order: must be one of asc, desc/],
      ['time_range=5y', /time_range: must be <n><m\|h\|d>/],
      ['time_range=0d', /time_range/],
      ['page_size=0', /page_size: must be at least 1/],
      ['page_size=501', /page_size: must be at most 500/],
      ['page=abc', /page: must be a whole number/],
      ['status=great', /status: must be one of pass, fail, pending, unevaluated/],
      ['cursor=not-a-cursor', /cursor/],
    ];
    for (const [query, message] of cases) {
      const res = await api(`${base}/traces?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.message, query).toMatch(message);
    }
  });

  it('refuses a cursor on another query or from another caller', async () => {
    const first = await list('page_size=2&source=s3');
    const cursor = encodeURIComponent(first.next_cursor!);
    expect((await api(`${base}/traces?page_size=2&source=s3&cursor=${cursor}`)).status).toBe(200);
    expect((await api(`${base}/traces?page_size=2&source=sdk&cursor=${cursor}`)).status).toBe(400);
    expect((await api(`${base}/traces?page_size=2&cursor=${cursor}`)).status).toBe(400);
    const otherBase = `/api/v1/organizations/${other.organizationId}/projects/${other.projectId}`;
    expect((await api(`${otherBase}/traces?page_size=2&source=s3&cursor=${cursor}`, { key: other.apiKey })).status).toBe(400);
    // A hand-made cursor can only move within the caller's own partition, and a malformed one is a 400.
    const forged = JSON.parse(Buffer.from(first.next_cursor!, 'base64url').toString()) as { k: Record<string, string> };
    forged.k = { pk: `T#${other.organizationId}#${other.projectId}#x` };
    const forgedCursor = Buffer.from(JSON.stringify(forged)).toString('base64url');
    expect((await api(`${base}/traces?page_size=2&source=s3&cursor=${forgedCursor}`)).status).toBe(400);
  });
});

describe('GET /traces/{id}', () => {
  it('answers the full trace, its document byte-for-byte as uploaded', async () => {
    const t = (await list('search=precise')).traces[0]!;
    const res = await api(`${base}/traces/${t.id}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain(`"data":${BIG_NUMBER_RECORD}`);
    const body = JSON.parse(text) as Trace;
    expect(body).toMatchObject({
      id: t.id,
      organization_id: stack.info.organizationId,
      project_id: stack.info.projectId,
      filename: 'b-file.json',
      input: 'precise',
    });
  });

  it('puts an offloaded document back whole', async () => {
    const t = (await list('search=huge')).traces[0]!;
    const body = (await (await api(`${base}/traces/${t.id}`)).json()) as Trace;
    expect((body.data.blob as string).length).toBe(400_000);
    expect(body.input).toBe('huge');
  });

  it('is a 404 for an unknown id, another tenant’s id, or another tenant’s path', async () => {
    const t = (await list('page_size=1')).traces[0]!;
    expect((await api(`${base}/traces/00000000-0000-8000-8000-000000000000`)).status).toBe(404);
    const otherBase = `/api/v1/organizations/${other.organizationId}/projects/${other.projectId}`;
    expect((await api(`${otherBase}/traces/${t.id}`, { key: other.apiKey })).status).toBe(404);
    expect((await api(`${base}/traces/${t.id}`, { key: other.apiKey })).status).toBe(404);
    expect((await api(`${base}/traces`, { key: other.apiKey })).status).toBe(404);
    const res = await api(`${otherBase}/traces`, { key: other.apiKey });
    expect(((await res.json()) as ListAnswer).total_count).toBe(0);
  });
});

describe('the open routes', () => {
  it('GET /health and GET /api/v1/openapi.json answer without a key; the document is made from the route table', async () => {
    const health = await fetch(`${stack.info.apiUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const doc = await fetch(`${stack.info.apiUrl}/api/v1/openapi.json`);
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await doc.json()).toEqual(openApiDocument());
  });
});

describe('errors of the HTTP layer', () => {
  it('without a key or with an unknown one, API Gateway\'s deny: 403 {"message":"Forbidden"} (x-api-key or Bearer alike); Bearer works too', async () => {
    for (const key of [null, 'tik_unknown']) {
      const res = await api(`${base}/traces`, { key });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ message: 'Forbidden' });
    }
    const unknownBearer = await fetch(`${stack.info.apiUrl}${base}/traces`, { headers: { authorization: 'Bearer tik_unknown' } });
    expect(unknownBearer.status).toBe(403);
    expect(await unknownBearer.text()).not.toContain('x-api-key');
    const bearer = await fetch(`${stack.info.apiUrl}${base}/traces?page_size=1`, {
      headers: { authorization: `Bearer ${stack.info.apiKey}` },
    });
    expect(bearer.status).toBe(200);
  });

  it('405 for a wrong method, 404 for an unknown route, both JSON', async () => {
    const wrong = await api(`${base}/traces`, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toContain('GET');
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    const unknown = await api('/api/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('415 for a body that is not JSON, 413 for a body over its limit, 400 for broken JSON', async () => {
    const post = (body: string, type = 'application/json') =>
      api(`${base}/traces`, { method: 'POST', headers: { 'content-type': type }, body });
    const notJson = await post('filename=x.jsonl', 'application/x-www-form-urlencoded');
    expect(notJson.status).toBe(415);
    expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    const big = await post(JSON.stringify({ filename: 'x.jsonl', pad: 'p'.repeat(300 * 1024) }));
    expect(big.status).toBe(413);
    const huge = await post(JSON.stringify({ filename: 'x.jsonl', pad: 'p'.repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const broken = await post('{"filename":');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });

  it('routes /traces/sources before /traces/{id}', async () => {
    const res = await api(`${base}/traces/sources`);
    expect(res.status).not.toBe(404);
  });
});

// Last: it deletes a trace the tests above count.
describe('time-range totals after a delete', () => {
  it('keeps time-range totals right when a trace is deleted', async () => {
    const before = (await list('time_range=2h&source=sdk')).total_count;
    const victim = (await list('source=sdk&page_size=1')).traces[0]!;
    const del = await api(`${base}/traces/${victim.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await list('time_range=2h&source=sdk')).total_count).toBe(before - 1);
    expect((await list('time_range=2h')).total_count).toBe((await all('time_range=2h', 500)).length);
  });
});
