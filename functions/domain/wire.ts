/**
 * The API's answers as zod schemas: the wire contract shared by the server
 * (its integration tests check every answer against these) and the SDK (which
 * validates what it receives with them). Loose objects: fields added later
 * pass through.
 */
import * as z from 'zod';

const nullableString = z.string().nullable();

export const LineError = z.looseObject({ line: z.number(), message: z.string() });
export type LineError = z.infer<typeof LineError>;

/** Every error the routes answer (a 4xx, or a 5xx without internals). */
export const ErrorAnswer = z.looseObject({ error: z.looseObject({ code: z.string(), message: z.string() }) });

/** API Gateway's own answer when the authorizer denies a key: the one error of another shape. */
export const GatewayDenyAnswer = z.object({ message: z.literal('Forbidden') });

export const HealthAnswer = z.looseObject({ status: z.literal('ok') });

/** `GET /api/v1/openapi.json`: an OpenAPI 3.1 document. */
export const OpenApiAnswer = z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) });

export const OrganizationsAnswer = z.looseObject({
  data: z.looseObject({
    id: z.string(),
    name: z.string(),
    owner_id: z.string().nullable().optional(),
    projects: z.array(z.looseObject({ id: z.string(), name: z.string() })).min(1),
  }),
});
export type OrganizationsAnswer = z.infer<typeof OrganizationsAnswer>;

export const PresignAnswer = z.looseObject({
  url: z.string().url(),
  upload_key: z.string(),
  expires_at: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});
export type PresignAnswer = z.infer<typeof PresignAnswer>;

/** 200 (completed) or 202 (processing) of `POST P/traces`. */
export const CreateTracesAnswer = z.looseObject({
  trace_ids: z.array(z.string()),
  upload_id: z.string(),
  status: z.string(),
  errors: z.array(LineError).default([]),
  error_count: z.number().optional(),
  records: z.number().optional(),
  /** Of trace_ids, the traces this upload itself stored; the rest an earlier upload of identical content had stored already. */
  new_traces: z.number().optional(),
  poll: z.string().optional(),
  trace_ids_truncated: z.boolean().optional(),
});
export type CreateTracesAnswer = z.infer<typeof CreateTracesAnswer>;

/** 422 of `POST P/traces`: no valid record, or the upload failed. */
export const CreateTracesRefusal = z.looseObject({
  error: z.looseObject({ code: z.string(), message: z.string() }),
  upload_id: z.string().optional(),
  errors: z.array(LineError).optional(),
  error_count: z.number().optional(),
});

export const UploadStatus = z.looseObject({
  upload_id: z.string(),
  status: z.string(),
  filename: z.string().nullable().optional(),
  source: z.string().nullable().optional(),
  size: z.number().nullable().optional(),
  records: z.number().nullable().optional(),
  traces: z.number().nullable().optional(),
  new_traces: z.number().nullable().optional(),
  error_count: z.number().nullable().optional(),
  errors: z.array(LineError).nullable().optional(),
  reason: z.string().nullable().optional(),
  last_error: z.string().nullable().optional(),
  created_at: z.string().nullable().optional(),
  completed_at: z.string().nullable().optional(),
  duration_ms: z.number().nullable().optional(),
  trace_ids: z.array(z.string()).optional(),
  trace_ids_truncated: z.boolean().optional(),
});
export type UploadStatus = z.infer<typeof UploadStatus>;

export const LastEvaluation = z.looseObject({
  judge_id: z.string(),
  judge_name: z.string(),
  judge_version: z.number(),
  created_at: z.string(),
  passed: z.boolean().nullable(),
  evaluation_id: z.string().optional(),
});

export const Trace = z.looseObject({
  id: z.string(),
  organization_id: z.string(),
  project_id: z.string(),
  created_at: z.string(),
  filename: z.string(),
  data: z.unknown(),
  input: nullableString,
  integration_id: nullableString,
  source: z.string(),
  upload_id: z.string().optional(),
  evaluations_count: z.number(),
  last_evaluations: z.array(LastEvaluation),
});
export type Trace = z.infer<typeof Trace>;

export const TraceList = z.looseObject({
  traces: z.array(Trace),
  count: z.number(),
  total_count: z.number(),
  /** False when total_count is a lower bound (a search that has not read the whole project yet). */
  total_count_exact: z.boolean(),
  page: z.number().nullable(),
  page_size: z.number(),
  next_cursor: z.string().nullable(),
});
export type TraceList = z.infer<typeof TraceList>;

export const Sources = z.looseObject({ sources: z.array(z.string()) });

export const Evaluation = z.looseObject({
  id: z.string(),
  trace_id: z.string(),
  judge_id: z.string(),
  judge_name: z.string(),
  judge_version: z.number(),
  status: z.string(),
  passed: z.boolean().nullable(),
  score: z.number().nullable(),
  reasoning: z.string().nullable(),
  created_at: z.string(),
  organization_id: z.string(),
  project_id: z.string(),
});
export type Evaluation = z.infer<typeof Evaluation>;

export const EvaluationList = z.looseObject({ trace_evaluations: z.array(Evaluation), count: z.number(), total: z.number() });
export type EvaluationList = z.infer<typeof EvaluationList>;

export const Score = z.looseObject({ name: z.string(), score: z.number().nullable().optional() });

