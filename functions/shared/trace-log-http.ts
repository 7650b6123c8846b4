import * as z from 'zod';
import type { TraceLogDeps } from '../domain/trace-logs.js';
import type { Tenant } from '../domain/tenancy.js';
import { httpHandler, json, parseJsonBody, tenantOf } from './http.js';
import { traceLogDeps } from './services.js';

/** A route that hands its JSON body to a trace-log write (record or update) and answers `{}`. */
export function traceLogWriteHandler(write: (deps: TraceLogDeps, tenant: Tenant, body: unknown) => Promise<unknown>, opts: { maxBodyBytes?: number } = {}) {
  return httpHandler(async (event) => {
    const tenant = tenantOf(event);
    const body = parseJsonBody(z.unknown(), event, opts.maxBodyBytes);
    await write(traceLogDeps(), tenant, body);
    return json(200, {});
  });
}
