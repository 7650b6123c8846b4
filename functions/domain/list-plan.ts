/**
 * How a trace list is read and counted: the planning rules of GET .../traces (and of the exports'
 * and deletions' ranges), apart from the store that carries them out
 * (functions/adapters/dynamo/trace-store.ts only runs the queries a plan names).
 *
 * Reading: one index answers the filters by key conditions (a judge, else a status, else a source,
 * else every trace), the time range and the cursor being bounds of its sort key, so a page costs
 * the same at any depth; what it cannot answer is tested on each trace read.
 *
 * Counting: a total comes from counters wherever one holds it, never from reading the matches,
 * but for the two queries no counter answers (a search, and a judge with a status).
 */
import type { EvalStatus, ListQuery } from './traces.js';

/** The filters of a list. */
export type ListFilters = Pick<ListQuery, 'source' | 'judgeId' | 'status' | 'search'> & Partial<Pick<ListQuery, 'since'>>;

/** The index whose key conditions answer a list's filters best. */
export type TraceIndexChoice =
  /** The traces a judge evaluated (of one source, with `source`). */
  | { by: 'judge'; judgeId: string; source: string | undefined }
  /** The traces whose evaluation status is pass, fail or pending (of one source). */
  | { by: 'status'; status: Exclude<EvalStatus, 'unevaluated'>; source: string | undefined }
  /** The traces of one source. */
  | { by: 'source'; source: string }
  /** Every trace. */
  | { by: 'all' };

export interface ListReadPlan {
  index: TraceIndexChoice;
  /** `status: unevaluated` under a source or every trace: the index's own filter keeps the traces with no evaluation status. */
  unevaluatedOnly: boolean;
  /** What the index leaves to test on each trace read (none: every entry matches). */
  residual: Pick<ListQuery, 'status' | 'search'>;
}

/** Which index reads a list (in creation order), and what is left to test on the traces it reads. */
export function planListRead(q: ListFilters): ListReadPlan {
  const search = q.search ? q.search : undefined;
  if (q.judgeId)
    return { index: { by: 'judge', judgeId: q.judgeId, source: q.source }, unevaluatedOnly: false, residual: { status: q.status, search } };
  if (q.status && q.status !== 'unevaluated')
    return { index: { by: 'status', status: q.status, source: q.source }, unevaluatedOnly: false, residual: { search } };
  const unevaluatedOnly = q.status === 'unevaluated';
  if (q.source) return { index: { by: 'source', source: q.source }, unevaluatedOnly, residual: { search } };
  return { index: { by: 'all' }, unevaluatedOnly, residual: { search } };
}

/** How a list's total is counted (`source` and `since` narrowing each count). */
export type TotalPlan =
  /** Only the reading counts it: a search (no index counts it), a judge with a status (no counter holds the pair). */
  | { by: 'reading' }
  /** The project's trace counters: all time, or the hourly counters from `since` on. */
  | { by: 'traces' }
  /** The traces a judge evaluated, or those of an evaluation status; `unevaluated`: the traces less the pass, fail and pending ones. */
  | { by: 'judge'; judgeId: string; from: EvaluationCount }
  | { by: 'status'; status: Exclude<EvalStatus, 'unevaluated'>; from: EvaluationCount }
  | { by: 'unevaluated'; from: EvaluationCount };

/**
 * Where an evaluation count comes from: the evaluation counters, which hold all-time totals; with
 * a time range, a count of the judge's or status's index range from `since` (counted on the first
 * page and carried by the cursor: see {@link totalCarriedByCursor}).
 */
export type EvaluationCount = 'evaluation-counters' | 'index-range';

export function planTotal(q: ListFilters): TotalPlan {
  if (q.search !== undefined || (q.judgeId !== undefined && q.status !== undefined)) return { by: 'reading' };
  if (!q.judgeId && !q.status) return { by: 'traces' };
  const from: EvaluationCount = q.since ? 'index-range' : 'evaluation-counters';
  if (q.judgeId) return { by: 'judge', judgeId: q.judgeId, from };
  if (q.status !== 'unevaluated') return { by: 'status', status: q.status!, from };
  return { by: 'unevaluated', from };
}

/** Totals that cost a count of an index range (a judge or a status with a time range): counted on the first page, carried by the cursor. */
export function totalCarriedByCursor(q: ListFilters): boolean {
  return q.since !== undefined && (q.judgeId !== undefined || q.status !== undefined);
}
