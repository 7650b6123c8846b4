import { describe, expect, it } from 'vitest';
import { ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { latencyBucket, bucketBounds } from '../../functions/domain/stats.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { ingestDeps, tenantStore } from '../../functions/shared/services.js';
import { ingestAt, useTestStack } from '../support/stack.js';
import { callApi } from '../support/api.js';

const stack = useTestStack({ notifications: false });
const AT = Date.parse('2026-11-20T10:30:00Z');
const P = () => `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;

const api = (method: string, path: string, body?: unknown, key?: string) => callApi(stack, method, path, body, key);

const span = (id: string, over: Record<string, unknown> = {}) => ({
  trace_id: id,
  root_trace_id: 'root',
  parent_trace_id: 'root',
  experiment_uuid: 'exp-stats',
  start_timestamp: '2026-11-20T10:05:00.000000+00:00',
  ...over,
});

const hour10 = (answer: { buckets: Array<{ start: string }> }) => answer.buckets.find((b) => b.start === '2026-11-20T10:00:00.000Z')!;

describe('GET P/stats', () => {
  it('counts traces and bad lines per hour once per upload, and span latency, tokens and cost as spans are stored and change', async () => {
    const key = `uploads/${stack.info.organizationId}/${stack.info.projectId}/stats.jsonl`;
    const file = ['{"input":"a"}', 'not json', '{"input":"b"}', '[1]', '{"input":"c"}'].join('\n');
    await ingestAt(stack, key, file, AT);
    // The same object delivered again: already completed, nothing counted twice.
    const head = await ingestDeps().storage.head({ bucket: stack.info.bucket, key });
    await ingestObject(ingestDeps(), {
      bucket: stack.info.bucket,
      key,
      eTag: head!.eTag,
      size: head!.size,
      eventTime: new Date(AT).toISOString(),
    });

    for (const s of [
      span('root', { latency: 1.2, input_tokens: 10, output_tokens: 2, cost: 0.001 }),
      span('child', { latency: 0.05, status: 'error' }),
    ]) {
      expect((await api('POST', '/api/parea/v1/trace_log', s)).status).toBe(200);
    }
    // A span posted again unchanged moves nothing; an update that ends it moves its figures.
    expect((await api('POST', '/api/parea/v1/trace_log', span('child', { latency: 0.05, status: 'error' }))).status).toBe(200);
    const put = await api('PUT', '/api/parea/v1/trace_log', {
      trace_id: 'child',
      root_trace_id: 'root',
      field_name_to_value_map: { latency: 0.3, total_tokens: 40, cost: 0.002 },
    });
    expect(put.status, put.text).toBe(200);

    const res = await api('GET', `${P()}/stats?from=2026-11-20T08:00:00Z&to=2026-11-20T12:00:00Z`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.buckets.map((b: { start: string }) => b.start)).toEqual(
      ['08', '09', '10', '11'].map((h) => `2026-11-20T${h}:00:00.000Z`),
    );
    const h = hour10(res.body);
    const mid = (ms: number) => {
      const [lo, hi] = bucketBounds(latencyBucket(ms));
      return Math.round(Math.sqrt(lo * hi) * 100) / 100;
    };
    expect(h).toEqual({
      start: '2026-11-20T10:00:00.000Z',
      traces: 3,
      bad_lines: 2,
      spans: 2,
      span_errors: 1,
      latency_p50_ms: mid(300),
      latency_p95_ms: mid(1200),
      input_tokens: 10,
      output_tokens: 2,
      total_tokens: 52,
      cost: 0.003,
    });
    expect(res.body.totals).toMatchObject({ traces: 3, bad_lines: 2, spans: 2, total_tokens: 52 });

    const daily = await api('GET', `${P()}/stats?from=2026-11-19&to=2026-11-22&interval=day`);
    expect(daily.body.buckets.map((b: { traces: number; spans: number }) => [b.traces, b.spans])).toEqual([
      [0, 0],
      [3, 2],
      [0, 0],
    ]);
  });

  it('a deleted trace leaves the hour it was counted in', async () => {
    const list = await api('GET', `${P()}/traces?page_size=1`);
    expect((await api('DELETE', `${P()}/traces/${list.body.traces[0].id}`)).status).toBe(204);
    const res = await api('GET', `${P()}/stats?from=2026-11-20T10:00:00Z&to=2026-11-20T11:00:00Z`);
    expect(res.body.totals).toMatchObject({ traces: 2, bad_lines: 2 });
  });

  it("answers only the caller's project, and refuses bad windows with a 400 that names the parameter", async () => {
    const other = await createApiKey(tenantStore(), { organization: 'stats-other', project: 'p' });
    const theirs = await api(
      'GET',
      `/api/v1/organizations/${other.organizationId}/projects/${other.projectId}/stats?from=2026-11-20T10:00:00Z&to=2026-11-20T11:00:00Z`,
      undefined,
      other.apiKey,
    );
    expect(theirs.body.totals).toMatchObject({ traces: 0, bad_lines: 0, spans: 0 });
    expect((await api('GET', `/api/v1/organizations/${other.organizationId}/projects/${other.projectId}/stats`)).status).toBe(404);
    for (const [q, name] of [
      ['time_range=90d', 'time_range'],
      ['from=2026-01-01&to=2026-03-01', 'over 31 days'],
      ['interval=week', 'interval'],
      ['from=yesterday', 'from'],
    ] as const) {
      const res = await api('GET', `${P()}/stats?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.message, q).toContain(name);
    }
  });
});

describe('the local API server for browsers', () => {
  it('serves the viewer at / with its content security policy, and CORS on API answers as API Gateway does', async () => {
    const page = await fetch(`${stack.info.apiUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain(`connect-src 'self' ${stack.info.s3Endpoint}`);
    const html = await page.text();
    const script = /src="(assets\/main-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${stack.info.apiUrl}/${script}`);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await (await fetch(`${stack.info.apiUrl}/config.json`)).json()).toEqual({ apiUrl: '' });

    const origin = 'http://viewer.example';
    const preflight = await fetch(`${stack.info.apiUrl}${P()}/stats`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-api-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-api-key');
    const answer = await fetch(`${stack.info.apiUrl}${P()}/stats`, { headers: { origin, 'x-api-key': stack.info.apiKey } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('access-control-expose-headers')).toContain('x-next-cursor');
    // An unknown path outside /api/ is still a JSON 404.
    const missing = await fetch(`${stack.info.apiUrl}/nope.html`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
