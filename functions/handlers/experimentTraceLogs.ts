import * as z from 'zod';
import { experimentTraceLogs } from '../domain/parea/index.js';
import { acceptsGzip, httpHandler, jsonAnswer, parseJsonBody, parseQuery, pathParam, tenantOf } from '../shared/http.js';
import { experimentPageSize, fitExperimentAnswer } from '../shared/parea-http.js';
import { ExperimentLogsQuery } from '../shared/requests.js';
import { traceLogDeps } from '../shared/services.js';

/**
 * POST /api/parea/v1/experiment/{experimentUuid}/trace_logs, body: the filter. A JSON array of
 * root TraceLogTrees (a tree is listed when its root or any span in it matches). `limit` and
 * `cursor` page by root trees; a longer answer is cut near 5 MB; either way the next page's
 * cursor is in `X-Next-Cursor`. Gzip when the caller accepts it. Unknown experiment: `[]`.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const experimentUuid = pathParam(event, 'experimentUuid');
  const query = parseQuery(ExperimentLogsQuery, event);
  const filter = parseJsonBody(z.unknown(), event);
  const gzip = acceptsGzip(event);
  const page = await experimentTraceLogs(traceLogDeps(), tenant, {
    experimentUuid,
    filter,
    limit: query.limit,
    cursor: query.cursor,
    size: experimentPageSize(gzip),
  });
  const answer = fitExperimentAnswer(page, gzip);
  const headers: Record<string, string> = { vary: 'accept-encoding' };
  const exposed: string[] = [];
  if (answer.nextCursor !== null) {
    headers['x-next-cursor'] = answer.nextCursor;
    exposed.push('x-next-cursor');
  }
  // With a filter: whether any span read has its field at all, so a caller can tell a misspelt field from no match.
  if (page.fieldSeen !== null) {
    headers['x-filter-field-seen'] = String(page.fieldSeen);
    exposed.push('x-filter-field-seen');
  }
  if (exposed.length) headers['access-control-expose-headers'] = exposed.join(', ');
  return jsonAnswer(answer.body, headers);
});
