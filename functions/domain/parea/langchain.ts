/**
 * `POST /trace_log/langchain`: the Parea SDKs' LangChain tracers post a LangChain run (a chain,
 * LLM or tool run with its `child_runs` nested) when it ends. Each run becomes one span (a Parea
 * TraceLog), stored through the same path as `POST /trace_log`, so the same tree rules apply.
 * The mapping is documented in docs/parea-experiments-api.md ("LangChain runs").
 *
 * Pure: no storage, no HTTP. Iterative (a deep run tree is fine).
 */
import * as z from 'zod';
import { isIsoTimestamp, stringifyValue, toFiniteNumber } from './span.js';
import { isPlainObject as isObject } from '../objects.js';
import { DomainError } from '../errors.js';

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** A run tree that is not one (a 400 `invalid_body`, as any bad trace-log body). */
export class LangchainRunError extends DomainError<'invalid_body'> {
  constructor(message: string) {
    super('invalid_body', message);
  }
}

/**
 * The run's top level, as the edge checks it (the nested runs are read iteratively by spansOfRun:
 * a schema recursion would not survive a deep tree). Every other field is optional and read leniently.
 */
export const LangchainRunBody = z.looseObject(
  {
    id: z.union([z.string().min(1, 'the run id must not be empty'), z.number()], { error: 'the run id is required (a string)' }),
    name: z.string().nullish(),
    run_type: z.string().nullish(),
    parent_run_id: z.string().nullish(),
    trace_id: z.string().nullish(),
    start_time: z.union([z.string(), z.number()]).nullish(),
    end_time: z.union([z.string(), z.number()]).nullish(),
    inputs: z.unknown().optional(),
    outputs: z.unknown().optional(),
    error: z.unknown().optional(),
    child_runs: z.array(z.unknown()).nullish(),
    experiment_uuid: z.string().nullish(),
    _parea_root_trace_id: z.string().nullish(),
    _parea_parent_trace_id: z.string().nullish(),
  },
  { error: 'must be a LangChain run object' },
);

/** Runs in one post, at most (a tracer posts one finished run tree). */
export const MAX_RUNS = 10_000;

/** An epoch-millisecond number (the JS tracer) or an ISO string, naive meaning UTC (the Python tracer), as ISO 8601 with an offset. */
function timestamp(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (typeof v !== 'string' || v === '') return undefined;
  if (isIsoTimestamp(v)) return v;
  const withZone = `${v}Z`;
  return isIsoTimestamp(withZone) ? withZone : undefined;
}

function epochMicros(iso: string | undefined): number | null {
  if (iso === undefined) return null;
  const m = /\.(\d+)/.exec(iso);
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  const frac = m ? Number(m[1]!.slice(0, 6).padEnd(6, '0')) % 1000 : 0;
  return ms * 1000 + frac;
}

const ROLES: Record<string, string> = {
  human: 'user',
  user: 'user',
  ai: 'assistant',
  assistant: 'assistant',
  system: 'system',
  tool: 'tool',
  function: 'function',
  generic: 'user',
};

/** A LangChain message (serialized `{lc, id: [..., 'HumanMessage'], kwargs}`, or `{type|role, content}`) as `{role, content}`. */
function message(m: unknown): { role: string; content: string } | null {
  if (typeof m === 'string') return { role: 'user', content: m };
  if (!isObject(m)) return null;
  const kwargs = isObject(m.kwargs) ? m.kwargs : m;
  let kind = str(m.type) ?? str(m.role) ?? str(m._type);
  if (Array.isArray(m.id) && typeof m.id[m.id.length - 1] === 'string')
    kind = (m.id[m.id.length - 1] as string).replace(/MessageChunk$|Message$/, '').toLowerCase();
  if (kind === 'chat' || kind === 'generic') kind = str(kwargs.role) ?? 'user';
  const content = kwargs.content;
  return { role: ROLES[kind ?? ''] ?? kind ?? 'user', content: typeof content === 'string' ? content : stringifyValue(content ?? '') };
}

