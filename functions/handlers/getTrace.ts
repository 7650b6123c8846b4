import { MAX_TRACE_ID_CHARS } from '../domain/ids.js';
import { HttpError, httpHandler, pathParam, projectScope, rawJson } from '../shared/http.js';
import { traceJson } from '../domain/traces.js';
import { traceStore } from '../shared/services.js';

/** GET .../traces/{traceId}: the full trace, an offloaded document included; 404 for unknown or foreign ids. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const traceId = pathParam(event, 'traceId');
  const trace = traceId.length <= MAX_TRACE_ID_CHARS ? await traceStore().get(tenant, traceId) : null;
  if (!trace) throw new HttpError(404, 'not_found', 'no such trace');
  return rawJson(200, traceJson(trace));
});
