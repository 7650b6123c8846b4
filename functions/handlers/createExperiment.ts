import { CreateExperimentBody, createExperiment } from '../domain/parea/experiments.js';
import { experimentJson } from '../shared/parea-http.js';
import { httpHandler, json, parseJsonBody, tenantOf } from '../shared/http.js';
import { experimentDeps } from '../shared/services.js';

/** POST /api/parea/v1/experiment `{name, run_name, metadata?, project_uuid?}`: the new experiment (running), with its `uuid`. */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const body = parseJsonBody(CreateExperimentBody, event);
  const experiment = await createExperiment(experimentDeps(), tenant, body);
  return json(200, experimentJson(tenant, experiment));
});
