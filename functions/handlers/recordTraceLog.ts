import { z } from 'zod';
import { recordTraceLog, TraceLogError } from '../domain/trace-logs.js';
import { HttpError, httpHandler, json, parseJsonBody, tenantOf } from '../shared/http.js';
import { traceLogDeps } from '../shared/services.js';

/** POST /api/parea/v1/trace_log: one TraceLog (a span) into the key's project. Answers `{}`. */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const body = parseJsonBody(z.unknown(), event);
  try {
    await recordTraceLog(traceLogDeps(), tenant, body);
  } catch (err) {
    if (err instanceof TraceLogError) throw traceLogHttpError(err);
    throw err;
  }
  return json(200, {});
});

function traceLogHttpError(err: TraceLogError): HttpError {
  switch (err.kind) {
    case 'too_large':
      return new HttpError(413, 'payload_too_large', err.message);
    case 'busy':
      return new HttpError(429, 'too_many_requests', err.message);
    default:
      return new HttpError(400, 'invalid_body', err.message);
  }
}
