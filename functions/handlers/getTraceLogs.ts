import { listTraceLogs, QueryParamsBody } from '../domain/trace-log-list.js';
import { httpHandler, parseJsonBody, rawJson, tenantOf } from '../shared/http.js';
import { traceLogListDeps } from '../shared/services.js';
import { acceptsGzip } from './experimentTraceLogs.js';

/**
 * POST /api/parea/v1/get_trace_logs (QueryParams): one page of the project's root trees, newest
 * first: `{total, page, total_pages, page_size, results, total_exact}`. Gzip when accepted.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const q = parseJsonBody(QueryParamsBody, event);
  const page = await listTraceLogs(traceLogListDeps(), tenant, q, { gzip: acceptsGzip(event) });
  if (!page.gzip) return rawJson(200, page.body as string, { vary: 'accept-encoding' });
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding' },
    body: (page.body as Buffer).toString('base64'),
    isBase64Encoded: true,
  };
});
