/**
 * The one route table. The CDK HTTP API and the local server are both built
 * from it, so they cannot drift apart. Paths use API Gateway's `{param}`
 * syntax; `handler` names the entry file `functions/handlers/<handler>.ts`,
 * which exports `handler` (an API Gateway HTTP API payload v2 handler).
 * This file is plain data: the CDK app imports it without loading handlers.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `apiKey`: the request must pass the API-key authorizer (functions/handlers/authorizer.ts). */
export type RouteAuth = 'apiKey' | 'none';

export interface RouteDef {
  readonly method: HttpMethod;
  readonly path: string;
  readonly handler: string;
  readonly auth: RouteAuth;
}

const PROJECT = '/api/v1/organizations/{organizationId}/projects/{projectId}';
const PAREA = '/api/parea/v1';

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/api/v1/organizations', handler: 'organizations', auth: 'apiKey' },
  { method: 'POST', path: `${PROJECT}/traces/upload`, handler: 'presignUpload', auth: 'apiKey' },
  { method: 'POST', path: `${PROJECT}/traces`, handler: 'createTraces', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/traces`, handler: 'listTraces', auth: 'apiKey' },
  // A static segment wins over a parameter (API Gateway and the local server agree): /traces/sources is never a trace id.
  { method: 'GET', path: `${PROJECT}/traces/sources`, handler: 'listSources', auth: 'apiKey' },
  // Export: the list's matches as JSON Lines, page by page (an anchored cursor); /traces/export is never a trace id either.
  { method: 'GET', path: `${PROJECT}/traces/export`, handler: 'exportTraces', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/traces/{traceId}`, handler: 'getTrace', auth: 'apiKey' },
  { method: 'DELETE', path: `${PROJECT}/traces/{traceId}`, handler: 'deleteTrace', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/uploads/{uploadId}`, handler: 'getUpload', auth: 'apiKey' },
  { method: 'POST', path: `${PROJECT}/trace-evaluations`, handler: 'createEvaluation', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/trace-evaluations`, handler: 'listEvaluations', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/trace-evaluations/{evaluationId}`, handler: 'getEvaluation', auth: 'apiKey' },
  // The project's numbers per hour or day (the viewer's charts), from counters the ingest keeps.
  { method: 'GET', path: `${PROJECT}/stats`, handler: 'getStats', auth: 'apiKey' },
  // Export and delete by filter as jobs (functions/domain/jobs.ts): start one, then poll it; an experiment's spans as JSON Lines.
  { method: 'POST', path: `${PROJECT}/exports`, handler: 'createJob', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/exports/{jobId}`, handler: 'getJob', auth: 'apiKey' },
  { method: 'POST', path: `${PROJECT}/deletions`, handler: 'createJob', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/deletions/{jobId}`, handler: 'getJob', auth: 'apiKey' },
  { method: 'GET', path: `${PROJECT}/experiments/{experimentUuid}/export`, handler: 'exportSpans', auth: 'apiKey' },

  // Experiment trace logs, wire-compatible with Parea's SDKs (../shared/spec/parea-trace-logs-api.md).
  { method: 'POST', path: `${PAREA}/project`, handler: 'pareaProject', auth: 'apiKey' },
  { method: 'POST', path: `${PAREA}/trace_log`, handler: 'recordTraceLog', auth: 'apiKey' },
  { method: 'PUT', path: `${PAREA}/trace_log`, handler: 'updateTraceLog', auth: 'apiKey' },
  { method: 'GET', path: `${PAREA}/trace_log/{traceId}`, handler: 'getTraceLog', auth: 'apiKey' },
  { method: 'POST', path: `${PAREA}/experiment/{experimentUuid}/trace_logs`, handler: 'experimentTraceLogs', auth: 'apiKey' },

  // OpenTelemetry: OTLP/HTTP trace export, so OTEL_EXPORTER_OTLP_ENDPOINT=<api>/otel works with the stock exporters.
  { method: 'POST', path: '/otel/v1/traces', handler: 'otlpTraces', auth: 'apiKey' },
];

/** Lambda entry files that are not HTTP routes. */
export const workerHandlers = {
  /** SQS consumer of the bucket's object-created notifications. */
  ingest: 'ingest',
  /** API Gateway HTTP API Lambda REQUEST authorizer (simple responses). */
  authorizer: 'authorizer',
  /** Scheduled (EventBridge, daily): deletes the traces older than RETENTION_DAYS. */
  retentionSweep: 'retentionSweep',
  /** SQS consumer of the job queue: one step of an export or a delete-by-filter job per message. */
  jobWorker: 'jobWorker',
} as const;

/** Where the S3 object-created notifications come from. */
export { INGEST_PREFIXES } from './domain/layout.js';
