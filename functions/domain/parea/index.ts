/**
 * Trace logs, the Parea capability (its wire format, as its SDKs call it), all in this folder:
 *
 * - span.ts, tree.ts, filter.ts, operators.ts, langchain.ts: the pure core (a span, its trees, the
 *   filter, LangChain runs);
 * - ports.ts: the span store and the root index the use cases are given (adapters implement them);
 * - limits.ts: what the use cases refuse (TraceLogError), and by which limits;
 * - write.ts: POST and PUT /trace_log, /feedback, /trace_log/langchain, and the spans of files;
 * - read.ts: GET /trace_log/{id} and an experiment's trees (POST /experiment/{uuid}/trace_logs);
 * - list.ts: POST /get_trace_logs, from the root index (roots.ts: what it keeps of a root);
 * - experiments.ts: the experiments (create, list, finish, stats) over the same spans.
 *
 * The HTTP side (JSON answers, gzip, fitting into a Lambda's answer) is functions/shared/parea-http.ts.
 */
export * from './span.js';
export * from './tree.js';
export * from './filter.js';
export * from './langchain.js';
export type * from './ports.js';
export * from './limits.js';
export * from './roots.js';
export * from './write.js';
export * from './read.js';
export * from './list.js';
export * from './experiments.js';
