import { recordTraceLog } from '../domain/trace-logs.js';
import { traceLogWriteHandler } from '../shared/trace-log-http.js';

/** POST /api/parea/v1/trace_log: one TraceLog (a span) into the key's project. Answers `{}`. */
export const handler = traceLogWriteHandler(recordTraceLog);
