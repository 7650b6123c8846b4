/**
 * Request schemas of the routes whose handler owns no domain module to keep them in (the others are
 * the domain's: ListQuerySchema, PresignRequest, CreateTracesRequest, TraceLogFilter, SpanInput,
 * TraceLogUpdate). Here, with no handler or AWS code, so the route table (functions/routes.ts) can
 * name them for the OpenAPI document while the handlers validate with the very same objects.
 */
import * as z from 'zod';
import { MAX_LIST } from '../domain/parea/experiments.js';
import { CAMEL_ALIASES, ListQuerySchema, normalizeListParams } from '../domain/list-query.js';
import { MAX_LIMIT, MAX_SPAN_ID_BYTES } from '../domain/parea/index.js';
import { ID_TOO_LONG, MAX_ID_CHARS } from '../domain/ids.js';

/** The most a reasoning may hold (UTF-8 bytes). */
export const MAX_REASONING_BYTES = 64 * 1024;

/**
 * Numbers the store keeps and reads back: 0, or a magnitude from 1e-130 (DynamoDB's smallest) to
 * 2^53 - 1. Every double beyond that is an integer the DynamoDB document client refuses to write
 * (and would read back as a BigInt), so a larger score is a 400, not a 500.
 */
const storableNumber = (v: number) => v === 0 || (Math.abs(v) >= 1e-130 && Math.abs(v) <= Number.MAX_SAFE_INTEGER);

/** `null` is taken as absent (the Python client sends None as null). */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

export const CreateEvaluationBody = z.object({
  trace_id: z.string().trim().min(1).max(MAX_ID_CHARS),
  judge_id: z.string().trim().min(1).max(MAX_ID_CHARS),
  judge_name: optional(z.string().trim().min(1).max(MAX_ID_CHARS)),
  judge_version: optional(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)),
  passed: optional(z.boolean()),
  score: optional(z.number().refine(storableNumber, `must be 0 or a number of magnitude between 1e-130 and ${Number.MAX_SAFE_INTEGER}`)),
  reasoning: optional(
    z.string().refine((s) => Buffer.byteLength(s) <= MAX_REASONING_BYTES, `must be at most ${MAX_REASONING_BYTES} bytes`),
  ),
});

const count = optional(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

/** POST .../trace-evaluations/{id}/results: a judge's verdict (the fields the Stratix client's TraceEvaluationResult reads). */
export const EvaluationResultBody = z.object({
  passed: z.boolean({ error: 'must be true or false' }),
  score: optional(z.number().refine(storableNumber, `must be 0 or a number of magnitude between 1e-130 and ${Number.MAX_SAFE_INTEGER}`)),
  reasoning: optional(
    z.string().refine((s) => Buffer.byteLength(s) <= MAX_REASONING_BYTES, `must be at most ${MAX_REASONING_BYTES} bytes`),
  ),
  model: optional(z.string().max(MAX_ID_CHARS)),
  steps: optional(
    z
      .array(
        z.object({
          tool: z.string().max(MAX_ID_CHARS),
          args: z.record(z.string(), z.unknown()).default({}),
          result: z
            .string()
            .max(16 * 1024)
            .default(''),
        }),
      )
      .max(100)
      .refine((s) => Buffer.byteLength(JSON.stringify(s)) <= 64 * 1024, 'must be at most 64 KB of JSON'),
  ),
  turns: count,
  latency_ms: count,
  prompt_tokens: count,
  completion_tokens: count,
  total_cost: optional(z.number().min(0).refine(storableNumber, 'must be 0 or a number of magnitude between 1e-130 and 2^53 - 1')),
});

/** The list's camelCase spellings, and the evaluation list's own `traceId`. */
const EVALUATION_ALIASES = { ...CAMEL_ALIASES, traceId: 'trace_id' };

export const ListEvaluationsQuery = z.preprocess(
  (query) =>
    query !== null && typeof query === 'object' ? normalizeListParams(query as Record<string, unknown>, EVALUATION_ALIASES) : query,
  z.object({
    trace_id: z.string().max(MAX_ID_CHARS).optional(),
    judge_id: z.string().max(MAX_ID_CHARS).optional(),
    outcome: z.enum(['pass', 'fail', 'pending'], { error: 'must be one of pass, fail, pending' }).optional(),
    time_range: ListQuerySchema.shape.time_range,
    search: ListQuerySchema.shape.search,
    sort_by: z.enum(['created_at'], { error: 'must be created_at' }).optional(),
    sort_order: z.enum(['asc', 'desc'], { error: 'must be one of asc, desc' }).optional(),
    cursor: z.string().min(1).max(4096).optional(),
    page: z.coerce.number().int().min(1).default(1),
    page_size: z.coerce.number().int().min(1).max(500).default(100),
  }),
);

export const PareaProjectBody = z.object({
  name: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(MAX_ID_CHARS, ID_TOO_LONG),
});

export const ExperimentLogsQuery = z.object({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`)
    .optional(),
  cursor: z.string().min(1).max(4096).optional(),
});

export const ListExperimentsQuery = z.object({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(MAX_LIST, `must be at most ${MAX_LIST}`)
    .optional(),
  cursor: z.string().min(1).max(4096).optional(),
});

/** `POST .../exports|deletions`: the list's filters (snake_case), or an experiment; `all` says "everything" when no filter is given; `dry_run` only counts. */
export const JobBody = ListQuerySchema.pick({ source: true, judge_id: true, status: true, time_range: true, search: true })
  .extend({
    experiment_uuid: z
      .string()
      .min(1)
      .refine((s) => Buffer.byteLength(s) <= MAX_SPAN_ID_BYTES, `must be at most ${MAX_SPAN_ID_BYTES} UTF-8 bytes`)
      .optional(),
    all: z.boolean().optional(),
    dry_run: z.boolean().optional(),
  })
  .strict();

/** `GET .../traces/export`: the list's filters and the export's cursor (names normalized as the list's are). */
export const ExportTracesQuery = ListQuerySchema.pick({
  source: true,
  judge_id: true,
  status: true,
  time_range: true,
  search: true,
  cursor: true,
}).strict();

/** `GET .../experiments/{experimentUuid}/export`: the cursor of the next page. */
export const ExportSpansQuery = z.object({ cursor: z.string().min(1).max(4096).optional() }).strict();
