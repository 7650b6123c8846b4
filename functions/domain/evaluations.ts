/**
 * Judge evaluations of traces (the `trace-evaluations` resource).
 *
 * An evaluation is its own item; the trace keeps a summary of its
 * evaluations (how many, the latest five, the derived pass/fail status and
 * every judge that ever evaluated it), which the trace list filters on. The
 * summary is updated with optimistic concurrency: read it with its version,
 * compute the next one here, and write the evaluation and the next summary in
 * one transaction that holds only if the version is unchanged; a conflict
 * reads again and retries, so concurrent creates never lose one.
 */
import { backoff } from './backoff.js';
import { newId } from './ids.js';
import type { Tenant } from './tenancy.js';
import { DomainError } from './errors.js';

/** `pending`: no verdict yet; `success`: the judge finished (passed true or false). */
export type EvaluationStatus = 'pending' | 'in_progress' | 'success' | 'failure';

export interface Evaluation {
  id: string;
  organizationId: string;
  projectId: string;
  traceId: string;
  judgeId: string;
  judgeName: string;
  judgeVersion: number;
  status: EvaluationStatus;
  passed: boolean | null;
  score: number | null;
  reasoning: string | null;
  createdAt: string;
  /** What the judge reported with its verdict (POST .../results); absent for a verdict given at create. */
  result?: ResultDetails | null;
  /** As stored: the evaluation counters count it (false only for one stored before they existed, until `npm run migrate`). */
  counted?: boolean;
}

/** The judge run's details a posted result carries (the Stratix client's TraceEvaluationResult fields). */
export interface ResultDetails {
  model: string;
  steps: { tool: string; args: Record<string, unknown>; result: string }[];
  turns: number;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  totalCost: number;
  createdAt: string;
}

/** An evaluation's outcome, as the list filters it: its verdict, or pending. */
export type EvaluationOutcome = 'pass' | 'fail' | 'pending';

export function outcomeOf(e: Pick<Evaluation, 'passed'>): EvaluationOutcome {
  return e.passed === true ? 'pass' : e.passed === false ? 'fail' : 'pending';
}

/** One entry of a trace's `last_evaluations`. */
export interface EvaluationSummary {
  evaluationId: string;
  judgeId: string;
  judgeName: string;
  judgeVersion: number;
  createdAt: string;
  /** null while pending. */
  passed: boolean | null;
}

/** A trace's evaluation status, as the trace list filters it (`status=`); absent = never evaluated. */
export type TraceEvalStatus = 'pending' | 'fail' | 'pass';

/** What a trace item says about its evaluations. `version` is 0 for a trace never evaluated. */
export interface TraceEvaluationState {
  count: number;
  last: EvaluationSummary[];
  version: number;
  /** Every judge that ever evaluated it. */
  judgeIds: readonly string[];
  /** The trace's source and its place in the lists (the store's own key): the status and judge indexes list it there. */
  source: string;
  order: string;
}

/** The trace's summary after one more evaluation. */
export interface NextTraceEvaluationState {
  count: number;
  last: EvaluationSummary[];
  status: TraceEvalStatus;
  version: number;
}

export const LAST_EVALUATIONS = 5;

/** `pending` if any of the latest is pending, else `fail` if any failed, else `pass`; null when never evaluated. */
export function deriveEvalStatus(last: readonly Pick<EvaluationSummary, 'passed'>[]): TraceEvalStatus | null {
  if (last.length === 0) return null;
  if (last.some((e) => e.passed === null)) return 'pending';
  if (last.some((e) => e.passed === false)) return 'fail';
  return 'pass';
}

/** Newest first: by creation time, then by id (a stable order for evaluations made in the same millisecond). */
export function compareNewestFirst(
  a: Pick<EvaluationSummary, 'createdAt' | 'evaluationId'>,
  b: Pick<EvaluationSummary, 'createdAt' | 'evaluationId'>,
): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  if (a.evaluationId === b.evaluationId) return 0;
  return a.evaluationId < b.evaluationId ? 1 : -1;
}

/** The latest `max` of the current ones plus the added one, newest first (an evaluation already there is not repeated). */
export function mergeLastEvaluations(
  current: readonly EvaluationSummary[],
  added: EvaluationSummary,
  max = LAST_EVALUATIONS,
): EvaluationSummary[] {
  return [...current.filter((e) => e.evaluationId !== added.evaluationId), added].sort(compareNewestFirst).slice(0, max);
}

export function summaryOf(e: Evaluation): EvaluationSummary {
  return {
    evaluationId: e.id,
    judgeId: e.judgeId,
    judgeName: e.judgeName,
    judgeVersion: e.judgeVersion,
    createdAt: e.createdAt,
    passed: e.passed,
  };
}

