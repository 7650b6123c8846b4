import { createEvaluation, evaluationJson } from '../domain/evaluations.js';
import { httpHandler, json, parseJsonBody, projectScope } from '../shared/http.js';
import { CreateEvaluationBody } from '../shared/requests.js';
import { evaluationDeps } from '../shared/services.js';

/**
 * POST .../trace-evaluations: records a judge's evaluation of a trace of the
 * caller's project. Without `passed` it is pending; with it, finished.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const body = parseJsonBody(CreateEvaluationBody, event);
  const evaluation = await createEvaluation(evaluationDeps(), tenant, {
    traceId: body.trace_id,
    judgeId: body.judge_id,
    judgeName: body.judge_name,
    judgeVersion: body.judge_version,
    passed: body.passed,
    score: body.score,
    reasoning: body.reasoning,
  });
  return json(201, evaluationJson(evaluation));
});