function messagesOf(inputs: Json): { role: string; content: string }[] {
  const out: { role: string; content: string }[] = [];
  if (Array.isArray(inputs.messages)) {
    // Chat models: a batch of message lists; the tracer's run has one.
    const first = Array.isArray(inputs.messages[0]) ? inputs.messages[0] : inputs.messages;
    for (const m of first as unknown[]) {
      const msg = message(m);
      if (msg) out.push(msg);
    }
  } else if (Array.isArray(inputs.prompts)) {
    for (const p of inputs.prompts) if (typeof p === 'string') out.push({ role: 'user', content: p });
  }
  return out;
}

/** The text an LLM run produced: its first generation's text or message content. */
function llmOutput(outputs: Json): string | undefined {
  const gens = outputs.generations;
  const first = Array.isArray(gens) ? (Array.isArray(gens[0]) ? gens[0][0] : gens[0]) : undefined;
  if (isObject(first)) {
    if (typeof first.text === 'string' && first.text !== '') return first.text;
    const msg = message(first.message);
    if (msg) return msg.content;
  }
  return undefined;
}

function usage(outputs: Json): { input?: number; output?: number; total?: number } {
  const llm = isObject(outputs.llm_output) ? outputs.llm_output : isObject(outputs.llmOutput) ? outputs.llmOutput : {};
  const u = isObject(llm.token_usage) ? llm.token_usage : isObject(llm.tokenUsage) ? llm.tokenUsage : isObject(llm.usage) ? llm.usage : {};
  const n = (...keys: string[]) => {
    for (const k of keys) {
      const v = toFiniteNumber(u[k]);
      if (v !== null) return v;
    }
    return undefined;
  };
  const input = n('prompt_tokens', 'promptTokens', 'input_tokens');
  const output = n('completion_tokens', 'completionTokens', 'output_tokens');
  const total =
    n('total_tokens', 'totalTokens') ?? (input !== undefined || output !== undefined ? (input ?? 0) + (output ?? 0) : undefined);
  return {
    ...(input !== undefined ? { input } : {}),
    ...(output !== undefined ? { output } : {}),
    ...(total !== undefined ? { total } : {}),
  };
}

const PARAM_NAMES: Record<string, string> = {
  temperature: 'temp',
  max_tokens: 'max_length',
  maxTokens: 'max_length',
  top_p: 'top_p',
  topP: 'top_p',
  frequency_penalty: 'frequency_penalty',
  presence_penalty: 'presence_penalty',
};

function stringMap(...maps: unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of maps)
    if (isObject(m)) for (const [k, v] of Object.entries(m)) if (v !== undefined && v !== null) out[k] = stringifyValue(v);
  return out;
}

/** The post's tree-wide settings (the Python tracer's `_`-prefixed fields, the experiment). */
interface Context {
  root: string;
  experimentUuid?: string | undefined;
  sessionId?: string | undefined;
  endUser?: string | undefined;
  deploymentId?: string | undefined;
  logSampleRate?: number | undefined;
  tags: string[];
  metadata: Record<string, string>;
}

