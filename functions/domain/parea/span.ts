/**
 * Experiment trace logs (Parea wire format): one span, as posted and as served.
 *
 * Pure: no storage, no HTTP. The wire contract: Parea's trace-log API as its SDKs call it.
 * Nothing here mutates its arguments.
 */
import * as z from 'zod';
import { isPlainObject } from '../objects.js';
import { ID_TOO_LONG, MAX_ID_CHARS } from '../ids.js';

/** One evaluation score of a span. `score` is always a finite number on the wire. */
export interface Score {
  name: string;
  score: number;
  reason?: string | null;
  evaluation_metric_id?: number | string | null;
  [key: string]: unknown;
}

/**
 * A span (Parea `TraceLog`): the four required strings, the spec's other TraceLogTree fields
 * (optional, and typed loosely because stored data may predate validation), and any extra
 * fields a client sent, kept as they are.
 */
export interface Span {
  trace_id: string;
  parent_trace_id: string;
  root_trace_id: string;
  /** ISO 8601 with an offset or `Z`, kept exactly as sent. */
  start_timestamp: string;
  trace_name?: string | null;
  project_name?: string | null;
  project_uuid?: string | null;
  organization_id?: string | null;
  experiment_uuid?: string | null;
  session_id?: string | null;
  end_user_identifier?: string | null;
  end_timestamp?: string | null;
  status?: string | null;
  error?: string | null;
  inputs?: Record<string, unknown> | null;
  output?: unknown;
  target?: unknown;
  output_for_eval_metrics?: unknown;
  configuration?: Record<string, unknown> | null;
  latency?: number | null;
  time_to_first_token?: number | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  total_tokens?: number | null;
  cost?: number | null;
  scores?: unknown[] | null;
  evaluation_metric_names?: unknown[] | null;
  feedback_score?: number | null;
  apply_eval_frac?: number | null;
  log_sample_rate?: number | null;
  deployment_id?: string | null;
  cache_hit?: boolean | null;
  metadata?: Record<string, unknown> | null;
  tags?: unknown[] | null;
  images?: unknown[] | null;
  comments?: unknown[] | null;
  annotations?: Record<string, unknown> | null;
  depth?: number | null;
  execution_order?: number | null;
  children?: unknown[] | null;
  children_logs?: unknown[] | null;
  [key: string]: unknown;
}

/** A span after {@link normalizeSpanForWire}: safe for the Python SDK's response parser. */
export interface WireSpan extends Span {
  depth: number;
  execution_order: number;
  children: string[];
  children_logs: unknown[];
  scores: Score[];
  images: Record<string, unknown>[];
  comments: Record<string, unknown>[];
  annotations: Record<string, Record<string, unknown>>;
}

// ---------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

/**
 * An ISO 8601 timestamp with an offset or `Z` → [epoch seconds, microseconds 0..999999], or null
 * when it is not one. Both parts are exact integers for any 4-digit year. Digits beyond the sixth
 * fractional one are truncated. Accepts `2024-08-09T18:39:56.123456+00:00`, `...Z`, `+0200`,
 * `+02`, a space or `t` for `T`, and no seconds (`T10:00Z`).
 */
export function parseTimestamp(value: string): [seconds: number, micros: number] | null {
  const m = ISO_TIMESTAMP.exec(value);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1) return null;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day > monthDays || hour > 23 || minute > 59 || second > 59) return null;
  const micros = m[7] === undefined ? 0 : Number(m[7].length === 6 ? m[7] : m[7].slice(0, 6).padEnd(6, '0'));
  let offsetMinutes = 0;
  const zone = m[8]!;
  if (zone !== 'Z' && zone !== 'z') {
    const digits = zone.length === 6 ? zone.slice(1, 3) + zone.slice(4) : zone.slice(1);
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + (minute - offsetMinutes) * 60 + second;
  return [seconds, micros];
}

/**
 * An ISO 8601 timestamp with an offset or `Z` → epoch MICROseconds, or null when it is not one.
 * `Date.parse` would drop the microseconds. Exact (an integer below 2^53) for years 1685 to 2255;
 * to order arbitrary years use {@link parseTimestamp}.
 */
export function parseTimestampMicros(value: string): number | null {
  const t = parseTimestamp(value);
  return t === null ? null : t[0] * 1_000_000 + t[1];
}

/** True when `value` is an ISO 8601 timestamp with an offset or `Z`. */
export function isIsoTimestamp(value: string): boolean {
  return parseTimestampMicros(value) !== null;
}

