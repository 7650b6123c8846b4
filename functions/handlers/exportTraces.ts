import type * as z from 'zod';
import { exportTracesPage } from '../domain/exports.js';
import { normalizeListParams, toListQuery } from '../domain/list-query.js';
import { httpHandler, parseWith, projectScope } from '../shared/http.js';
import { ExportTracesQuery } from '../shared/requests.js';
import { searchAwareTraces } from '../shared/search-aware-traces.js';
import { ndjson } from '../shared/ndjson.js';

/**
 * GET .../traces/export: every trace matching the list's filters as JSON Lines (one trace, with its
 * `data`, per line; oldest first), as much as one answer holds; `X-Next-Cursor` goes on with the
 * same range (anchored on the first page). Larger exports: POST .../exports.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const params = parseWith(ExportTracesQuery, normalizeListParams(event.queryStringParameters ?? {}), 'invalid_query') as z.infer<
    typeof ExportTracesQuery
  >;
  const now = Date.now();
  const q = toListQuery({ ...params, page: 1, page_size: 1, sort_by: 'created_at', sort_order: 'asc' }, now);
  const page = await exportTracesPage(searchAwareTraces(), tenant, {
    filters: { source: q.source, judgeId: q.judgeId, status: q.status, since: q.since, search: q.search },
    timeRange: params.time_range,
    cursor: params.cursor,
    now,
  });
  return ndjson(page);
});