export function nextTraceState(current: TraceEvaluationState, added: Evaluation): NextTraceEvaluationState {
  const last = mergeLastEvaluations(current.last, summaryOf(added));
  return { count: current.count + 1, last, status: deriveEvalStatus(last) ?? 'pending', version: current.version + 1 };
}

export type CommitResult = 'committed' | 'conflict' | 'no-trace';

/** The evaluations' storage. Every call is scoped to one organization and project by its key. */
export interface EvaluationStore {
  /** The trace's evaluation summary, read consistently; null when the trace does not exist. */
  readTraceState(tenant: Tenant, traceId: string): Promise<TraceEvaluationState | null>;
  /**
   * Stores the evaluation and the trace's next summary atomically (with what the status and judge
   * filters and their counters keep), only if the trace still exists and its summary is still at
   * `current.version`.
   */
  commit(evaluation: Evaluation, current: TraceEvaluationState, next: NextTraceEvaluationState): Promise<CommitResult>;
  get(tenant: Tenant, evaluationId: string): Promise<Evaluation | null>;
  /**
   * One page, newest first (or oldest with `sortOrder: 'asc'`); `total` counts every match (from
   * counters, or counted while reading: then `totalExact` says whether it is exact); `nextCursor`
   * goes on after the page.
   */
  list(tenant: Tenant, filter: EvaluationFilter, window: { offset: number; limit: number }): Promise<EvaluationPage>;
  /**
   * Stores a pending evaluation's result and the trace's next summary atomically (as `commit`),
   * only if the evaluation is still pending and the trace's summary still at `current.version`.
   */
  complete?(evaluation: Evaluation, current: TraceEvaluationState, next: NextTraceEvaluationState): Promise<CommitResult | 'not-pending'>;
}

export interface EvaluationPage {
  items: Evaluation[];
  total: number;
  totalExact?: boolean;
  nextCursor?: string | null;
}

export interface EvaluationFilter {
  traceId?: string | undefined;
  judgeId?: string | undefined;
  outcome?: EvaluationOutcome | undefined;
  /** Created at or after this instant (ISO 8601). */
  since?: string | undefined;
  /** Lower-cased text looked for in the judge's id and name, the trace id and the reasoning. */
  search?: string | undefined;
  sortOrder?: 'asc' | 'desc' | undefined;
  /** Where the page starts (a cursor the list issued, for this filter); `offset` is then ignored. */
  cursor?: string | undefined;
}

export interface NewEvaluation {
  traceId: string;
  judgeId: string;
  judgeName?: string | undefined;
  judgeVersion?: number | undefined;
  passed?: boolean | undefined;
  score?: number | undefined;
  reasoning?: string | undefined;
}

export interface EvaluationDeps {
  store: EvaluationStore;
  now?: () => Date;
  newId?: () => string;
  /** Waits before retry `attempt` (1-based) after a conflict. */
  backoff?: (attempt: number) => Promise<void>;
  maxAttempts?: number;
}

/** An evaluation of a trace the project does not have. */
export class TraceNotFoundError extends DomainError<'not_found'> {
  constructor(readonly traceId: string) {
    super('not_found', `no trace ${traceId} in this project`);
  }
}

/** Exponential backoff with full jitter, capped at 250 ms: contention on one trace clears in a few rounds. */
const defaultBackoff = (attempt: number) => backoff(attempt, 10, 250);

/** Records an evaluation of a trace of the tenant's project; throws TraceNotFoundError when there is no such trace. */
export async function createEvaluation(deps: EvaluationDeps, tenant: Tenant, input: NewEvaluation): Promise<Evaluation> {
  const passed = input.passed ?? null;
  const evaluation: Evaluation = {
    id: (deps.newId ?? newId)(),
    organizationId: tenant.organizationId,
    projectId: tenant.projectId,
    traceId: input.traceId,
    judgeId: input.judgeId,
    judgeName: input.judgeName ?? input.judgeId,
    judgeVersion: input.judgeVersion ?? 1,
    status: passed === null ? 'pending' : 'success',
    passed,
    score: input.score ?? null,
    reasoning: input.reasoning ?? null,
    createdAt: (deps.now ?? (() => new Date()))().toISOString(),
  };
  const maxAttempts = deps.maxAttempts ?? 50;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (attempt > 0) await (deps.backoff ?? defaultBackoff)(attempt);
    const current = await deps.store.readTraceState(tenant, input.traceId);
    if (current === null) throw new TraceNotFoundError(input.traceId);
    const result = await deps.store.commit(evaluation, current, nextTraceState(current, evaluation));
    if (result === 'committed') return evaluation;
    if (result === 'no-trace') throw new TraceNotFoundError(input.traceId);
  }
  throw new Error(`could not record the evaluation of trace ${input.traceId}: still conflicting after ${maxAttempts} attempts`);
}

