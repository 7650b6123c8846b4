import { recordFeedback } from '../domain/parea/index.js';
import { traceLogWriteHandler } from '../shared/parea-http.js';

/** POST /api/parea/v1/feedback `{score, trace_id, name?, target?, comment?}`: the span's feedback_score. Answers `{}`. */
export const handler = traceLogWriteHandler(recordFeedback);
