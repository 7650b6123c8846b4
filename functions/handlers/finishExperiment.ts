import { finishExperiment, FinishExperimentBody } from '../domain/parea/experiments.js';
import { httpHandler, parseJsonBody, pathParam, tenantOf } from '../shared/http.js';
import { statsAnswer } from '../shared/parea-http.js';
import { experimentDeps } from '../shared/services.js';

/** POST /api/parea/v1/experiment/{experimentUuid}/finished `{status, dataset_level_stats}`: computes, pins and answers its stats. */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const uuid = pathParam(event, 'experimentUuid');
  const body = parseJsonBody(FinishExperimentBody, event);
  return statsAnswer(event, await finishExperiment(experimentDeps(), tenant, uuid, body));
});
