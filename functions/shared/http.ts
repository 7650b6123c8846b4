import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import type { Tenant } from '../domain/tenancy.js';

export type HttpEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & { authorizer?: { lambda?: Record<string, unknown> } };
};
export type HttpResult = APIGatewayProxyStructuredResultV2;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Every error answer: `{"error": {"code", "message"}}`. */
export function errorResponse(statusCode: number, code: string, message: string, headers: Record<string, string> = {}): HttpResult {
  return json(statusCode, { error: { code, message } }, headers);
}

/** An error a handler throws to answer with a given status. */
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

/** The caller's tenant, as the API-key authorizer resolved it. */
export function tenantOf(event: HttpEvent): Tenant {
  const parsed = TenantContext.safeParse(event.requestContext.authorizer?.lambda);
  if (!parsed.success) throw new HttpError(401, 'unauthorized', 'a valid API key is required');
  return parsed.data;
}

/**
 * Wraps a handler: thrown HttpErrors become their JSON error; anything else is
 * logged and answered as a JSON 500 without internals.
 */
export function httpHandler(fn: (event: HttpEvent) => Promise<HttpResult>): (event: HttpEvent) => Promise<HttpResult> {
  return async (event) => {
    try {
      return await fn(event);
    } catch (err) {
      if (err instanceof HttpError) return errorResponse(err.statusCode, err.code, err.message);
      console.error(JSON.stringify({ level: 'error', msg: 'unhandled error', route: event.routeKey, error: String(err), stack: (err as Error)?.stack }));
      return errorResponse(500, 'internal_error', 'the server failed to answer this request');
    }
  };
}

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
