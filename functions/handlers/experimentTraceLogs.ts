import * as z from 'zod';
import { experimentTraceLogs } from '../domain/trace-logs.js';
import { header, httpHandler, parseJsonBody, parseQuery, pathParam, rawJson, tenantOf, type HttpEvent } from '../shared/http.js';
import { ExperimentLogsQuery } from '../shared/requests.js';
import { traceLogDeps } from '../shared/services.js';

/** True when the request's Accept-Encoding allows gzip (`gzip` or `*`, with a non-zero q). */
export function acceptsGzip(event: Pick<HttpEvent, 'headers'>): boolean {
  const value = header(event.headers, 'accept-encoding');
  if (!value) return false;
  let gzip: boolean | null = null;
  let star = false;
  for (const part of value.split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)).find((m) => m !== null);
    const ok = q ? Number(q[1]) > 0 : true;
    if (coding.trim() === 'gzip') gzip = ok;
    else if (coding.trim() === '*') star = ok;
  }
  return gzip ?? star;
}

/**
 * POST /api/parea/v1/experiment/{experimentUuid}/trace_logs, body: the filter. A JSON array of
 * root TraceLogTrees (a tree is listed when its root or any span in it matches). `limit` and
 * `cursor` page by root trees; a longer answer is cut near 5 MB; either way the next page's
 * cursor is in `X-Next-Cursor`. Gzip when the caller accepts it. Unknown experiment: `[]`.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const experimentUuid = pathParam(event, 'experimentUuid');
  const query = parseQuery(ExperimentLogsQuery, event);
  const filter = parseJsonBody(z.unknown(), event);
  const gzip = acceptsGzip(event);
  const answer = await experimentTraceLogs(traceLogDeps(), tenant, { experimentUuid, filter, limit: query.limit, cursor: query.cursor, gzip });
  const headers: Record<string, string> = { vary: 'accept-encoding' };
  const exposed: string[] = [];
  if (answer.nextCursor !== null) {
    headers['x-next-cursor'] = answer.nextCursor;
    exposed.push('x-next-cursor');
  }
  // With a filter: whether any span read has its field at all, so a caller can tell a misspelt field from no match.
  if (answer.fieldSeen !== null) {
    headers['x-filter-field-seen'] = String(answer.fieldSeen);
    exposed.push('x-filter-field-seen');
  }
  if (exposed.length) headers['access-control-expose-headers'] = exposed.join(', ');
  if (!answer.gzip) return rawJson(200, answer.body as string, headers);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', ...headers },
    body: (answer.body as Buffer).toString('base64'),
    isBase64Encoded: true,
  };
});
