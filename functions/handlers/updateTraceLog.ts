import { updateTraceLog } from '../domain/parea/index.js';
import { traceLogWriteHandler } from '../shared/parea-http.js';

/**
 * PUT /api/parea/v1/trace_log `{trace_id, root_trace_id, field_name_to_value_map}`: late fields
 * (output, scores, end time...) of a span. Kept until the span is posted when it comes first. Answers `{}`.
 */
export const handler = traceLogWriteHandler(updateTraceLog);
