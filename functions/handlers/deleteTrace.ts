import { deleteTrace } from '../domain/trace-maintenance.js';
import { HttpError, httpHandler, pathId, projectScope } from '../shared/http.js';
import { traceMaintenanceDeps } from '../shared/services.js';

/** DELETE .../traces/{traceId}: the trace, its evaluations and its offloaded document; 204, or 404 if there is none. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const notFound = (id: string) => `no trace ${id} in this project`;
  const traceId = pathId(event, 'traceId', notFound);
  const outcome = await deleteTrace(traceMaintenanceDeps(), tenant, traceId);
  if (outcome === 'not-found') throw new HttpError(404, 'not_found', notFound(traceId));
  return { statusCode: 204 };
});