export async function getEvaluation(deps: Pick<EvaluationDeps, 'store'>, tenant: Tenant, evaluationId: string): Promise<Evaluation | null> {
  return deps.store.get(tenant, evaluationId);
}

export async function listEvaluations(
  deps: Pick<EvaluationDeps, 'store'>,
  tenant: Tenant,
  filter: EvaluationFilter,
  page: { page: number; pageSize: number },
): Promise<EvaluationPage> {
  return deps.store.list(tenant, filter, { offset: filter.cursor ? 0 : (page.page - 1) * page.pageSize, limit: page.pageSize });
}

/** A result for an evaluation that is gone, or already has one. */
export class EvaluationStateError extends DomainError<'not_found' | 'conflict'> {}

export interface NewResult {
  passed: boolean;
  score?: number | undefined;
  reasoning?: string | undefined;
  model?: string | undefined;
  steps?: ResultDetails['steps'] | undefined;
  turns?: number | undefined;
  latencyMs?: number | undefined;
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  totalCost?: number | undefined;
}

/**
 * POST .../trace-evaluations/{id}/results: a pending evaluation gets its verdict (status success),
 * and its trace's summary, status filter and counters follow, in one transaction. The same
 * result again is answered as it is (a retry); another result for a finished evaluation is a
 * conflict.
 */
export async function postEvaluationResult(
  deps: EvaluationDeps,
  tenant: Tenant,
  evaluationId: string,
  input: NewResult,
): Promise<Evaluation> {
  const maxAttempts = deps.maxAttempts ?? 50;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (attempt > 0) await (deps.backoff ?? defaultBackoff)(attempt);
    const current = await deps.store.get(tenant, evaluationId);
    if (current === null) throw new EvaluationStateError('not_found', `no evaluation ${evaluationId} in this project`);
    if (current.status !== 'pending' && current.status !== 'in_progress') {
      const same =
        current.passed === input.passed &&
        current.score === (input.score ?? current.score) &&
        current.reasoning === (input.reasoning ?? current.reasoning);
      if (same) return current;
      throw new EvaluationStateError('conflict', `evaluation ${evaluationId} already has its result (status ${current.status})`);
    }
    const done: Evaluation = {
      ...current,
      status: 'success',
      passed: input.passed,
      score: input.score ?? null,
      reasoning: input.reasoning ?? null,
      result: {
        model: input.model ?? '',
        steps: input.steps ?? [],
        turns: input.turns ?? 0,
        latencyMs: input.latencyMs ?? 0,
        promptTokens: input.promptTokens ?? 0,
        completionTokens: input.completionTokens ?? 0,
        totalCost: input.totalCost ?? 0,
        createdAt: (deps.now ?? (() => new Date()))().toISOString(),
      },
    };
    const trace = await deps.store.readTraceState(tenant, current.traceId);
    if (trace === null) throw new EvaluationStateError('not_found', `the trace of evaluation ${evaluationId} is gone`);
    const last = trace.last.map((e) => (e.evaluationId === done.id ? { ...e, passed: done.passed } : e));
    const next: NextTraceEvaluationState = {
      count: trace.count,
      last,
      status: deriveEvalStatus(last) ?? 'pending',
      version: trace.version + 1,
    };
    if (!deps.store.complete) throw new Error('this evaluation store cannot store results');
    const out = await deps.store.complete(done, trace, next);
    if (out === 'committed') return done;
    if (out === 'no-trace') throw new EvaluationStateError('not_found', `the trace of evaluation ${evaluationId} is gone`);
    // 'conflict' or 'not-pending' (another result landed): read again.
  }
  throw new Error(`could not store the result of evaluation ${evaluationId}: still conflicting after ${maxAttempts} attempts`);
}

/** The wire shape of an evaluation. */
export function evaluationJson(e: Evaluation) {
  return {
    id: e.id,
    trace_id: e.traceId,
    judge_id: e.judgeId,
    judge_name: e.judgeName,
    judge_version: e.judgeVersion,
    status: e.status,
    passed: e.passed,
    score: e.score,
    reasoning: e.reasoning,
    created_at: e.createdAt,
    organization_id: e.organizationId,
    project_id: e.projectId,
  };
}
