import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { flushMetrics, log, metricsFor, MetricUnit, startInvocation, withLogKeys } from './observability.js';
import { METRIC, ROUTE_DIMENSION } from './metric-names.js';
import * as z from 'zod';
import type { Tenant } from '../domain/tenancy.js';
import { isDomainError, type DomainErrorKind } from '../domain/errors.js';
import { MAX_ID_CHARS } from '../domain/ids.js';
import { describeIssues } from '../domain/issues.js';
import { isThrottle } from './throttles.js';

export type HttpEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & { authorizer?: { lambda?: Record<string, unknown> } };
};
export type HttpResult = APIGatewayProxyStructuredResultV2;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** A JSON body built elsewhere (e.g. with documents spliced in verbatim). */
export function rawJson(statusCode: number, body: string, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body };
}

/**
 * A synchronous Lambda answers at most 6 MB (the whole response object, the body escaped inside
 * it, base64 for binary). The cut: the body as the response object will carry it, at most 5 MiB:
 * plain JSON counted with its escapes; gzip as base64 (so at most 3.75 MiB of gzip).
 */
export const MAX_ANSWER_WIRE_BYTES = 5 * 1024 * 1024;

/** A 200 JSON answer: text as it is, or gzip bytes (base64, `content-encoding: gzip`). */
export function jsonAnswer(body: string | Buffer, headers: Record<string, string> = {}): HttpResult {
  if (typeof body === 'string') return rawJson(200, body, headers);
  return {
    statusCode: 200,
    headers: { ...JSON_HEADERS, 'content-encoding': 'gzip', ...headers },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

/** True when the request's Accept-Encoding allows gzip (`gzip` or `*`, with a non-zero q). */
export function acceptsGzip(event: Pick<HttpEvent, 'headers'>): boolean {
  const value = header(event.headers, 'accept-encoding');
  if (!value) return false;
  let gzip: boolean | null = null;
  let star = false;
  for (const part of value.split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)).find((m) => m !== null);
    const ok = q ? Number(q[1]) > 0 : true;
    if (coding.trim() === 'gzip') gzip = ok;
    else if (coding.trim() === '*') star = ok;
  }
  return gzip ?? star;
}

/** Every error answer: `{"error": {"code", "message"}}`. */
export function errorResponse(statusCode: number, code: string, message: string, headers: Record<string, string> = {}): HttpResult {
  return json(statusCode, { error: { code, message } }, headers);
}

/** The status and code of each domain refusal (functions/domain/errors.ts): the one table, for every route. */
export const DOMAIN_ERROR_STATUS: Readonly<Record<DomainErrorKind, readonly [status: number, code: string]>> = {
  invalid_body: [400, 'invalid_body'],
  invalid_query: [400, 'invalid_query'],
  invalid_filter: [400, 'invalid_filter'],
  invalid_cursor: [400, 'invalid_cursor'],
  run_name_taken: [400, 'run_name_taken'],
  not_found: [404, 'not_found'],
  conflict: [409, 'conflict'],
  payload_too_large: [413, 'payload_too_large'],
  answer_too_large: [413, 'too_large'],
  export_too_large: [413, 'export_too_large'],
  unsupported_media_type: [415, 'unsupported_media_type'],
  busy: [429, 'too_many_requests'],
};

/** An error the edge itself throws (a request it cannot parse, a key it refuses) to answer with a given status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TenantContext = z.object({ organizationId: z.string().min(1), projectId: z.string().min(1) });

/** What the authorizer passes for a revoked key instead of a tenant (functions/handlers/authorizer.ts). */
export interface RevokedKeyContext {
  revokedAt: string;
}
const RevokedContext = z.object({ revokedAt: z.string().min(1) });

/** A revoked key's 401: it says so, and what to do. */
export function revokedKeyError(revokedAt: string): HttpError {
  return new HttpError(401, 'api_key_revoked', `this API key was revoked at ${revokedAt}; create a new one (npm run keys -- create)`);
}

/** The caller's tenant, as the API-key authorizer resolved it; a revoked key is a 401 that says so. */
export function tenantOf(event: HttpEvent): Tenant {
  const revoked = RevokedContext.safeParse(event.requestContext.authorizer?.lambda);
  if (revoked.success) {
    throw revokedKeyError(revoked.data.revokedAt);
  }
  const parsed = TenantContext.safeParse(event.requestContext.authorizer?.lambda);
  if (!parsed.success) throw new HttpError(401, 'unauthorized', 'a valid API key is required');
  return parsed.data;
}

/**
 * Wraps a handler: a thrown HttpError or DomainError becomes its JSON error (the domain's by
 * {@link DOMAIN_ERROR_STATUS}), a throttle a 429; anything else is logged and answered as a
 * JSON 500 without internals.
 */
