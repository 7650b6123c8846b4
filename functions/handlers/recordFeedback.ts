import { recordFeedback } from '../domain/trace-logs.js';
import { traceLogWriteHandler } from '../shared/trace-log-http.js';

/** POST /api/parea/v1/feedback `{score, trace_id, name?, target?, comment?}`: the span's feedback_score. Answers `{}`. */
export const handler = traceLogWriteHandler(recordFeedback);
