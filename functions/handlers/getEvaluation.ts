import { evaluationJson, getEvaluation } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, pathId, projectScope } from '../shared/http.js';
import { evaluationNotFound } from '../shared/evaluation-http.js';
import { evaluationDeps } from '../shared/services.js';

/** GET .../trace-evaluations/{evaluationId}: one evaluation of the caller's project, or 404. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const id = pathId(event, 'evaluationId', evaluationNotFound);
  const evaluation = await getEvaluation(evaluationDeps(), tenant, id);
  if (!evaluation) throw new HttpError(404, 'not_found', evaluationNotFound(id));
  return json(200, evaluationJson(evaluation));
});
