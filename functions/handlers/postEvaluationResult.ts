import { evaluationJson, postEvaluationResult } from '../domain/evaluations.js';
import { httpHandler, json, parseJsonBody, pathId, projectScope } from '../shared/http.js';
import { evaluationNotFound, resultJson } from '../shared/evaluation-http.js';
import { EvaluationResultBody } from '../shared/requests.js';
import { evaluationDeps } from '../shared/services.js';

/**
 * POST .../trace-evaluations/{evaluationId}/results: the judge's verdict for a pending evaluation
 * (it becomes `success`; the trace's status and the filters follow). Answers the result (201).
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const body = parseJsonBody(EvaluationResultBody, event);
  const id = pathId(event, 'evaluationId', evaluationNotFound);
  const e = await postEvaluationResult(evaluationDeps(), tenant, id, {
    passed: body.passed,
    score: body.score,
    reasoning: body.reasoning,
    model: body.model,
    steps: body.steps?.map((s) => ({ tool: s.tool, args: s.args, result: s.result })),
    turns: body.turns,
    latencyMs: body.latency_ms,
    promptTokens: body.prompt_tokens,
    completionTokens: body.completion_tokens,
    totalCost: body.total_cost,
  });
  return json(201, { ...resultJson(e), trace_evaluation: evaluationJson(e) });
});
