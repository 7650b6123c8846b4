import * as z from 'zod';
import { evaluationJson, listEvaluations } from '../domain/evaluations.js';
import { CursorError, ListQuerySchema, sinceOf } from '../domain/list-query.js';
import { HttpError, httpHandler, json, parseQuery, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';

const CAMEL_CASE: Record<string, string> = { traceId: 'trace_id', judgeId: 'judge_id', pageSize: 'page_size', timeRange: 'time_range', sortBy: 'sort_by', sortOrder: 'sort_order' };

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
    outcome: z.enum(['pass', 'fail', 'pending'], { error: 'must be one of pass, fail, pending' }).optional(),
    time_range: ListQuerySchema.shape.time_range,
    search: z.string().trim().max(256, 'must be at most 256 characters').optional(),
    sort_by: z.enum(['created_at'], { error: 'must be created_at' }).optional(),
    sort_order: z.enum(['asc', 'desc'], { error: 'must be one of asc, desc' }).optional(),
    cursor: z.string().min(1).max(4096).optional(),
    page: z.coerce.number().int().min(1).default(1),
    page_size: z.coerce.number().int().min(1).max(500).default(100),
  }),
);

/**
 * GET .../trace-evaluations?trace_id=&judge_id=&outcome=&time_range=&search=&sort_by=&sort_order=&page=&page_size=:
 * newest first (or oldest), with the total. The next page's cursor is in `X-Next-Cursor` (pass it
 * back as `cursor`); `X-Total-Exact: false` when a time range or search could not be counted to its end.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const q = parseQuery(ListEvaluationsQuery, event);
  const search = q.search ? q.search.toLowerCase() : undefined;
  let page;
  try {
    page = await listEvaluations(
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
  } catch (err) {
    if (err instanceof CursorError) throw new HttpError(400, 'invalid_cursor', err.message);
    throw err;
  }
  const headers: Record<string, string> = {};
  if (page.nextCursor) {
    headers['x-next-cursor'] = page.nextCursor;
    headers['access-control-expose-headers'] = 'x-next-cursor, x-total-exact';
  }
  if (page.totalExact === false) headers['x-total-exact'] = 'false';
  return json(200, { trace_evaluations: page.items.map(evaluationJson), count: page.items.length, total: page.total }, headers);
});
