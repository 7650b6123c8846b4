import { exportSpansPage, ExportTooLargeError } from '../domain/exports.js';
import { CursorError } from '../domain/list-query.js';
import { httpHandler, HttpError, parseQuery, pathParam, projectScope } from '../shared/http.js';
import { ExportSpansQuery } from '../shared/requests.js';
import { spanStore } from '../shared/services.js';
import { ndjson } from '../shared/ndjson.js';

/** GET .../experiments/{experimentUuid}/export: the experiment's spans (materialized trace logs) as JSON Lines, with `X-Next-Cursor`. */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const experimentUuid = pathParam(event, 'experimentUuid');
  const { cursor } = parseQuery(ExportSpansQuery, event);
  try {
    return ndjson(await exportSpansPage(spanStore(), tenant, { experimentUuid, cursor, now: Date.now() }));
  } catch (err) {
    if (err instanceof CursorError) throw new HttpError(400, 'invalid_cursor', err.message);
    if (err instanceof ExportTooLargeError) throw new HttpError(413, 'export_too_large', err.message);
    throw err;
  }
});
