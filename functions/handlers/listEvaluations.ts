import { evaluationJson, listEvaluations } from '../domain/evaluations.js';
import { httpHandler, json, parseQuery, projectScope } from '../shared/http.js';
import { ListEvaluationsQuery } from '../shared/requests.js';
import { evaluationDeps } from '../shared/services.js';

/** GET .../trace-evaluations?trace_id=&judge_id=&page=&page_size=: newest first, with the total. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const q = parseQuery(ListEvaluationsQuery, event);
  const { items, total } = await listEvaluations(evaluationDeps(), tenant, { traceId: q.trace_id, judgeId: q.judge_id }, { page: q.page, pageSize: q.page_size });
  return json(200, { trace_evaluations: items.map(evaluationJson), count: items.length, total });
});
