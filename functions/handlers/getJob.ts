import { jobAnswer } from '../domain/jobs.js';
import { httpHandler, HttpError, json, pathParam, projectScope } from '../shared/http.js';
import { jobDeps } from '../shared/services.js';

/** GET .../exports/{jobId} and GET .../deletions/{jobId}: the job's status and counts; a completed export's download URL (valid an hour). */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const jobId = pathParam(event, 'jobId');
  const action = event.routeKey.endsWith('/exports/{jobId}') ? 'export' : 'delete';
  const deps = jobDeps();
  const job = await deps.jobs.get(tenant, jobId);
  if (job === null || job.action !== action)
    throw new HttpError(404, 'not_found', `no ${action === 'export' ? 'export' : 'deletion'} ${jobId} in this project`);
  return json(200, await jobAnswer(deps, job, event.rawPath.replace(/\/(exports|deletions)\/[^/]+$/, '')));
});
