import { ListQuerySchema, normalizeListParams, toListQuery } from '../domain/list-query.js';
import { listJson } from '../domain/traces.js';
import { httpHandler, parseWith, projectScope, rawJson } from '../shared/http.js';
import { searchingTraceStore } from '../shared/search-services.js';

/**
 * GET .../traces: filters (source, judge_id, status, time_range, search), sort
 * (created_at or filename, asc or desc), page/page_size, and an opaque cursor.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const params = parseWith(ListQuerySchema, normalizeListParams(event.queryStringParameters ?? {}), 'invalid_query');
  const query = toListQuery(params, Date.now());
  const page = await searchingTraceStore().list(tenant, query, params.time_range);
  return rawJson(200, listJson(page, query));
});