// ---------------------------------------------------------------------------
// Input validation (POST /trace_log)
// ---------------------------------------------------------------------------

const TIMESTAMP_MESSAGE = 'must be an ISO 8601 timestamp with an offset or Z, like 2024-08-09T18:39:56.123456+00:00';

const timestamp = z.string({ error: TIMESTAMP_MESSAGE }).refine(isIsoTimestamp, TIMESTAMP_MESSAGE);
const optionalId = z.string({ error: 'must be a string' }).max(MAX_ID_CHARS, ID_TOO_LONG).nullish();

/** A validated posted span; `start_timestamp` is absent only when neither it nor `end_timestamp` was sent. */
export type SpanInputValue = Omit<Span, 'start_timestamp'> & { start_timestamp?: string };

/**
 * A posted span (`POST /trace_log`, one TraceLog).
 * - `trace_id`: required, non-empty, at most MAX_ID_CHARS (256) characters.
 * - `parent_trace_id`, `root_trace_id`: default to `trace_id` when absent, null or empty
 *   (the TS SDK leaves `parent_trace_id` out on roots).
 * - `start_timestamp` / `end_timestamp`: ISO 8601 with an offset or `Z` when given. A missing
 *   `start_timestamp` falls back to `end_timestamp`; when both are missing the output has no
 *   `start_timestamp` and the caller sets "now" (see {@link spanFromInput}).
 * - `status`: `success` when absent or null (the SDKs leave it out on a span that succeeded).
 * - Every other field passes through untouched (the wire shape is fixed at read time by
 *   {@link normalizeSpanForWire}).
 */
export const SpanInput = z
  .looseObject({
    trace_id: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(MAX_ID_CHARS, ID_TOO_LONG),
    parent_trace_id: optionalId,
    root_trace_id: optionalId,
    start_timestamp: timestamp.nullish(),
    end_timestamp: timestamp.nullish(),
  })
  .transform((v): SpanInputValue => {
    const out: Record<string, unknown> = { ...v };
    out.parent_trace_id = v.parent_trace_id ? v.parent_trace_id : v.trace_id;
    out.root_trace_id = v.root_trace_id ? v.root_trace_id : v.trace_id;
    const start = v.start_timestamp ?? v.end_timestamp ?? undefined;
    if (start === undefined) delete out.start_timestamp;
    else out.start_timestamp = start;
    return out as SpanInputValue;
  });

/** A validated input with its start time settled: `nowIso` when it sent no timestamp at all. */
export function spanFromInput(input: SpanInputValue, nowIso: string): Span {
  const span = { ...input, start_timestamp: input.start_timestamp ?? nowIso } as Span;
  // The SDKs post a finished span without a status when it succeeded (an error comes with status "error").
  if (span.status === undefined || span.status === null) span.status = 'success';
  return span;
}

// ---------------------------------------------------------------------------
// Wire normalization (the spec's null rules, one node)
// ---------------------------------------------------------------------------

const NUMERIC_STRING = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** A finite number, or a numeric string (`"0.5"`, `" 1e3 "`) as a number; otherwise null. */
export function toFiniteNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && NUMERIC_STRING.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** JSON text of a non-string value (strings are returned as they are). */
export function stringifyValue(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

/**
 * Copies `src`'s own enumerable keys onto `target` (an own `__proto__` key, which JSON.parse can
 * produce, stays an own data property instead of replacing the prototype).
 */
function copyInto(target: Record<string, unknown>, src: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const keys = Object.keys(src);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k === '__proto__') Object.defineProperty(target, k, { value: src[k], enumerable: true, writable: true, configurable: true });
    else target[k] = src[k];
  }
  return target;
}

/** `v` when it is an array of plain objects only (shared, not copied), else a new array of its plain objects ([] for a non-array). */
function objectsOnly(v: unknown): Record<string, unknown>[] {
  if (!Array.isArray(v)) return [];
  for (let i = 0; i < v.length; i++) {
    if (!isPlainObject(v[i])) return v.filter(isPlainObject);
  }
  return v as Record<string, unknown>[];
}

/**
 * Scores for the wire: objects with a string `name` (a number is turned into a string) and a
 * finite numeric `score` (a numeric string is coerced); anything else is dropped. Valid score
 * objects are kept as they are; coerced ones are copied.
 */
