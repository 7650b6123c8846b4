import * as z from 'zod';
import { TraceLogError, type TraceLogDeps } from '../domain/trace-logs.js';
import type { Tenant } from '../domain/tenancy.js';
import { HttpError, httpHandler, json, parseJsonBody, tenantOf } from './http.js';
import { traceLogDeps } from './services.js';

/** The status each trace-log refusal answers with. */
export function traceLogHttpError(err: TraceLogError): HttpError {
  switch (err.kind) {
    case 'too_large':
      return new HttpError(413, 'payload_too_large', err.message);
    case 'busy':
      return new HttpError(429, 'too_many_requests', err.message);
    default:
      return new HttpError(400, 'invalid_body', err.message);
  }
}

/** A route that hands its JSON body to a trace-log write (record or update) and answers `{}`. */
export function traceLogWriteHandler(write: (deps: TraceLogDeps, tenant: Tenant, body: unknown) => Promise<unknown>, opts: { maxBodyBytes?: number } = {}) {
  return httpHandler(async (event) => {
    const tenant = tenantOf(event);
    const body = parseJsonBody(z.unknown(), event, opts.maxBodyBytes);
    try {
      await write(traceLogDeps(), tenant, body);
    } catch (err) {
      if (err instanceof TraceLogError) throw traceLogHttpError(err);
      throw err;
    }
    return json(200, {});
  });
}