function spanOf(run: Json, parent: string, ctx: Context): Json {
  const id = str(run.id)!;
  const runType = str(run.run_type) ?? 'chain';
  const inputs = isObject(run.inputs) ? run.inputs : {};
  const outputs = isObject(run.outputs) ? run.outputs : {};
  const extra = isObject(run.extra) ? run.extra : {};
  const runMeta = isObject(extra.metadata) ? extra.metadata : {};
  const start = timestamp(run.start_time);
  const end = timestamp(run.end_time);
  const span: Json = {
    trace_id: id,
    parent_trace_id: parent,
    root_trace_id: ctx.root,
    trace_name: str(run.name) ?? runType,
    ...(start ? { start_timestamp: start } : {}),
    ...(end ? { end_timestamp: end } : {}),
    status: typeof run.error === 'string' && run.error !== '' ? 'error' : 'success',
    ...(typeof run.error === 'string' && run.error !== '' ? { error: run.error } : {}),
    inputs: stringMap(inputs),
    metadata: { ...ctx.metadata, ...stringMap(runMeta), langchain_run_type: runType },
    tags: [...new Set([...ctx.tags, ...(Array.isArray(run.tags) ? run.tags.filter((t): t is string => typeof t === 'string') : [])])],
    children: (Array.isArray(run.child_runs) ? run.child_runs : [])
      .map((c) => (isObject(c) ? str(c.id) : undefined))
      .filter((c): c is string => c !== undefined),
  };
  const s = epochMicros(start);
  const e = epochMicros(end);
  if (s !== null && e !== null && e >= s) span.latency = (e - s) / 1e6;
  const order = toFiniteNumber(run.execution_order);
  if (order !== null) span.execution_order = Math.max(0, order - 1);
  if (ctx.experimentUuid) span.experiment_uuid = ctx.experimentUuid;
  if (ctx.sessionId) span.session_id = ctx.sessionId;
  if (ctx.endUser) span.end_user_identifier = ctx.endUser;
  if (ctx.deploymentId) span.deployment_id = ctx.deploymentId;
  if (ctx.logSampleRate !== undefined) span.log_sample_rate = ctx.logSampleRate;

  if (runType === 'llm' || runType === 'chat_model') {
    const params = isObject(extra.invocation_params) ? extra.invocation_params : {};
    const modelParams: Json = {};
    for (const [k, v] of Object.entries(params))
      if (PARAM_NAMES[k] && (typeof v === 'number' || typeof v === 'string')) modelParams[PARAM_NAMES[k]!] = v;
    span.configuration = {
      model: str(params.model) ?? str(params.model_name) ?? str(params.modelName) ?? str(runMeta.ls_model_name) ?? '',
      provider: str(runMeta.ls_provider) ?? str(params._type) ?? '',
      model_params: modelParams,
      messages: messagesOf(inputs),
    };
    const text = llmOutput(outputs);
    span.output = text ?? stringifyValue(outputs);
    const u = usage(outputs);
    if (u.input !== undefined) span.input_tokens = u.input;
    if (u.output !== undefined) span.output_tokens = u.output;
    if (u.total !== undefined) span.total_tokens = u.total;
  } else if (Object.keys(outputs).length > 0) {
    const keys = Object.keys(outputs);
    span.output = keys.length === 1 && typeof outputs[keys[0]!] === 'string' ? (outputs[keys[0]!] as string) : stringifyValue(outputs);
  }
  return span;
}

/**
 * The spans of a posted run tree, parents before children. The top run's parent is the Parea span
 * it ran in (`_parea_parent_trace_id`), else its own `parent_run_id`, else itself (a root); its
 * tree is `_parea_root_trace_id`, else LangChain's `trace_id`, else the top run's own id. Every run
 * under it is in that tree. LangChainRunError for a body that is no run.
 */
export function spansOfRun(body: unknown): Json[] {
  if (!isObject(body)) throw new LangchainRunError('body: must be a LangChain run object');
  const topId = str(body.id);
  if (topId === undefined) throw new LangchainRunError('id: the run id is required');
  const parent = str(body._parea_parent_trace_id) ?? str(body.parent_run_id) ?? topId;
  const root = str(body._parea_root_trace_id) ?? str(body.trace_id) ?? (parent === topId ? topId : parent);
  const ctx: Context = {
    root,
    experimentUuid: str(body.experiment_uuid),
    sessionId: str(body._session_id),
    endUser: str(body._end_user_identifier),
    deploymentId: str(body._deployment_id),
    logSampleRate: toFiniteNumber(body._log_sample_rate) ?? undefined,
    tags: Array.isArray(body._tags) ? body._tags.filter((t): t is string => typeof t === 'string') : [],
    metadata: stringMap(body._metadata),
  };
  const out: Json[] = [];
  const stack: Array<{ run: Json; parent: string }> = [{ run: body, parent }];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const { run, parent: p } = stack.pop()!;
    const id = str(run.id);
    if (id === undefined) throw new LangchainRunError('child_runs: every run needs an id');
    if (seen.has(id)) continue;
    seen.add(id);
    if (out.length >= MAX_RUNS) throw new LangchainRunError(`a run tree of more than ${MAX_RUNS} runs`);
    out.push(spanOf(run, p, ctx));
    const kids = Array.isArray(run.child_runs) ? run.child_runs : [];
    for (let i = kids.length - 1; i >= 0; i--) if (isObject(kids[i])) stack.push({ run: kids[i] as Json, parent: id });
  }
  return out;
}
