import type { Evaluation } from '../domain/evaluations.js';

/** The 404 of the evaluation routes, for an unknown evaluation id (or one too long to be one). */
export const evaluationNotFound = (id: string): string => `no evaluation ${id} in this project`;

/**
 * The wire shape of an evaluation's result (the Stratix client's TraceEvaluationResult, every
 * field it requires present: 0 or "" where the judge did not say), or null while it has none.
 */
export function resultJson(e: Evaluation) {
  if (e.status !== 'success' || e.passed === null) return null;
  const r = e.result ?? null;
  return {
    id: `${e.id}-result`,
    trace_evaluation_id: e.id,
    trace_id: e.traceId,
    judge_id: e.judgeId,
    score: e.score ?? (e.passed ? 1 : 0),
    passed: e.passed,
    reasoning: e.reasoning ?? '',
    steps: r?.steps ?? [],
    model: r?.model ?? '',
    turns: r?.turns ?? 0,
    latency_ms: r?.latencyMs ?? 0,
    prompt_tokens: r?.promptTokens ?? 0,
    completion_tokens: r?.completionTokens ?? 0,
    total_cost: r?.totalCost ?? 0,
    created_at: r?.createdAt ?? e.createdAt,
  };
}
