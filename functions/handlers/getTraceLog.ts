import { traceLogTree } from '../domain/parea/index.js';
import { HttpError, httpHandler, pathParam, rawJson, tenantOf } from '../shared/http.js';
import { traceLogDeps } from '../shared/services.js';

/** GET /api/parea/v1/trace_log/{traceId}: the span's TraceLogTree, its descendants nested; 404 for unknown or another project's. */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const tree = await traceLogTree(traceLogDeps(), tenant, pathParam(event, 'traceId'));
  if (tree === null) throw new HttpError(404, 'not_found', 'no such trace log');
  return rawJson(200, tree);
});
