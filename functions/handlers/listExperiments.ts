import { listExperiments, ListExperimentsBody } from '../domain/parea/experiments.js';
import { experimentJson } from '../shared/parea-http.js';
import { httpHandler, json, parseJsonBody, parseQuery, tenantOf } from '../shared/http.js';
import { ListExperimentsQuery } from '../shared/requests.js';
import { experimentDeps } from '../shared/services.js';

/**
 * POST /api/parea/v1/experiments (ListExperimentUUIDsFilters): a JSON array of the project's
 * experiments with their pinned stats, newest first; `?limit=` (default and most 1000) and
 * `?cursor=` page it, the next page's cursor in `X-Next-Cursor`.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const query = parseQuery(ListExperimentsQuery, event);
  const body = parseJsonBody(ListExperimentsBody, event);
  const { experiments, nextCursor } = await listExperiments(experimentDeps(), tenant, body, query);
  const headers: Record<string, string> =
    nextCursor === null ? {} : { 'x-next-cursor': nextCursor, 'access-control-expose-headers': 'x-next-cursor' };
  return json(
    200,
    experiments.map((e) => experimentJson(tenant, e)),
    headers,
  );
});
