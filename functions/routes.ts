/**
 * The one route table. The CDK HTTP API, the local server and the OpenAPI
 * document (GET /api/v1/openapi.json) are all built from it, so they cannot
 * drift apart. Paths use API Gateway's `{param}` syntax; `handler` names the
 * entry file `functions/handlers/<handler>.ts`, which exports `handler` (an
 * API Gateway HTTP API payload v2 handler). Each route also names the zod
 * schemas its handler validates with (query, body) and the one its answer
 * follows (functions/domain/wire.ts), for the document. No handler or AWS
 * code is loaded from here: the CDK app imports it.
 */
import type * as z from 'zod';
import { ListQuerySchema } from './domain/list-query.js';
import { TraceLogFilter } from './domain/parea/filter.js';
import { SpanInput } from './domain/parea/span.js';
import { TraceLogUpdate } from './domain/parea/index.js';
import { CreateTracesRequest, PresignRequest } from './domain/uploads/upload-request.js';
import * as wire from './domain/wire.js';
import {
  CreateEvaluationBody,
  EvaluationResultBody,
  ExperimentLogsQuery,
  ExportSpansQuery,
  ExportTracesQuery,
  JobBody,
  ListEvaluationsQuery,
  ListExperimentsQuery,
  PareaProjectBody,
} from './shared/requests.js';
import { StatsQuerySchema } from './domain/stats.js';
import { CreateExperimentBody, FinishExperimentBody, ListExperimentsBody } from './domain/parea/experiments.js';
import { QueryParamsBody } from './domain/parea/index.js';
import { FeedbackBody } from './domain/parea/index.js';
import { LangchainRunBody } from './domain/parea/langchain.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * `apiKey`: the request must pass the API-key authorizer (functions/handlers/authorizer.ts); a
 * missing or unknown key is the gateway's 403. `apiKeyInRoute`: the route resolves the key itself
 * (the same lookup and cache, functions/shared/api-key-auth.ts) and answers a missing, unknown or
 * revoked key with a 401, which a protocol may require (OTLP/HTTP does) and an authorizer's deny
 * cannot give. `none`: open.
 */
export type RouteAuth = 'apiKey' | 'apiKeyInRoute' | 'none';

export interface RouteAnswer {
  readonly status: 200 | 201 | 202 | 204;
  /** What the answer holds (none for a 204). */
  readonly schema?: z.ZodType;
  readonly description: string;
}

export interface RouteDef {
  readonly method: HttpMethod;
  readonly path: string;
  readonly handler: string;
  readonly auth: RouteAuth;
  /** The document's operationId when one handler serves several routes (else the handler's name). */
  readonly operationId?: string;
  /** One line for the OpenAPI document. */
  readonly summary: string;
  /** The query string, as the handler validates it: an object schema, one parameter per key. */
  readonly query?: z.ZodType;
  /** The JSON body, as the handler validates it. */
  readonly body?: z.ZodType;
  /** The answers it gives when it succeeds (none for a route that only refuses). */
  readonly answers: readonly RouteAnswer[];
}

const PROJECT = '/api/v1/organizations/{organizationId}/projects/{projectId}';
const PAREA = '/api/parea/v1';

/** Routes of Stratix's evaluator catalogue, which is not served: each answers 404 not_implemented (functions/handlers/notImplemented.ts). */
function catalogue(entries: ReadonlyArray<[HttpMethod, string, string, string]>): RouteDef[] {
  return entries.map(([method, path, operationId, what]) => ({
    method,
    path,
    handler: 'notImplemented',
    auth: 'apiKey',
    operationId,
    summary: `Not served: ${what} (the Stratix LLM evaluator catalogue) answer 404 not_implemented`,
    answers: [],
  }));
}

