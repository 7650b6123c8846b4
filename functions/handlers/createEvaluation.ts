import * as z from 'zod';
import { createEvaluation, evaluationJson, TraceNotFoundError } from '../domain/evaluations.js';
import { HttpError, httpHandler, json, parseJsonBody, projectScope } from '../shared/http.js';
import { evaluationDeps } from '../shared/services.js';

/** The most a reasoning may hold (UTF-8 bytes). */
export const MAX_REASONING_BYTES = 64 * 1024;
const MAX_ID_CHARS = 256;

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
  reasoning: optional(z.string().refine((s) => Buffer.byteLength(s) <= MAX_REASONING_BYTES, `must be at most ${MAX_REASONING_BYTES} bytes`)),
});

/**
 * POST .../trace-evaluations: records a judge's evaluation of a trace of the
 * caller's project. Without `passed` it is pending; with it, finished.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const body = parseJsonBody(CreateEvaluationBody, event);
  try {
    const evaluation = await createEvaluation(evaluationDeps(), tenant, {
      traceId: body.trace_id,
      judgeId: body.judge_id,
      judgeName: body.judge_name,
      judgeVersion: body.judge_version,
      passed: body.passed,
      score: body.score,
      reasoning: body.reasoning,
    });
    return json(201, evaluationJson(evaluation));
  } catch (err) {
    if (err instanceof TraceNotFoundError) throw new HttpError(404, 'not_found', err.message);
    throw err;
  }
});
