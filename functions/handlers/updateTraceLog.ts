import { z } from 'zod';
import { TraceLogError, updateTraceLog } from '../domain/trace-logs.js';
import { HttpError, httpHandler, json, parseJsonBody, tenantOf } from '../shared/http.js';
import { traceLogDeps } from '../shared/services.js';

/**
 * PUT /api/parea/v1/trace_log `{trace_id, root_trace_id, field_name_to_value_map}`: late fields
 * (output, scores, end time...) of a span. Kept until the span is posted when it comes first. Answers `{}`.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const body = parseJsonBody(z.unknown(), event);
  try {
    await updateTraceLog(traceLogDeps(), tenant, body);
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
