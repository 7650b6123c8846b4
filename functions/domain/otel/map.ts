/**
 * One OpenTelemetry span → one trace log (a Parea TraceLog, as `POST /trace_log` takes it).
 * The table in README "OpenTelemetry ingest" is this file's contract. Pure.
 *
 * - ids: `trace_id` = the span id (16 hex), `parent_trace_id` = the parent span id (its own id on a
 *   root), `root_trace_id` = the OTel trace id (32 hex): it groups every span of the trace, so
 *   `GET /trace_log/<span id>` builds the trace's tree whatever the order the spans came in.
 * - GenAI semantic conventions (current and older forms), OpenInference and OpenLLMetry's
 *   flattened `gen_ai.prompt.N.*` fill `configuration`, `inputs`, `output` and the token counts.
 * - Every attribute no field took is kept in `metadata` as a string (span attributes under their
 *   own key, resource attributes too unless a span attribute has that key: then as
 *   `resource.<key>`), with the span's kind, scope, events, links and dropped counts as `otel.*`.
 */
import type { AttrValue, OtlpEvent, OtlpLink, OtlpSpan } from './otlp.js';
import { isPlainObject as isObject } from '../objects.js';

/** What the span's resource and instrumentation scope say (shared by every span under them). */
export interface SpanContext {
  resource: ReadonlyMap<string, AttrValue>;
  scope: { name: string; version: string; attributes: ReadonlyMap<string, AttrValue> };
}

const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;
const STATUS_ERROR = 2;

/** Nanoseconds since the epoch → ISO 8601 with microseconds and `Z` (`2026-01-02T03:04:05.123456Z`). */
export function isoMicros(ns: bigint): string {
  const seconds = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
  const micros = (ns - seconds * 1_000_000_000n) / 1000n;
  const whole = new Date(Number(seconds) * 1000).toISOString(); // ...T03:04:05.000Z (a year beyond 9999 has six digits: refused later)
  return `${whole.slice(0, -4)}${String(micros).padStart(6, '0')}Z`;
}

/** An attribute value as the string metadata keeps: strings as they are, numbers and booleans as text, the rest as JSON. */
export function attrText(v: AttrValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? 'null';
}

function numberOf(v: AttrValue | undefined): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$/.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function stringOf(v: AttrValue | undefined): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : attrText(v);
}

/** A JSON-valued attribute: its parsed value when it is JSON text, else the value itself. */
function jsonOf(v: AttrValue | undefined): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

export interface Message {
  role: string;
  content: string;
}

/**
 * A message's content as one string: text parts (GenAI `{type: "text", content}`, OpenAI-style
 * `{type: "text", text}`) joined by newlines, any other part (tool calls, images...) as its JSON.
 */
function contentText(m: Record<string, unknown>): string {
  if (typeof m.content === 'string' && !Array.isArray(m.parts)) return m.content;
  const parts = Array.isArray(m.parts) ? m.parts : Array.isArray(m.content) ? m.content : null;
  if (parts === null) return m.content === undefined || m.content === null ? '' : JSON.stringify(m.content);
  const out: string[] = [];
  for (const p of parts) {
    if (typeof p === 'string') out.push(p);
    else if (isObject(p) && (p.type === 'text' || p.type === undefined) && (typeof p.content === 'string' || typeof p.text === 'string')) {
      out.push(typeof p.content === 'string' ? p.content : (p.text as string));
    } else out.push(JSON.stringify(p));
  }
  return out.join('\n');
}

/** Chat messages from a GenAI/OpenAI-style value: an array of `{role, content | parts}`, or a lone string (one user message). */
function messagesOf(value: unknown, defaultRole = 'user'): Message[] | null {
  if (typeof value === 'string') return value === '' ? null : [{ role: defaultRole, content: value }];
  if (!Array.isArray(value)) return isObject(value) ? messagesOf([value], defaultRole) : null;
  const out: Message[] = [];
  for (const m of value) {
    if (typeof m === 'string') out.push({ role: defaultRole, content: m });
    else if (isObject(m)) out.push({ role: typeof m.role === 'string' ? m.role : defaultRole, content: contentText(m) });
  }
  return out.length > 0 ? out : null;
}

/**
 * Messages flattened into attributes: `<prefix>.<n>.<role key>` / `<prefix>.<n>.<content key>`
 * (OpenLLMetry's `gen_ai.prompt.0.role`, OpenInference's `llm.input_messages.0.message.role`,
 * whose content may also come as `...message.contents.<m>.message_content.text`). Marks what it reads.
 */
