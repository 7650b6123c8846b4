import { recordLangchainRun } from '../domain/parea/index.js';
import { traceLogWriteHandler } from '../shared/parea-http.js';

/** POST /api/parea/v1/trace_log/langchain: a LangChain run tree (the SDKs' tracer), each run stored as a span. Answers `{}`. */
export const handler = traceLogWriteHandler(recordLangchainRun, { maxBodyBytes: 5 * 1024 * 1024 });
