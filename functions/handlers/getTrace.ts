import { HttpError, httpHandler, pathId, projectScope, rawJson } from '../shared/http.js';
import { traceJson } from '../domain/traces.js';
import { traceStore } from '../shared/services.js';

/** GET .../traces/{traceId}: the full trace, an offloaded document included; 404 for unknown or foreign ids. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const traceId = pathId(event, 'traceId', () => 'no such trace');
  const trace = await traceStore().get(tenant, traceId);
  if (!trace) throw new HttpError(404, 'not_found', 'no such trace');
  return rawJson(200, traceJson(trace));
});
