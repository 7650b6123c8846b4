import { HttpError, httpHandler, projectScope } from '../shared/http.js';

/** What each catalogue path is, for the message. */
const WHAT: ReadonlyArray<[RegExp, string]> = [
  [/\/judges(\/|$)/, 'judges'],
  [/\/custom-models(\/|$)/, 'custom models'],
  [/\/models(\/|$)/, 'models'],
  [/\/trace-evaluations\/estimate$/, 'judge cost estimates'],
  [/\/projects\/[^/]+$/, "a project's model list"],
];

/**
 * The Stratix routes of its LLM evaluator catalogue (judges, models, cost estimates), which
 * trace-ingest does not serve: after the same tenant check as every project route, a clear 404
 * `not_implemented` naming what is not served, never "no route".
 */
export const handler = httpHandler(async (event) => {
  projectScope(event);
  const path = event.rawPath ?? '';
  const what = WHAT.find(([re]) => re.test(path))?.[1] ?? 'this resource';
  throw new HttpError(
    404,
    'not_implemented',
    `${what} (the Stratix LLM evaluator catalogue) are not served by trace-ingest: ${event.requestContext.http?.method ?? ''} ${path} is not implemented. Judges are named by id only: record an evaluation with POST .../trace-evaluations {trace_id, judge_id} and its verdict with POST .../trace-evaluations/{id}/results.`,
  );
});