export function normalizeScores(v: unknown): Score[] {
  if (!Array.isArray(v)) return [];
  const out: Score[] = [];
  for (const s of v) {
    if (!isPlainObject(s)) continue;
    const score = toFiniteNumber(s.score);
    if (score === null) continue;
    const name = typeof s.name === 'string' ? s.name : typeof s.name === 'number' ? String(s.name) : null;
    if (name === null) continue;
    if (score === s.score && name === s.name) {
      out.push(s as Score);
    } else {
      const copy = copyInto({}, s);
      copy.name = name;
      copy.score = score;
      out.push(copy as Score);
    }
  }
  return out;
}

const DIGITS = /^\d+$/;

function normalizeAnnotations(v: unknown): Record<string, Record<string, unknown>> {
  if (!isPlainObject(v)) return {};
  let clean = true;
  for (const criterion of Object.keys(v)) {
    const byUser = v[criterion];
    if (!DIGITS.test(criterion) || !isPlainObject(byUser)) {
      clean = false;
      break;
    }
    for (const user of Object.keys(byUser)) {
      if (!isPlainObject(byUser[user])) {
        clean = false;
        break;
      }
    }
    if (!clean) break;
  }
  if (clean) return v as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  for (const criterion of Object.keys(v)) {
    const byUser = v[criterion];
    if (!DIGITS.test(criterion) || !isPlainObject(byUser)) continue;
    const users: Record<string, unknown> = {};
    for (const user of Object.keys(byUser)) {
      if (isPlainObject(byUser[user])) copyInto(users, { [user]: byUser[user] });
    }
    out[criterion] = users;
  }
  return out;
}

function normalizeInputs(v: Record<string, unknown>): Record<string, string> {
  const keys = Object.keys(v);
  let clean = true;
  for (let i = 0; i < keys.length; i++) {
    if (typeof v[keys[i]!] !== 'string') {
      clean = false;
      break;
    }
  }
  if (clean) return v as Record<string, string>;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const value = v[k];
    if (value !== undefined) copyInto(out, { [k]: stringifyValue(value) });
  }
  return out as Record<string, string>;
}

/**
 * Applies the spec's null rules to ONE node (its `children_logs` entries are not visited) and
 * returns a new object; the span is not modified. Fields the rules do not name are kept as sent.
 * Like any shallow copy, the result shares nested values that needed no change with the span
 * (treat both as immutable).
 *
 * - `trace_id`, `parent_trace_id`, `root_trace_id`, `start_timestamp`: always strings (parent and
 *   root default to `trace_id`; `start_timestamp` to `end_timestamp`, else `''`).
 * - `depth`, `execution_order`: finite numbers (numeric strings coerced), default 0.
 * - `children`: array of strings (numbers stringified, other entries dropped), default [].
 * - `children_logs`, `images`, `comments`: arrays of objects, default [] (non-objects dropped: the
 *   SDK parser reads each entry as a mapping).
 * - `scores`: see {@link normalizeScores}.
 * - `annotations`: object, default {}; entries whose key is not a string of digits or whose value
 *   is not an object of objects are dropped (the SDK parser does `int(key)` and `.items()`).
 * - `configuration` (when an object): `messages` an array of objects (default []), `model_params`
 *   an object (default {}). A non-object `configuration` other than null is dropped.
 * - `inputs` (when an object): every value a string (non-strings JSON-stringified, undefined
 *   dropped). A non-object `inputs` other than null becomes `{ "value": <its JSON> }`.
 * - `output`, `target`, `output_for_eval_metrics`: strings when present and not null
 *   (non-strings JSON-stringified).
 * - The wire keys come first in the result, then the span's other keys in their order.
 */
export function normalizeSpanForWire(span: Readonly<Record<string, unknown>>): WireSpan {
  return normalizeNode(span, false);
}

