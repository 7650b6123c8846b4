import { jobAnswer, startJob, type JobAction, type JobTarget } from '../domain/jobs.js';
import { toListQuery } from '../domain/list-query.js';
import { httpHandler, HttpError, json, parseJsonBody, projectScope } from '../shared/http.js';
import { JobBody } from '../shared/requests.js';
import { searchJobDeps } from '../shared/search-aware-traces.js';

/**
 * POST .../exports and POST .../deletions: starts a job over the traces matching the list's
 * filters (or an experiment's spans) and answers 202 with it; `GET` the `poll` route for its
 * progress (and, for an export, its download URL). `dry_run: true` answers how many match, now.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const action: JobAction = event.routeKey.endsWith('/exports') ? 'export' : 'delete';
  const body = parseJsonBody(JobBody, event);
  const filtered =
    body.source !== undefined ||
    body.judge_id !== undefined ||
    body.status !== undefined ||
    body.time_range !== undefined ||
    (body.search !== undefined && body.search !== '');
  if (body.experiment_uuid !== undefined && filtered)
    throw new HttpError(400, 'invalid_body', 'experiment_uuid: takes no trace filters (source, judge_id, status, time_range, search)');
  if (action === 'delete' && !filtered && body.experiment_uuid === undefined && body.all !== true) {
    throw new HttpError(
      400,
      'invalid_body',
      'name a filter (source, judge_id, status, time_range, search) or an experiment_uuid, or send "all": true to delete every trace of the project',
    );
  }
  let target: JobTarget;
  if (body.experiment_uuid !== undefined) target = { kind: 'spans', experimentUuid: body.experiment_uuid };
  else {
    const q = toListQuery({ ...body, page: 1, page_size: 1, sort_by: 'created_at', sort_order: 'desc' }, Date.now());
    target = {
      kind: 'traces',
      filters: { source: q.source, judgeId: q.judgeId, status: q.status, since: q.since, search: q.search },
      timeRange: body.time_range,
    };
  }
  const deps = searchJobDeps();
  if (body.dry_run) {
    if (target.kind === 'spans') {
      const c = await deps.spans.countExperiment(tenant, target.experimentUuid, Date.now() + 3_000);
      return json(200, { matching: c.count, exact: c.exact });
    }
    const page = await deps.traces.list(tenant, { page: 1, pageSize: 1, sortBy: 'created_at', sortOrder: 'desc', ...target.filters });
    return json(200, { matching: page.totalCount, exact: page.totalExact });
  }
  const job = await startJob(deps, tenant, action, target);
  const answer = await jobAnswer(deps, job, base(event.rawPath));
  return json(202, answer, { location: String(answer.poll) });
});

/** The project path the job routes hang from (`/api/v1/organizations/<org>/projects/<project>`). */
function base(rawPath: string): string {
  return rawPath.replace(/\/(exports|deletions)(\/[^/]*)?$/, '');
}
