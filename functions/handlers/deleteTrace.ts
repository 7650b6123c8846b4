import { MAX_TRACE_ID_CHARS } from '../domain/ids.js';
import { deleteTrace } from '../domain/trace-maintenance.js';
import { HttpError, httpHandler, pathParam, projectScope } from '../shared/http.js';
import { traceMaintenanceDeps } from '../shared/services.js';

/** DELETE .../traces/{traceId}: the trace, its evaluations and its offloaded document; 204, or 404 if there is none. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const traceId = pathParam(event, 'traceId');
  const outcome = traceId.length <= MAX_TRACE_ID_CHARS ? await deleteTrace(traceMaintenanceDeps(), tenant, traceId) : 'not-found';
  if (outcome === 'not-found') throw new HttpError(404, 'not_found', `no trace ${traceId} in this project`);
  return { statusCode: 204 };
});
