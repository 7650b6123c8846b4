import { evaluationJson, listEvaluations } from '../domain/evaluations.js';
import { sinceOf } from '../domain/list-query.js';
import { httpHandler, json, parseQuery, projectScope } from '../shared/http.js';
import { ListEvaluationsQuery } from '../shared/requests.js';
import { evaluationDeps } from '../shared/services.js';

/**
 * GET .../trace-evaluations?trace_id=&judge_id=&outcome=&time_range=&search=&sort_by=&sort_order=&page=&page_size=:
 * newest first (or oldest), with the total. The next page's cursor is in `X-Next-Cursor` (pass it
 * back as `cursor`); `X-Total-Exact: false` when a time range or search could not be counted to its end.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const q = parseQuery(ListEvaluationsQuery, event);
  const search = q.search ? q.search.toLowerCase() : undefined;
  const page = await listEvaluations(
    evaluationDeps(),
    tenant,
    {
      traceId: q.trace_id,
      judgeId: q.judge_id,
      outcome: q.outcome,
      since: q.time_range ? sinceOf(q.time_range, Date.now()) : undefined,
      search: search || undefined,
      sortOrder: q.sort_order,
      cursor: q.cursor,
    },
    { page: q.page, pageSize: q.page_size },
  );
  const headers: Record<string, string> = {};
  if (page.nextCursor) {
    headers['x-next-cursor'] = page.nextCursor;
    headers['access-control-expose-headers'] = 'x-next-cursor, x-total-exact';
  }
  if (page.totalExact === false) headers['x-total-exact'] = 'false';
  return json(200, { trace_evaluations: page.items.map(evaluationJson), count: page.items.length, total: page.total }, headers);
});