function flattenedMessages(
  attrs: ReadonlyMap<string, AttrValue>,
  used: Set<string>,
  prefix: string,
  roleKey: string,
  contentKey: string,
  partsKey?: string,
): Message[] | null {
  const byIndex = new Map<number, { role?: string; content?: string; parts: Map<number, string> }>();
  const head = `${prefix}.`;
  for (const [key, value] of attrs) {
    if (!key.startsWith(head)) continue;
    const rest = key.slice(head.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || !/^\d+$/.test(rest.slice(0, dot))) continue;
    const i = Number(rest.slice(0, dot));
    const field = rest.slice(dot + 1);
    const entry = byIndex.get(i) ?? { parts: new Map<number, string>() };
    if (field === roleKey) entry.role = stringOf(value) ?? '';
    else if (field === contentKey) entry.content = stringOf(value) ?? '';
    else if (partsKey !== undefined && field.startsWith(`${partsKey}.`)) {
      const m = /^(\d+)\.message_content\.text$/.exec(field.slice(partsKey.length + 1));
      if (m === null) continue;
      entry.parts.set(Number(m[1]), stringOf(value) ?? '');
    } else continue;
    used.add(key);
    byIndex.set(i, entry);
  }
  if (byIndex.size === 0) return null;
  return [...byIndex.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, e]) => ({
      role: e.role ?? 'user',
      content:
        e.content ??
        [...e.parts.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([, t]) => t)
          .join('\n'),
    }));
}

function joinOutput(messages: Message[]): string {
  return messages.map((m) => m.content).join('\n');
}

// ---------------------------------------------------------------------------
// Model parameters
// ---------------------------------------------------------------------------

/** GenAI / OpenAI parameter names → Parea's `model_params` names; the rest keep their own. */
const PARAM_NAMES: Record<string, string> = { temperature: 'temp', max_tokens: 'max_length', max_output_tokens: 'max_length' };

function paramName(name: string): string {
  return Object.hasOwn(PARAM_NAMES, name) ? PARAM_NAMES[name]! : name;
}

// ---------------------------------------------------------------------------
// The span
// ---------------------------------------------------------------------------