export const routes: readonly RouteDef[] = [
  {
    method: 'GET',
    path: '/health',
    handler: 'health',
    auth: 'none',
    summary: 'Whether the API answers (no key needed)',
    answers: [{ status: 200, schema: wire.HealthAnswer, description: 'up' }],
  },
  {
    method: 'GET',
    path: '/api/v1/openapi.json',
    handler: 'openapi',
    auth: 'none',
    summary: 'This document: OpenAPI 3.1, made from the route table (no key needed)',
    answers: [{ status: 200, schema: wire.OpenApiAnswer, description: 'the OpenAPI document' }],
  },
  {
    method: 'GET',
    path: '/api/v1/organizations',
    handler: 'organizations',
    auth: 'apiKey',
    summary: "The key's organization and its one project",
    answers: [{ status: 200, schema: wire.OrganizationsAnswer, description: 'the organization' }],
  },
  {
    method: 'POST',
    path: `${PROJECT}/traces/upload`,
    handler: 'presignUpload',
    auth: 'apiKey',
    summary: 'A presigned S3 PUT URL for a trace file (valid 15 minutes); PUT the file there with only its Content-Type',
    body: PresignRequest,
    answers: [{ status: 200, schema: wire.PresignAnswer, description: 'where to PUT the file' }],
  },
  {
    method: 'POST',
    path: `${PROJECT}/traces`,
    handler: 'createTraces',
    auth: 'apiKey',
    summary: 'The traces of the latest upload of a file, ingesting it now if the queue has not yet',
    body: CreateTracesRequest,
    answers: [
      { status: 200, schema: wire.CreateTracesAnswer, description: 'ingested' },
      { status: 202, schema: wire.CreateTracesAnswer, description: 'still processing: follow `poll`' },
    ],
  },
  {
    method: 'GET',
    path: `${PROJECT}/traces`,
    handler: 'listTraces',
    auth: 'apiKey',
    summary: 'Traces: filters, search, sort, pages by number or cursor',
    query: ListQuerySchema,
    answers: [{ status: 200, schema: wire.TraceList, description: 'a page of traces' }],
  },
  // A static segment wins over a parameter (API Gateway and the local server agree): /traces/sources is never a trace id.
  {
    method: 'GET',
    path: `${PROJECT}/traces/sources`,
    handler: 'listSources',
    auth: 'apiKey',
    summary: "The project's trace sources",
    answers: [{ status: 200, schema: wire.Sources, description: 'the sources' }],
  },
  // Export: the list's matches as JSON Lines, page by page (an anchored cursor); /traces/export is never a trace id either.
  {
    method: 'GET',
    path: `${PROJECT}/traces/export`,
    handler: 'exportTraces',
    auth: 'apiKey',
    summary:
      "Every trace matching the list's filters as JSON Lines (application/x-ndjson), oldest first, as much as one answer holds; X-Next-Cursor goes on with the same anchored range",
    query: ExportTracesQuery,
    answers: [
      {
        status: 200,
        description:
          'JSON Lines: one trace (as GET .../traces/{traceId} answers it) per line; X-Export-Lines, and X-Next-Cursor while more follow',
      },
    ],
  },
  {
    method: 'GET',
    path: `${PROJECT}/traces/{traceId}`,
    handler: 'getTrace',
    auth: 'apiKey',
    summary: 'One trace, its document whole',
    answers: [{ status: 200, schema: wire.Trace, description: 'the trace' }],
  },
  {
    method: 'DELETE',
    path: `${PROJECT}/traces/{traceId}`,
    handler: 'deleteTrace',
    auth: 'apiKey',
    summary: 'Deletes a trace, its offloaded document and its evaluations',
    answers: [{ status: 204, description: 'deleted' }],
  },
  {
    method: 'GET',
    path: `${PROJECT}/uploads/{uploadId}`,
    handler: 'getUpload',
    auth: 'apiKey',
    summary: "An upload's status and counts (records so far while processing), its bad lines, and its trace ids once completed",
    answers: [{ status: 200, schema: wire.UploadStatus, description: 'the upload' }],
  },
  {
    method: 'POST',
    path: `${PROJECT}/trace-evaluations`,
    handler: 'createEvaluation',
    auth: 'apiKey',
    summary: "Records a judge's evaluation of a trace",
    body: CreateEvaluationBody,
    answers: [{ status: 201, schema: wire.Evaluation, description: 'the evaluation' }],
  },
  {
    method: 'GET',
    path: `${PROJECT}/trace-evaluations`,
    handler: 'listEvaluations',
    auth: 'apiKey',
    summary: 'Evaluations, newest first, by trace or judge',
    query: ListEvaluationsQuery,
    answers: [{ status: 200, schema: wire.EvaluationList, description: 'a page of evaluations' }],
  },
  {
    method: 'GET',
    path: `${PROJECT}/trace-evaluations/{evaluationId}`,
    handler: 'getEvaluation',
    auth: 'apiKey',
    summary: 'One evaluation',
    answers: [{ status: 200, schema: wire.Evaluation, description: 'the evaluation' }],
  },
  // A judge's result (docs/stratix-trace-evaluations-api.md): read by the client, posted by whatever runs the judge.
  {
    method: 'GET',
    path: `${PROJECT}/trace-evaluations/{evaluationId}/results`,
    handler: 'getEvaluationResult',
    auth: 'apiKey',
    summary: "An evaluation's result (the Stratix client's TraceEvaluationResult); 404 while it is pending",
    answers: [{ status: 200, schema: wire.EvaluationResult, description: 'the result' }],
  },
  {
    method: 'POST',
    path: `${PROJECT}/trace-evaluations/{evaluationId}/results`,
    handler: 'postEvaluationResult',
    auth: 'apiKey',
    summary: "Records the judge's verdict of a pending evaluation (it becomes success; the trace's status and the filters follow)",
    body: EvaluationResultBody,
    answers: [{ status: 201, schema: wire.EvaluationResult, description: 'the result, and the evaluation as trace_evaluation' }],
  },
  // Stratix's LLM evaluator catalogue (judges, models, cost estimates) is not served: one handler answers a 404 not_implemented naming it.
  ...catalogue([
    ['POST', `${PROJECT}/trace-evaluations/estimate`, 'estimateTraceEvaluation', 'judge cost estimates'],
    ['GET', `${PROJECT}/judges`, 'listJudges', 'judges'],
    ['POST', `${PROJECT}/judges`, 'createJudge', 'judges'],
    ['GET', `${PROJECT}/judges/{judgeId}`, 'getJudge', 'judges'],
    ['PATCH', `${PROJECT}/judges/{judgeId}`, 'updateJudge', 'judges'],
    ['DELETE', `${PROJECT}/judges/{judgeId}`, 'deleteJudge', 'judges'],
    ['GET', `${PROJECT}/models`, 'listModels', 'models'],
    ['GET', `${PROJECT}/models/{modelId}`, 'getModel', 'models'],
    ['PATCH', PROJECT, 'updateProjectModels', "a project's model list"],
    ['POST', `${PROJECT}/custom-models`, 'createCustomModel', 'custom models'],
    ['PATCH', `${PROJECT}/custom-models/{modelId}`, 'updateCustomModel', 'custom models'],
    ['DELETE', `${PROJECT}/custom-models/{modelId}`, 'deleteCustomModel', 'custom models'],
  ]),

  // The project's numbers per hour or day (the viewer's charts), from counters the ingest keeps.
  {
    method: 'GET',
    path: `${PROJECT}/stats`,
    handler: 'getStats',
    auth: 'apiKey',
    summary: "The project's traces, bad lines, spans, latency p50/p95, tokens and cost per hour or day, from counters",
    query: StatsQuerySchema,
    answers: [{ status: 200, description: 'the figures per hour or day, and their totals' }],
  },

  // Export and delete by filter as jobs (functions/domain/jobs.ts): start one, then poll it; an experiment's spans as JSON Lines.
  {
    method: 'POST',
    path: `${PROJECT}/exports`,
    handler: 'createJob',
    operationId: 'createExport',
    auth: 'apiKey',
    summary:
      "Starts an export job: the traces matching the list's filters (or an experiment's spans) as JSON Lines in S3; dry_run only counts",
    body: JobBody,
    answers: [
      { status: 202, schema: wire.JobAnswer, description: 'the job: follow `poll` (Location)' },
      { status: 200, schema: wire.MatchCount, description: 'dry_run: how many match now' },
    ],
  },
  {
    method: 'GET',
    path: `${PROJECT}/exports/{jobId}`,
    handler: 'getJob',
    operationId: 'getExport',
    auth: 'apiKey',
    summary: "An export job's status and counts; once completed, its download URL (valid an hour)",
    answers: [{ status: 200, schema: wire.JobAnswer, description: 'the job' }],
  },
  {
    method: 'POST',
    path: `${PROJECT}/deletions`,
    handler: 'createJob',
    operationId: 'createDeletion',
    auth: 'apiKey',
    summary:
      "Starts a deletion job: every trace matching the list's filters (or an experiment's spans), each as a single delete would; a filter, an experiment_uuid or all: true is required; dry_run only counts",
    body: JobBody,
    answers: [
      { status: 202, schema: wire.JobAnswer, description: 'the job: follow `poll` (Location)' },
      { status: 200, schema: wire.MatchCount, description: 'dry_run: how many match now' },
    ],
  },
  {
    method: 'GET',
    path: `${PROJECT}/deletions/{jobId}`,
    handler: 'getJob',
    operationId: 'getDeletion',
    auth: 'apiKey',
    summary: "A deletion job's status and counts",
    answers: [{ status: 200, schema: wire.JobAnswer, description: 'the job' }],
  },
  {
    method: 'GET',
    path: `${PROJECT}/experiments/{experimentUuid}/export`,
    handler: 'exportSpans',
    auth: 'apiKey',
    summary: "An experiment's spans (materialized trace logs) as JSON Lines, as much as one answer holds; X-Next-Cursor for the rest",
    query: ExportSpansQuery,
    answers: [{ status: 200, description: 'JSON Lines: one span per line; X-Export-Lines, and X-Next-Cursor while more follow' }],
  },

  // Experiment trace logs, wire-compatible with Parea's SDKs (Parea's trace-log API as parea-sdk-ts and parea-sdk-py call it).
  {
    method: 'POST',
    path: `${PAREA}/project`,
    handler: 'pareaProject',
    auth: 'apiKey',
    summary: "Gets or creates a project of that name in the key's organization",
    body: PareaProjectBody,
    answers: [{ status: 200, schema: wire.PareaProjectAnswer, description: 'the project' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/trace_log`,
    handler: 'recordTraceLog',
    auth: 'apiKey',
    summary: 'Records one span (a Parea TraceLog)',
    body: SpanInput,
    answers: [{ status: 200, schema: wire.EmptyObject, description: 'recorded' }],
  },
  {
    method: 'PUT',
    path: `${PAREA}/trace_log`,
    handler: 'updateTraceLog',
    auth: 'apiKey',
    summary: 'Merges fields into a span (scores by name, metadata by key)',
    body: TraceLogUpdate,
    answers: [{ status: 200, schema: wire.EmptyObject, description: 'merged' }],
  },
  {
    method: 'GET',
    path: `${PAREA}/trace_log/{traceId}`,
    handler: 'getTraceLog',
    auth: 'apiKey',
    summary: "A span's TraceLogTree, descendants nested",
    answers: [{ status: 200, schema: wire.TraceLogNode, description: 'the tree' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/experiment/{experimentUuid}/trace_logs`,
    handler: 'experimentTraceLogs',
    auth: 'apiKey',
    summary: "An experiment's root TraceLogTrees matching the filter; the next page's cursor in X-Next-Cursor",
    query: ExperimentLogsQuery,
    body: TraceLogFilter,
    answers: [{ status: 200, schema: wire.TraceLogForest, description: 'the trees' }],
  },
  // Experiments, feedback, listing and LangChain runs (docs/parea-experiments-api.md).
  {
    method: 'POST',
    path: `${PAREA}/experiment`,
    handler: 'createExperiment',
    auth: 'apiKey',
    summary: "Creates an experiment (running) in the key's project; a retried create of the same running one answers it again",
    body: CreateExperimentBody,
    answers: [{ status: 200, schema: wire.Experiment, description: 'the experiment, with its uuid' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/experiment/{experimentUuid}/finished`,
    handler: 'finishExperiment',
    auth: 'apiKey',
    summary: 'Marks an experiment finished; computes, pins and answers its stats (gzip when accepted)',
    body: FinishExperimentBody,
    answers: [{ status: 200, schema: wire.ExperimentStats, description: 'its stats' }],
  },
  {
    method: 'GET',
    path: `${PAREA}/experiment/{experimentUuid}/stats`,
    handler: 'experimentStats',
    auth: 'apiKey',
    summary: "An experiment's stats: pinned once finished, computed from its trees until then (gzip when accepted)",
    answers: [{ status: 200, schema: wire.ExperimentStats, description: 'its stats' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/experiments`,
    handler: 'listExperiments',
    auth: 'apiKey',
    summary: "The project's experiments with their pinned stats, newest first; the next page's cursor in X-Next-Cursor",
    query: ListExperimentsQuery,
    body: ListExperimentsBody,
    answers: [{ status: 200, schema: wire.ExperimentList, description: 'the experiments' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/feedback`,
    handler: 'recordFeedback',
    auth: 'apiKey',
    summary: 'A score on a span: its feedback_score (filterable); name and comment kept in its metadata',
    body: FeedbackBody,
    answers: [{ status: 200, schema: wire.EmptyObject, description: 'recorded' }],
  },
  {
    method: 'POST',
    path: `${PAREA}/get_trace_logs`,
    handler: 'getTraceLogs',
    auth: 'apiKey',
    summary:
      "One page of the project's root trees (the SDKs' QueryParams: filter, time range, status, page, sort), from the root index (gzip when accepted)",
    body: QueryParamsBody,
    answers: [{ status: 200, schema: wire.TraceLogPage, description: 'a page of trees' }],
  },
  // The SDKs' LangChain tracer (POST /trace_log/{vendor}); a static segment, so GET /trace_log/{traceId} is unchanged.
  {
    method: 'POST',
    path: `${PAREA}/trace_log/langchain`,
    handler: 'recordLangchainRun',
    auth: 'apiKey',
    summary: "A LangChain run tree (the SDKs' LangChain tracer): each run stored as a span, under the same tree rules",
    body: LangchainRunBody,
    answers: [{ status: 200, schema: wire.EmptyObject, description: 'recorded' }],
  },

  // OpenTelemetry: OTLP/HTTP trace export, so OTEL_EXPORTER_OTLP_ENDPOINT=<api>/otel works with the stock exporters.
  {
    method: 'POST',
    path: '/otel/v1/traces',
    handler: 'otlpTraces',
    auth: 'apiKeyInRoute',
    summary:
      "OTLP/HTTP trace export (application/x-protobuf or application/json, gzip allowed): an ExportTraceServiceResponse in the request's encoding",
    answers: [{ status: 200, description: 'ExportTraceServiceResponse (partial_success when spans were refused)' }],
  },
];

/** Lambda entry files that are not HTTP routes. */
export const workerHandlers = {
  /** SQS consumer of the bucket's object-created notifications. */
  ingest: 'ingest',
  /** API Gateway HTTP API Lambda REQUEST authorizer (simple responses). */
  authorizer: 'authorizer',
  /** Scheduled (EventBridge, hourly): deletes the traces older than RETENTION_DAYS. */
  retentionSweep: 'retentionSweep',
  /** SQS consumer of the job queue: one step of an export or a delete-by-filter job per message. */
  jobWorker: 'jobWorker',
  /** The search indexer: started by the table's stream when search work is recorded, and scheduled as a safety net. */
  searchIndexer: 'searchIndexer',
} as const;

/** Where the S3 object-created notifications come from. */
export { INGEST_PREFIXES } from './domain/layout.js';
