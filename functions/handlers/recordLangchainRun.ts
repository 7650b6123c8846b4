import { recordLangchainRun } from '../domain/trace-logs.js';
import { traceLogWriteHandler } from '../shared/trace-log-http.js';

/** POST /api/parea/v1/trace_log/langchain: a LangChain run tree (the SDKs' tracer), each run stored as a span. Answers `{}`. */
export const handler = traceLogWriteHandler(recordLangchainRun, { maxBodyBytes: 5 * 1024 * 1024 });