/** A span's trace log fields (unvalidated: `parseSpan` checks them as it checks any posted span). */
export function toTraceLog(span: OtlpSpan, ctx: SpanContext): Record<string, unknown> {
  const attrs = span.attributes;
  const used = new Set<string>();
  const take = (key: string): AttrValue | undefined => {
    if (!attrs.has(key)) return undefined;
    used.add(key);
    return attrs.get(key);
  };
  const first = (...keys: string[]): AttrValue | undefined => {
    for (const k of keys) if (attrs.has(k) && attrs.get(k) !== null) return take(k);
    return undefined;
  };
  const usedEvents = new Set<OtlpEvent>();
  const eventsNamed = (...names: string[]) => span.events.filter((e) => names.includes(e.name));

  const out: Record<string, unknown> = {
    trace_id: span.spanId,
    parent_trace_id: span.parentSpanId || span.spanId,
    root_trace_id: span.traceId,
    trace_name: span.name,
    start_timestamp: isoMicros(span.startNs),
  };
  if (span.endNs > 0n) {
    out.end_timestamp = isoMicros(span.endNs);
    const ns = span.endNs > span.startNs ? span.endNs - span.startNs : 0n;
    out.latency = Number(ns / 1000n) / 1e6;
  }

  // Status and error.
  if (span.statusCode === STATUS_ERROR) {
    out.status = 'error';
    const parts: string[] = [];
    if (span.statusMessage) parts.push(span.statusMessage);
    for (const e of eventsNamed('exception')) {
      usedEvents.add(e);
      const type = stringOf(e.attributes.get('exception.type'));
      const message = stringOf(e.attributes.get('exception.message'));
      const stack = stringOf(e.attributes.get('exception.stacktrace'));
      const head = [type, message].filter((x): x is string => !!x).join(': ');
      // A stack trace usually starts with that very line (Node's, Python's last line aside).
      parts.push(stack && head && stack.startsWith(head) ? stack : [head, stack].filter((x): x is string => !!x).join('\n'));
    }
    out.error = parts.filter(Boolean).join('\n\n') || 'error';
  } else {
    out.status = 'success';
  }

  // Experiment, session, user, tags.
  const experiment = first('experiment_uuid') ?? ctx.resource.get('experiment_uuid');
  if (experiment !== undefined && experiment !== null) out.experiment_uuid = stringOf(experiment);
  const session = first('session.id', 'gen_ai.conversation.id');
  if (session !== undefined) out.session_id = stringOf(session);
  const user = first('user.id');
  if (user !== undefined) out.end_user_identifier = stringOf(user);
  const tags = first('tag.tags');
  if (Array.isArray(tags)) out.tags = tags.map((t) => attrText(t));
  else if (tags !== undefined) out.tags = [attrText(tags)];

  // The model call.
  const configuration: Record<string, unknown> = {};
  const model = first('gen_ai.request.model', 'llm.model_name', 'gen_ai.response.model');
  if (model !== undefined) configuration.model = stringOf(model);
  const provider = first('gen_ai.provider.name', 'gen_ai.system', 'llm.provider', 'llm.system');
  if (provider !== undefined) configuration.provider = stringOf(provider);

  const params: Record<string, unknown> = {};
  const invocation = jsonOf(take('llm.invocation_parameters'));
  if (isObject(invocation)) {
    for (const [k, v] of Object.entries(invocation)) if (k !== 'model') params[paramName(k)] = v;
  } else if (invocation !== undefined && invocation !== null) {
    params.invocation_parameters = invocation;
  }
  for (const key of attrs.keys()) {
    if (!key.startsWith('gen_ai.request.') || key === 'gen_ai.request.model') continue;
    const value = take(key)!;
    params[paramName(key.slice('gen_ai.request.'.length))] = value;
  }
  if (Object.keys(params).length > 0) configuration.model_params = params;

  let messages: Message[] | null = null;
  const system = take('gen_ai.system_instructions');
  const inputMessages = take('gen_ai.input.messages');
  if (inputMessages !== undefined) messages = messagesOf(jsonOf(inputMessages));
  if (messages === null) {
    const prompt = take('gen_ai.prompt');
    if (prompt !== undefined) messages = messagesOf(jsonOf(prompt));
  }
  messages ??= flattenedMessages(attrs, used, 'gen_ai.prompt', 'role', 'content');
  messages ??= flattenedMessages(attrs, used, 'llm.input_messages', 'message.role', 'message.content', 'message.contents');
  if (messages === null) {
    const promptEvent = eventsNamed('gen_ai.content.prompt').find((e) => e.attributes.has('gen_ai.prompt'));
    if (promptEvent) {
      usedEvents.add(promptEvent);
      messages = messagesOf(jsonOf(promptEvent.attributes.get('gen_ai.prompt')));
    }
  }
  if (messages === null) {
    const perMessage = eventsNamed('gen_ai.system.message', 'gen_ai.user.message', 'gen_ai.assistant.message', 'gen_ai.tool.message');
    const list: Message[] = [];
    for (const e of perMessage) {
      usedEvents.add(e);
      const role = stringOf(e.attributes.get('role')) ?? e.name.slice('gen_ai.'.length, -'.message'.length);
      const content = jsonOf(e.attributes.get('content'));
      list.push({
        role,
        content: typeof content === 'string' ? content : content === undefined || content === null ? '' : JSON.stringify(content),
      });
    }
    if (list.length > 0) messages = list;
  }
  if (system !== undefined && system !== null) {
    const sys = messagesOf(jsonOf(system), 'system')?.map((m) => ({ role: 'system', content: m.content })) ?? [];
    messages = [...sys, ...(messages ?? [])];
  }
  if (messages !== null) configuration.messages = messages;
  if (Object.keys(configuration).length > 0) out.configuration = configuration;

  // Output.
  let output: string | null = null;
  const outValue = take('output.value');
  if (outValue !== undefined && outValue !== null) output = stringOf(outValue);
  if (output === null) {
    const outputMessages = take('gen_ai.output.messages');
    if (outputMessages !== undefined) {
      const list = messagesOf(jsonOf(outputMessages), 'assistant');
      if (list !== null) output = joinOutput(list);
    }
  }
  if (output === null) {
    const completion = take('gen_ai.completion');
    if (completion !== undefined && completion !== null) {
      const list = messagesOf(jsonOf(completion), 'assistant');
      output = list !== null ? joinOutput(list) : stringOf(completion);
    }
  }
  if (output === null) {
    const list =
      flattenedMessages(attrs, used, 'gen_ai.completion', 'role', 'content') ??
      flattenedMessages(attrs, used, 'llm.output_messages', 'message.role', 'message.content', 'message.contents');
    if (list !== null) output = joinOutput(list);
  }
  if (output === null) {
    const completionEvent = eventsNamed('gen_ai.content.completion').find((e) => e.attributes.has('gen_ai.completion'));
    if (completionEvent) {
      usedEvents.add(completionEvent);
      const value = jsonOf(completionEvent.attributes.get('gen_ai.completion'));
      const list = messagesOf(value, 'assistant');
      output = list !== null ? joinOutput(list) : attrText((value ?? null) as AttrValue);
    }
  }
  if (output === null) {
    const choices = eventsNamed('gen_ai.choice');
    const texts: string[] = [];
    for (const e of choices) {
      usedEvents.add(e);
      const message = jsonOf(e.attributes.get('message') ?? e.attributes.get('content'));
      const list = isObject(message) || Array.isArray(message) ? messagesOf(message, 'assistant') : null;
      texts.push(list !== null ? joinOutput(list) : message === undefined || message === null ? '' : attrText(message as AttrValue));
    }
    if (texts.length > 0) output = texts.join('\n');
  }
  if (output !== null) out.output = output;

  // Input (OpenInference's input.value).
  const inValue = take('input.value');
  if (inValue !== undefined && inValue !== null) out.inputs = { value: stringOf(inValue) };

  // Tokens and cost.
  const inputTokens = numberOf(
    first('gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt', 'llm.usage.prompt_tokens'),
  );
  const outputTokens = numberOf(
    first('gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion', 'llm.usage.completion_tokens'),
  );
  const totalTokens = numberOf(first('llm.token_count.total', 'gen_ai.usage.total_tokens', 'llm.usage.total_tokens'));
  if (inputTokens !== null) out.input_tokens = inputTokens;
  if (outputTokens !== null) out.output_tokens = outputTokens;
  if (totalTokens !== null) out.total_tokens = totalTokens;
  else if (inputTokens !== null || outputTokens !== null) out.total_tokens = (inputTokens ?? 0) + (outputTokens ?? 0);
  const cost = numberOf(first('llm.cost.total', 'gen_ai.usage.cost'));
  if (cost !== null) out.cost = cost;

  out.metadata = metadataOf(span, ctx, used, usedEvents);
  return out;
}

