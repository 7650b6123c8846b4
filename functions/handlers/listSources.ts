import { listSources } from '../domain/trace-maintenance.js';
import { httpHandler, json, projectScope } from '../shared/http.js';
import { traceMaintenanceDeps } from '../shared/services.js';

/** GET .../traces/sources: the sources of the project's traces, sorted, from its counter item. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  return json(200, { sources: await listSources(traceMaintenanceDeps(), tenant) });
});
