export {
  TraceIngestClient,
  listQuery,
  parseFilterExpression,
  type CreateEvaluationInput,
  type JobProgress,
  type JobTarget,
  type EvaluationFilters,
  type EvaluationResultInput,
  type Tenant,
  type TraceFilters,
  type TraceIngestClientOptions,
  type TraceLogFilterInput,
  type TraceLogUpdate,
  type UploadOptions,
  type UploadProgress,
  type UploadResult,
} from './client.js';
export { TraceIngestError } from './errors.js';
export { findLocalStackFile, resolveConfig, normalizeBaseUrl } from './config.js';
export { DEFAULT_RETRY, type FetchLike, type RetryPolicy } from './http.js';
export type {
  JobAnswer,
  Evaluation,
  EvaluationList,
  EvaluationResult,
  Experiment,
  ExperimentStats,
  LineError,
  Trace,
  TraceList,
  TraceLogTree,
  UploadStatus,
} from './schemas.js';
