import { recordTraceLog } from '../domain/parea/index.js';
import { traceLogWriteHandler } from '../shared/parea-http.js';

/** POST /api/parea/v1/trace_log: one TraceLog (a span) into the key's project. Answers `{}`. */
export const handler = traceLogWriteHandler(recordTraceLog);
