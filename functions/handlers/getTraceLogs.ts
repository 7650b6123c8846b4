import { listTraceLogs, QueryParamsBody } from '../domain/parea/index.js';
import { acceptsGzip, httpHandler, parseJsonBody, tenantOf } from '../shared/http.js';
import { traceLogPageAnswer } from '../shared/parea-http.js';
import { traceLogListDeps } from '../shared/services.js';

/**
 * POST /api/parea/v1/get_trace_logs (QueryParams): one page of the project's root trees, newest
 * first: `{total, page, total_pages, page_size, results, total_exact}`. Gzip when accepted.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const q = parseJsonBody(QueryParamsBody, event);
  return traceLogPageAnswer(await listTraceLogs(traceLogListDeps(), tenant, q), acceptsGzip(event));
});
