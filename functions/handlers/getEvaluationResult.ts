import { getEvaluation, resultJson } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, pathParam, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';

/** GET .../trace-evaluations/{evaluationId}/results: the judge's result (TraceEvaluationResult), or 404 while there is none. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const id = pathParam(event, 'evaluationId');
  const evaluation = id.length <= 256 ? await getEvaluation(evaluationDeps(), tenant, id) : null;
  if (!evaluation) throw new HttpError(404, 'not_found', `no evaluation ${id} in this project`);
  const result = resultJson(evaluation);
  if (result === null) throw new HttpError(404, 'not_found', `evaluation ${id} has no result yet (status ${evaluation.status})`);
  return json(200, result);
});
