import * as z from 'zod';
import { evaluationJson, listEvaluations } from '../domain/evaluations.js';
import { httpHandler, json, parseQuery, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';

const CAMEL_CASE: Record<string, string> = { traceId: 'trace_id', judgeId: 'judge_id', pageSize: 'page_size' };

/** Both spellings are accepted (the snake_case one wins); empty values count as absent. */
function normalize(query: unknown): unknown {
  if (query === null || typeof query !== 'object') return query;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    if (v === '' || v === undefined) continue;
    const name = CAMEL_CASE[k] ?? k;
    if (name !== k && name in query && (query as Record<string, unknown>)[name] !== '') continue;
    out[name] = v;
  }
  return out;
}

export const ListEvaluationsQuery = z.preprocess(
  normalize,
  z.object({
    trace_id: z.string().max(256).optional(),
    judge_id: z.string().max(256).optional(),
    page: z.coerce.number().int().min(1).default(1),
    page_size: z.coerce.number().int().min(1).max(500).default(100),
  }),
);

/** GET .../trace-evaluations?trace_id=&judge_id=&page=&page_size=: newest first, with the total. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const q = parseQuery(ListEvaluationsQuery, event);
  const { items, total } = await listEvaluations(evaluationDeps(), tenant, { traceId: q.trace_id, judgeId: q.judge_id }, { page: q.page, pageSize: q.page_size });
  return json(200, { trace_evaluations: items.map(evaluationJson), count: items.length, total });
});
