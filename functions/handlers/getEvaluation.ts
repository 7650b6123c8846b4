import { evaluationJson, getEvaluation } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, pathParam, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';

/** GET .../trace-evaluations/{evaluationId}: one evaluation of the caller's project, or 404. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const id = pathParam(event, 'evaluationId');
  const evaluation = id.length <= 256 ? await getEvaluation(evaluationDeps(), tenant, id) : null;
  if (!evaluation) throw new HttpError(404, 'not_found', `no evaluation ${id} in this project`);
  return json(200, evaluationJson(evaluation));
});
