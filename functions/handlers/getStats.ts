import { projectStats, StatsQuerySchema } from '../domain/stats.js';
import { httpHandler, json, parseQuery, projectScope } from '../shared/http.js';
import { statsStore } from '../shared/services.js';

/**
 * GET .../stats?time_range=24h|7d|…&interval=hour|day (or from=&to=): the project's traces, bad
 * lines, spans, latency p50/p95, tokens and cost per hour or day (UTC), from the hourly counters.
 * At most 31 days per request; a read costs the window, never the project's size.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const query = parseQuery(StatsQuerySchema, event);
  return json(200, await projectStats(statsStore(), tenant, query));
});
