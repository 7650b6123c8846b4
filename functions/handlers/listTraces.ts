import { ListQuerySchema, normalizeListParams, toListQuery } from '../domain/list-query.js';
import { traceJson, type ListPage, type ListQuery } from '../domain/traces.js';
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

/** The list answer: `{"traces", "count", "total_count", "total_count_exact", "page", "page_size", "next_cursor"}`. */
export function listJson(page: ListPage, query: ListQuery): string {
  return (
    `{"traces":[${page.traces.map(traceJson).join(',')}],"count":${page.traces.length},"total_count":${page.totalCount},"total_count_exact":${page.totalExact},` +
    `"page":${query.cursor ? null : query.page},"page_size":${query.pageSize},"next_cursor":${JSON.stringify(page.nextCursor)}}`
  );
}
