import { experimentStats } from '../domain/parea/experiments.js';
import { httpHandler, pathParam, tenantOf } from '../shared/http.js';
import { statsAnswer } from '../shared/parea-http.js';
import { experimentDeps } from '../shared/services.js';

/** GET /api/parea/v1/experiment/{experimentUuid}/stats: the pinned stats (computed from its trees until it finishes). */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const uuid = pathParam(event, 'experimentUuid');
  return statsAnswer(event, await experimentStats(experimentDeps(), tenant, uuid));
});
