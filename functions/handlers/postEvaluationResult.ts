import * as z from 'zod';
import { EvaluationStateError, evaluationJson, postEvaluationResult, resultJson } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, parseJsonBody, pathParam, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';
import { MAX_REASONING_BYTES } from './createEvaluation.js';

/** `null` is taken as absent (the Python client sends None as null). */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);
const storable = (v: number) => v === 0 || (Math.abs(v) >= 1e-130 && Math.abs(v) <= Number.MAX_SAFE_INTEGER);
const count = optional(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

export const EvaluationResultBody = z.object({
  passed: z.boolean({ error: 'must be true or false' }),
  score: optional(z.number().refine(storable, `must be 0 or a number of magnitude between 1e-130 and ${Number.MAX_SAFE_INTEGER}`)),
  reasoning: optional(z.string().refine((s) => Buffer.byteLength(s) <= MAX_REASONING_BYTES, `must be at most ${MAX_REASONING_BYTES} bytes`)),
  model: optional(z.string().max(256)),
  steps: optional(
    z
      .array(z.object({ tool: z.string().max(256), args: z.record(z.string(), z.unknown()).default({}), result: z.string().max(16 * 1024).default('') }))
      .max(100)
      .refine((s) => Buffer.byteLength(JSON.stringify(s)) <= 64 * 1024, 'must be at most 64 KB of JSON'),
  ),
  turns: count,
  latency_ms: count,
  prompt_tokens: count,
  completion_tokens: count,
  total_cost: optional(z.number().min(0).refine(storable, 'must be 0 or a number of magnitude between 1e-130 and 2^53 - 1')),
});

/**
 * POST .../trace-evaluations/{evaluationId}/results: the judge's verdict for a pending evaluation
 * (it becomes `success`; the trace's status and the filters follow). Answers the result (201).
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const id = pathParam(event, 'evaluationId');
  const body = parseJsonBody(EvaluationResultBody, event);
  if (id.length > 256) throw new HttpError(404, 'not_found', `no evaluation ${id} in this project`);
  try {
    const e = await postEvaluationResult(evaluationDeps(), tenant, id, {
      passed: body.passed,
      score: body.score,
      reasoning: body.reasoning,
      model: body.model,
      steps: body.steps?.map((s) => ({ tool: s.tool, args: s.args, result: s.result })),
      turns: body.turns,
      latencyMs: body.latency_ms,
      promptTokens: body.prompt_tokens,
      completionTokens: body.completion_tokens,
      totalCost: body.total_cost,
    });
    return json(201, { ...resultJson(e), trace_evaluation: evaluationJson(e) });
  } catch (err) {
    if (err instanceof EvaluationStateError) throw new HttpError(err.kind === 'conflict' ? 409 : 404, err.kind === 'conflict' ? 'conflict' : 'not_found', err.message);
    throw err;
  }
});