export function httpHandler(fn: (event: HttpEvent) => Promise<HttpResult>): (event: HttpEvent, context?: Context) => Promise<HttpResult> {
  return async (event, context) => {
    startInvocation(context);
    const tenant = event.requestContext?.authorizer?.lambda ?? {};
    const keys = {
      route: event.routeKey,
      requestId: event.requestContext?.requestId,
      organizationId: tenant.organizationId,
      projectId: tenant.projectId,
    };
    const result = await withLogKeys(keys, async () => {
      try {
        return await fn(event);
      } catch (err) {
        if (err instanceof HttpError) return errorResponse(err.statusCode, err.code, err.message);
        if (isDomainError(err)) return errorResponse(...DOMAIN_ERROR_STATUS[err.kind], err.message);
        if (isThrottle(err)) {
          return errorResponse(429, 'too_many_requests', 'the store is busy; retry after a moment', { 'retry-after': '1' });
        }
        log({ level: 'error', msg: 'unhandled error', error: String(err), stack: (err as Error)?.stack });
        return errorResponse(500, 'internal_error', 'the server failed to answer this request');
      }
    });
    // 4xx and 5xx by route (embedded metric format); one EMF line per invocation that has any.
    const httpMetrics = httpMetricsOf();
    flushMetrics(httpMetrics);
    const status = result.statusCode ?? 200;
    if (status >= 400) {
      httpMetrics.addDimension(ROUTE_DIMENSION, event.routeKey ?? 'unknown');
      httpMetrics.addMetric(status >= 500 ? METRIC.serverErrors : METRIC.clientErrors, MetricUnit.Count, 1);
      httpMetrics.publishStoredMetrics();
    }
    return result;
  };
}

/** The HTTP functions' metrics (one instance per function: each is one route handler), made on first use. */
let metricsInstance: ReturnType<typeof metricsFor> | undefined;
const httpMetricsOf = () => (metricsInstance ??= metricsFor());

/** Throttle errors (functions/shared/throttles.ts) answer 429; the OTLP handler asks here too. */
export { isThrottle };

/** Header lookup that ignores case (API Gateway lower-cases, other callers may not). */
export function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === want) return v;
  return undefined;
}

/** The API key of a request: `x-api-key`, or `Authorization: Bearer <key>`. */
export function apiKeyOf(headers: Record<string, string | undefined> | undefined): string | undefined {
  const direct = header(headers, 'x-api-key')?.trim();
  if (direct) return direct;
  const auth = header(headers, 'authorization')?.trim();
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

const PathTenant = z.object({ organizationId: z.string(), projectId: z.string() });

/**
 * The caller's tenant, checked against the organization and project the path
 * names: another tenant's path is a 404, as if it did not exist.
 */
export function projectScope(event: HttpEvent): Tenant {
  const tenant = tenantOf(event);
  const path = PathTenant.safeParse(event.pathParameters ?? {});
  if (!path.success || path.data.organizationId !== tenant.organizationId || path.data.projectId !== tenant.projectId) {
    throw new HttpError(404, 'not_found', 'no such organization or project');
  }
  return tenant;
}

/** Parses a value with a schema; failures are a 400 naming the parameter. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, code = 'invalid_request'): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, code, describeIssues(parsed.error));
  return parsed.data;
}

/** The query string parameters, validated. */
export function parseQuery<S extends z.ZodType>(schema: S, event: HttpEvent): z.infer<S> {
  return parseWith(schema, event.queryStringParameters ?? {}, 'invalid_query');
}

/** Bodies the JSON routes accept (API Gateway itself caps payloads at 10 MB). */
export const MAX_JSON_BODY_BYTES = 256 * 1024;

/**
 * The JSON body, validated: 415 for another content type, 413 when too large,
 * 400 for invalid JSON or a body the schema refuses.
 */
export function parseJsonBody<S extends z.ZodType>(schema: S, event: HttpEvent, maxBytes = MAX_JSON_BODY_BYTES): z.infer<S> {
  const type = header(event.headers, 'content-type');
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type.trim())) {
    throw new HttpError(415, 'unsupported_media_type', `the body must be application/json, not ${type}`);
  }
  const raw = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(raw) > maxBytes) throw new HttpError(413, 'payload_too_large', `the body is over ${maxBytes} bytes`);
  let value: unknown;
  try {
    value = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  return parseWith(schema, value, 'invalid_body');
}

/** A path parameter that must be present (the route guarantees it; a missing one is a 404). */
export function pathParam(event: HttpEvent, name: string): string {
  const v = event.pathParameters?.[name];
  if (!v) throw new HttpError(404, 'not_found', `no ${name} in the path`);
  return v;
}

/**
 * A path parameter that names a stored thing by its id. An id over MAX_ID_CHARS names nothing (and
 * would overflow the table's keys): it is not looked up, and answers the 404 an unknown id does,
 * `notFound(id)`.
 */
export function pathId(event: HttpEvent, name: string, notFound: (id: string) => string): string {
  const id = pathParam(event, name);
  if (id.length > MAX_ID_CHARS) throw new HttpError(404, 'not_found', notFound(id));
  return id;
}
