import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpError, apiKeyOf, httpHandler, tenantOf, type HttpEvent, type HttpResult } from '../../functions/shared/http.js';
import { httpEvent } from '../../local/events.js';

afterEach(() => {
  vi.restoreAllMocks();
});

function event(authorizer?: { lambda?: Record<string, unknown> }): HttpEvent {
  const e = httpEvent({ method: 'GET', path: '/traces', requestId: 'req-1' });
  return authorizer ? { ...e, requestContext: { ...e.requestContext, authorizer } } : e;
}

describe('apiKeyOf', () => {
  it('reads x-api-key in any case, trimmed', () => {
    expect(apiKeyOf({ 'x-api-key': 'tik_abc' })).toBe('tik_abc');
    expect(apiKeyOf({ 'X-Api-Key': 'tik_abc' })).toBe('tik_abc');
    expect(apiKeyOf({ 'X-API-KEY': '  tik_abc  ' })).toBe('tik_abc');
  });

  it('reads a Bearer token from Authorization', () => {
    expect(apiKeyOf({ authorization: 'Bearer tik_xyz' })).toBe('tik_xyz');
    expect(apiKeyOf({ Authorization: 'bearer   tik_xyz ' })).toBe('tik_xyz');
  });

  it('prefers x-api-key over Authorization', () => {
    expect(apiKeyOf({ authorization: 'Bearer tik_b', 'x-api-key': 'tik_a' })).toBe('tik_a');
    // An empty x-api-key does not hide a Bearer token.
    expect(apiKeyOf({ 'x-api-key': '   ', authorization: 'Bearer tik_b' })).toBe('tik_b');
  });

  it('answers undefined without a key', () => {
    expect(apiKeyOf(undefined)).toBeUndefined();
    expect(apiKeyOf({})).toBeUndefined();
    expect(apiKeyOf({ 'content-type': 'application/json' })).toBeUndefined();
    expect(apiKeyOf({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined();
    expect(apiKeyOf({ authorization: 'Bearer' })).toBeUndefined();
    expect(apiKeyOf({ authorization: 'Bearer two words' })).toBeUndefined();
    expect(apiKeyOf({ 'x-api-key': undefined })).toBeUndefined();
  });
});

describe('tenantOf', () => {
  it('answers the tenant the authorizer resolved', () => {
    expect(tenantOf(event({ lambda: { organizationId: 'org1', projectId: 'proj1', extra: 1 } }))).toEqual({
      organizationId: 'org1',
      projectId: 'proj1',
    });
  });

  it.each([
    ['no authorizer context', undefined],
    ['no lambda context', {}],
    ['a missing project', { lambda: { organizationId: 'org1' } }],
    ['an empty organization', { lambda: { organizationId: '', projectId: 'proj1' } }],
    ['a non-string id', { lambda: { organizationId: 1, projectId: 'proj1' } }],
  ])('throws a 401 HttpError for %s', (_what, authorizer) => {
    let caught: unknown;
    try {
      tenantOf(event(authorizer));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect(caught).toMatchObject({ statusCode: 401, code: 'unauthorized', message: 'a valid API key is required' });
  });
});

describe('tenantOf for a revoked key', () => {
  it('throws a 401 that says the key was revoked, and when', () => {
    expect(() => tenantOf(event({ lambda: { revokedAt: '2024-05-01T12:00:00.000Z' } }))).toThrow(
      expect.objectContaining({
        statusCode: 401,
        code: 'api_key_revoked',
        message: expect.stringContaining('revoked at 2024-05-01T12:00:00.000Z'),
      }),
    );
  });
});

describe('httpHandler', () => {
  it('answers a store that is still throttling after the SDK retries with a 429 and Retry-After', async () => {
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const out = await httpHandler(async () => {
      throw throttled;
    })(event());
    expect(out.statusCode).toBe(429);
    expect(out.headers?.['retry-after']).toBe('1');
    expect(JSON.parse(out.body!)).toEqual({ error: { code: 'too_many_requests', message: expect.any(String) } });
  });

  it('passes a result through', async () => {
    const result: HttpResult = { statusCode: 204 };
    expect(await httpHandler(async () => result)(event())).toBe(result);
  });

  it('turns a thrown HttpError into its JSON error answer', async () => {
    const h = httpHandler(async () => {
      throw new HttpError(404, 'not_found', 'no such trace');
    });
    const out = await h(event());
    expect(out.statusCode).toBe(404);
    expect(out.headers?.['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(out.body!)).toEqual({ error: { code: 'not_found', message: 'no such trace' } });
  });

  it('turns the 401 of tenantOf into a JSON 401', async () => {
    const h = httpHandler(async (e) => ({ statusCode: 200, body: JSON.stringify(tenantOf(e)) }));
    const out = await h(event());
    expect(out.statusCode).toBe(401);
    expect(JSON.parse(out.body!)).toEqual({ error: { code: 'unauthorized', message: 'a valid API key is required' } });
  });

  it('answers any other error with a JSON 500 that leaks nothing', async () => {
    // Powertools' Logger writes error lines with console.error (in dev mode, as the tests run it; on Lambda to stderr).
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const h = httpHandler(async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.7:8000 table=secret-table');
    });
    const out = await h(event());
    expect(out.statusCode).toBe(500);
    expect(out.headers?.['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(out.body!)).toEqual({ error: { code: 'internal_error', message: 'the server failed to answer this request' } });
    expect(out.body).not.toContain('ECONNREFUSED');
    expect(out.body).not.toContain('secret-table');
    // The details go to the log instead: one JSON line, with the request's keys.
    expect(log).toHaveBeenCalledTimes(1);
    const line = JSON.parse(String(log.mock.calls[0]![0])) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'ERROR', message: 'unhandled error', service: 'trace-ingest' });
    expect(String(line.error)).toContain('ECONNREFUSED');
  });

  it('answers a thrown non-Error with a JSON 500 as well', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const h = httpHandler(async () => {
      throw 'a string';
    });
    const out = await h(event());
    expect(out.statusCode).toBe(500);
    expect(JSON.parse(out.body!).error.code).toBe('internal_error');
  });
});