/** @internal `forTree`: leave `children` / `children_logs` empty (the tree builder fills them). */
export function normalizeNode(span: Readonly<Record<string, unknown>>, forTree: boolean): WireSpan {
  // Starting from a literal that declares the wire keys is several times faster in V8 than
  // spreading the span and adding keys afterwards (measured on 100k spans).
  const out = copyInto(
    {
      trace_id: '',
      parent_trace_id: '',
      root_trace_id: '',
      start_timestamp: '',
      depth: 0,
      execution_order: 0,
      children: null,
      scores: null,
      images: null,
      comments: null,
      annotations: null,
    },
    span,
  );

  const traceId = typeof span.trace_id === 'string' ? span.trace_id : span.trace_id == null ? '' : stringifyValue(span.trace_id);
  out.trace_id = traceId;
  out.parent_trace_id = requiredString(span.parent_trace_id, traceId);
  out.root_trace_id = requiredString(span.root_trace_id, traceId);
  out.start_timestamp = requiredString(span.start_timestamp, typeof span.end_timestamp === 'string' ? span.end_timestamp : '');

  const depth = span.depth;
  out.depth = typeof depth === 'number' && Number.isFinite(depth) ? depth : (toFiniteNumber(depth) ?? 0);
  const eo = span.execution_order;
  out.execution_order = typeof eo === 'number' && Number.isFinite(eo) ? eo : (toFiniteNumber(eo) ?? 0);

  const children: string[] = [];
  if (!forTree && Array.isArray(span.children)) {
    for (const c of span.children) {
      if (typeof c === 'string') children.push(c);
      else if (typeof c === 'number' && Number.isFinite(c)) children.push(String(c));
    }
  }
  out.children = children;
  out.children_logs = forTree ? [] : objectsOnly(span.children_logs);
  out.scores = normalizeScores(span.scores);
  out.images = objectsOnly(span.images);
  out.comments = objectsOnly(span.comments);
  out.annotations = normalizeAnnotations(span.annotations);

  const conf = span.configuration;
  if (conf !== null && conf !== undefined) {
    if (isPlainObject(conf)) {
      const messages = objectsOnly(conf.messages);
      const modelParams = isPlainObject(conf.model_params) ? conf.model_params : {};
      if (messages !== conf.messages || modelParams !== conf.model_params) {
        const configuration = copyInto({}, conf);
        configuration.messages = messages;
        configuration.model_params = modelParams;
        out.configuration = configuration;
      }
    } else {
      delete out.configuration;
    }
  }

  const inputs = span.inputs;
  if (inputs !== null && inputs !== undefined) {
    out.inputs = isPlainObject(inputs) ? normalizeInputs(inputs) : { value: stringifyValue(inputs) };
  }

  let v = span.output;
  if (v !== null && v !== undefined && typeof v !== 'string') out.output = stringifyValue(v);
  v = span.target;
  if (v !== null && v !== undefined && typeof v !== 'string') out.target = stringifyValue(v);
  v = span.output_for_eval_metrics;
  if (v !== null && v !== undefined && typeof v !== 'string') out.output_for_eval_metrics = stringifyValue(v);

  return out as WireSpan;
}

function requiredString(v: unknown, fallback: string): string {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return fallback;
}

// ---------------------------------------------------------------------------
// PUT /trace_log
// ---------------------------------------------------------------------------

/**
 * Applies a PUT's `field_name_to_value_map` to a stored span and returns a new span.
 * - Shallow merge: the patch's value wins for every field, except:
 * - `scores` merge by `name`: a patch score replaces the base score of the same name (in its
 *   place), new names are appended in patch order. A patch `scores` that is not an array
 *   (null, absent) leaves the base scores as they are.
 * - `metadata` merges keys (the patch wins per key). A patch `metadata` that is not an object
 *   leaves the base metadata as it is.
 * - `trace_id` is never changed by a patch (the span's identity is the PUT's `trace_id`).
 */
export function mergeSpan<T extends Record<string, unknown>>(
  base: T,
  patch: Readonly<Record<string, unknown>>,
): T & Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'trace_id' && 'trace_id' in base) continue;
    if (key === 'scores') {
      if (Array.isArray(value)) out.scores = mergeScores(base.scores, value);
      continue;
    }
    if (key === 'metadata') {
      if (isPlainObject(value)) out.metadata = isPlainObject(base.metadata) ? { ...base.metadata, ...value } : { ...value };
      continue;
    }
    // A data property, never an assignment: a field named "__proto__" must stay a field, not become the prototype.
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out as T & Record<string, unknown>;
}

function mergeScores(base: unknown, patch: readonly unknown[]): unknown[] {
  const out: unknown[] = Array.isArray(base) ? [...base] : [];
  const byName = new Map<string, number>();
  out.forEach((s, i) => {
    if (isPlainObject(s) && typeof s.name === 'string' && !byName.has(s.name)) byName.set(s.name, i);
  });
  for (const s of patch) {
    const name = isPlainObject(s) && typeof s.name === 'string' ? s.name : undefined;
    const at = name === undefined ? undefined : byName.get(name);
    if (at !== undefined) {
      out[at] = s;
    } else {
      if (name !== undefined) byName.set(name, out.length);
      out.push(s);
    }
  }
  return out;
}