/** Every attribute no field took, as strings, with the span's own OTel facts under `otel.*`. */
function metadataOf(
  span: OtlpSpan,
  ctx: SpanContext,
  used: ReadonlySet<string>,
  usedEvents: ReadonlySet<OtlpEvent>,
): Record<string, string> {
  const meta: Record<string, string> = {};
  const put = (key: string, value: string) =>
    Object.defineProperty(meta, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [k, v] of span.attributes) if (!used.has(k)) put(k, attrText(v));
  for (const [k, v] of ctx.resource) {
    if (k === 'experiment_uuid' && !span.attributes.has(k)) continue; // became the span's experiment_uuid
    put(Object.hasOwn(meta, k) || span.attributes.has(k) ? `resource.${k}` : k, attrText(v));
  }
  put('otel.span_kind', SPAN_KINDS[span.kind] ?? String(span.kind));
  if (span.statusCode !== 0) put('otel.status_code', STATUS_CODES[span.statusCode] ?? String(span.statusCode));
  if (span.statusMessage && span.statusCode !== STATUS_ERROR) put('otel.status_message', span.statusMessage);
  if (span.traceState) put('otel.trace_state', span.traceState);
  if (ctx.scope.name) put('otel.scope.name', ctx.scope.name);
  if (ctx.scope.version) put('otel.scope.version', ctx.scope.version);
  for (const [k, v] of ctx.scope.attributes) put(`otel.scope.${k}`, attrText(v));
  const events = span.events.filter((e) => !usedEvents.has(e));
  if (events.length > 0) put('otel.events', JSON.stringify(events.map(eventJson)));
  if (span.links.length > 0) put('otel.links', JSON.stringify(span.links.map(linkJson)));
  if (span.droppedAttributesCount) put('otel.dropped_attributes_count', String(span.droppedAttributesCount));
  if (span.droppedEventsCount) put('otel.dropped_events_count', String(span.droppedEventsCount));
  if (span.droppedLinksCount) put('otel.dropped_links_count', String(span.droppedLinksCount));
  return meta;
}

function eventJson(e: OtlpEvent): Record<string, unknown> {
  return { name: e.name, timestamp: isoMicros(e.timeNs), attributes: Object.fromEntries(e.attributes) };
}

function linkJson(l: OtlpLink): Record<string, unknown> {
  return {
    trace_id: l.traceId,
    span_id: l.spanId,
    ...(l.traceState ? { trace_state: l.traceState } : {}),
    attributes: Object.fromEntries(l.attributes),
  };
}
