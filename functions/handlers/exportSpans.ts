import { exportSpansPage } from '../domain/exports.js';
import { httpHandler, parseQuery, pathParam, projectScope } from '../shared/http.js';
import { ExportSpansQuery } from '../shared/requests.js';
import { spanStore } from '../shared/services.js';
import { ndjson } from '../shared/ndjson.js';

/** GET .../experiments/{experimentUuid}/export: the experiment's spans (materialized trace logs) as JSON Lines, with `X-Next-Cursor`. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const experimentUuid = pathParam(event, 'experimentUuid');
  const { cursor } = parseQuery(ExportSpansQuery, event);
  return ndjson(await exportSpansPage(spanStore(), tenant, { experimentUuid, cursor, now: Date.now() }));
});