/** A Parea TraceLogTree node (the span's fields, children nested). */
export interface TraceLogTree {
  trace_id: string;
  parent_trace_id?: string | null;
  root_trace_id?: string | null;
  trace_name?: string | null;
  status?: string | null;
  latency?: number | null;
  depth?: number;
  scores?: Array<{ name: string; score?: number | null; [k: string]: unknown }> | null;
  children_logs: TraceLogTree[];
  tree_flags?: { orphan?: boolean; cycle_broken?: boolean };
  [k: string]: unknown;
}
/** One node, shallowly: its children are checked node by node (iteratively, so a 10,000-deep chain works). */
export const TraceLogNode = z.looseObject({
  trace_id: z.string(),
  parent_trace_id: z.string().nullable().optional(),
  root_trace_id: z.string().nullable().optional(),
  trace_name: z.string().nullable().optional(),
  status: z.string().nullable().optional(),
  latency: z.number().nullable().optional(),
  depth: z.number().optional(),
  scores: z.array(Score).nullable().optional(),
  children_logs: z.array(z.unknown()),
  tree_flags: z.looseObject({ orphan: z.boolean().optional(), cycle_broken: z.boolean().optional() }).optional(),
});

/** Validates a forest of TraceLogTrees without recursion; throws the first zod error with its path. */
export function parseTraceLogForest(value: unknown): TraceLogTree[] {
  const roots = z.array(z.unknown()).parse(value);
  const stack: Array<{ node: unknown; path: (string | number)[] }> = roots.map((node, i) => ({ node, path: [i] }));
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    const r = TraceLogNode.safeParse(node);
    if (!r.success) {
      throw new z.ZodError(r.error.issues.map((issue) => ({ ...issue, path: [...path, ...issue.path] })));
    }
    r.data.children_logs.forEach((child, i) => {
      stack.push({ node: child, path: [...path, 'children_logs', i] });
    });
  }
  return roots as TraceLogTree[];
}

export const EmptyObject = z.looseObject({});

/** A judge's result (GET .../trace-evaluations/{id}/results): the Stratix client's TraceEvaluationResult. */
export const EvaluationResult = z.looseObject({
  id: z.string(),
  trace_evaluation_id: z.string(),
  trace_id: z.string(),
  judge_id: z.string(),
  score: z.number(),
  passed: z.boolean(),
  reasoning: z.string(),
  steps: z.array(z.looseObject({ tool: z.string(), args: z.record(z.string(), z.unknown()), result: z.string() })),
  model: z.string(),
  turns: z.number(),
  latency_ms: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_cost: z.number(),
  created_at: z.string(),
});
export type EvaluationResult = z.infer<typeof EvaluationResult>;

/** A Parea experiment (ExperimentWithPinnedStatsSchema). */
export const Experiment = z.looseObject({
  uuid: z.string(),
  name: z.string(),
  run_name: z.string(),
  created_at: z.string(),
  metadata: z.record(z.string(), z.string()).nullable(),
  project_uuid: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed']),
  is_public: z.boolean(),
  num_samples: z.number().nullable(),
  pinned_stats: z.array(z.looseObject({ var1: z.string(), operation: z.string(), value: z.number() })),
  finished_at: z.string().nullable(),
});
export type Experiment = z.infer<typeof Experiment>;

/** `POST /api/parea/v1/experiments`: a JSON array of experiments. */
export const ExperimentList = z.array(Experiment);

const StatScore = z.looseObject({ name: z.string(), score: z.number(), reason: z.string().optional() });

/** An experiment's stats (ExperimentStatsSchema, and the dataset-level scores its runner sent). */
export const ExperimentStats = z.looseObject({
  parent_trace_stats: z.array(
    z.looseObject({
      trace_id: z.string(),
      latency: z.number(),
      input_tokens: z.number(),
      output_tokens: z.number(),
      total_tokens: z.number(),
      cost: z.number(),
      scores: z.array(StatScore),
    }),
  ),
  dataset_level_stats: z.array(StatScore),
});
export type ExperimentStats = z.infer<typeof ExperimentStats>;

/** One page of POST /get_trace_logs (PaginatedTraceLogsResponse). */
export const TraceLogPage = z.looseObject({
  total: z.number(),
  page: z.number(),
  total_pages: z.number(),
  page_size: z.number(),
  total_exact: z.boolean(),
  results: z.array(z.unknown()),
});

/** `POST /api/parea/v1/project`. */
export const PareaProjectAnswer = z.looseObject({ name: z.string(), uuid: z.string(), created_at: z.string(), was_created: z.boolean() });

/** `POST /api/parea/v1/experiment/{uuid}/trace_logs`: root trees, each node's children nested in children_logs. */
export const TraceLogForest = z.array(TraceLogNode);

/** An export or delete-by-filter job (`POST P/exports|deletions`, `GET P/exports|deletions/{id}`). */
export const JobAnswer = z.looseObject({
  id: z.string(),
  type: z.enum(['export', 'deletion']),
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  target: z.enum(['traces', 'spans']),
  filters: z.looseObject({}).optional(),
  experiment_uuid: z.string().optional(),
  total: z.number().nullable(),
  total_exact: z.boolean(),
  exported: z.number().optional(),
  deleted: z.number().optional(),
  bytes: z.number().optional(),
  created_at: z.string(),
  updated_at: z.string(),
  completed_at: nullableString,
  range_until: z.string(),
  error: nullableString,
  poll: z.string(),
  download_url: z.string().optional(),
  download_expires_at: z.string().optional(),
});
export type JobAnswer = z.infer<typeof JobAnswer>;

/** `POST P/deletions` with `dry_run: true`: how many match now (a lower bound when not exact). */
export const MatchCount = z.looseObject({ matching: z.number(), exact: z.boolean() });
