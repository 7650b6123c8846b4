import { getEvaluation } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, pathId, projectScope } from '../shared/http.js';
import { evaluationNotFound, resultJson } from '../shared/evaluation-http.js';
import { evaluationDeps } from '../shared/services.js';

/** GET .../trace-evaluations/{evaluationId}/results: the judge's result (TraceEvaluationResult), or 404 while there is none. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const id = pathId(event, 'evaluationId', evaluationNotFound);
  const evaluation = await getEvaluation(evaluationDeps(), tenant, id);
  if (!evaluation) throw new HttpError(404, 'not_found', evaluationNotFound(id));
  const result = resultJson(evaluation);
  if (result === null) throw new HttpError(404, 'not_found', `evaluation ${id} has no result yet (status ${evaluation.status})`);
  return json(200, result);
});
