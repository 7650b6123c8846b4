/**
 * The experiment logs filter (`POST /experiment/{experiment_uuid}/trace_logs` body):
 *
 *     {"filter_field": str|null, "filter_key": str|null, "filter_operator": str|null, "filter_value": str|null}
 *
 * Pure. Decisions (the spec leaves them open):
 * - No filter: a null/absent body, `{}`, or a body whose `filter_field` and `filter_operator` are
 *   both null or blank (a stray `filter_key`/`filter_value` alone is ignored). A field without an
 *   operator, or an operator without a field, is a {@link FilterError}.
 * - `filter_operator` is trimmed and lower-cased; `filter_value` may also be sent as a number or a
 *   boolean (it is turned into its string).
 * - Fields:
 *   - a span field by name (`trace_name`, `status`, `latency`, `tags`, any other key of the span);
 *   - with `filter_key`, the key inside a map field (`metadata` + `run`, `configuration` + `model`,
 *     `inputs` + `question`); the known map fields (`metadata`, `inputs`, `configuration`,
 *     `annotations`) need a `filter_key` for every operator but `is_null` / `exists`;
 *   - `filter_key` on a field whose value is not an object finds nothing (absent); it is ignored
 *     for `score:` and `annotation:` fields;
 *   - `score:{name}`: the numeric `score` of the span's first score named `name`;
 *   - `annotation:{type}:{id}`: the numeric scores of every user's annotation under criterion
 *     `id` (the key of `annotations`, digits). `{type}` is accepted and IGNORED: the criterion id
 *     alone identifies the criterion, and the spec's annotation objects carry no type to check
 *     it against. `annotation:{id}` is accepted too.
 * - Multi-valued fields (`tags` and any array field, `annotation:*`): `equals`, `like`, `in` and
 *   the comparisons match when ANY element matches; `not_equals` when the field is present and NO
 *   element equals the value.
 * - Values: numbers compare as numbers when the span value is a number or a numeric string and
 *   the filter value parses as a finite number; else two ISO 8601 timestamps compare as instants;
 *   else strings compare as strings (code-unit order, case-sensitive). Booleans compare as
 *   `"true"` / `"false"`. Object values match only `is_null` / `exists`.
 * - A null or absent value matches only `is_null` (so `not_equals` does not match it, as in SQL).
 *   `exists` is the opposite of `is_null`; both ignore `filter_value`.
 * - `in` / `between` values: a JSON array (`["a","b"]`, `[1,5]`) when the value starts with `[`,
 *   else comma-separated values (`a,b`; items trimmed, empty items dropped). `between` needs
 *   exactly two (inclusive bounds, low first); `in` at least one and at most 1000.
 * - `like`: SQL pattern, `%` any run of characters, `_` exactly one, `\` escapes the next
 *   character; case-insensitive and anchored (whole value). Matched without regular expressions,
 *   so regex metacharacters are plain characters and no pattern can backtrack catastrophically.
 * - Numeric span fields (`latency`, `cost`, the token counts, `score:*`, `annotation:*`, ...) need
 *   numeric filter values for every operator but `like`, `is_null` and `exists`.
 * - A tree matches when its root or ANY span in it matches ({@link matchesTree}): the response
 *   lists whole root trees, and a filter such as `status equals error` or `score:accuracy` must
 *   find the trees whose failing or scored span is a child.
 */
import * as z from 'zod';
import { parseTimestampMicros, toFiniteNumber } from './span.js';
import type { TreeNode } from './tree.js';

import { FILTER_OPERATORS } from './operators.js';
import { describeIssues } from '../issues.js';
import { isPlainObject } from '../objects.js';
import { DomainError } from '../errors.js';
export { FILTER_OPERATORS, type FilterOperator } from './operators.js';

/** Span fields whose values are numbers: their filter values must be numbers too. */
export const NUMERIC_FIELDS: readonly string[] = [
  'latency',
  'time_to_first_token',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'cost',
  'feedback_score',
  'apply_eval_frac',
  'log_sample_rate',
  'depth',
  'execution_order',
];

/** Map fields: compared through `filter_key` only. */
export const MAP_FIELDS: readonly string[] = ['metadata', 'inputs', 'configuration', 'annotations'];

const MAX_LIST_VALUES = 1000;

/** A filter that cannot be applied; the message says what is allowed. */
export class FilterError extends DomainError<'invalid_filter'> {
  constructor(message: string) {
    super('invalid_filter', message);
  }
}

const OPERATORS_TEXT = FILTER_OPERATORS.join(', ');

const blankToNull = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? null : v);
const name = (max: number) =>
  z.preprocess(blankToNull, z.string({ error: 'must be a string or null' }).trim().max(max, `must be at most ${max} characters`).nullish());

/** The filter body. Unknown keys are dropped. */
export const TraceLogFilter = z.object(
  {
    filter_field: name(512),
    filter_key: name(512),
    filter_operator: z.preprocess(
      (v) => (typeof v === 'string' ? (v.trim() === '' ? null : v.trim().toLowerCase()) : v),
      z.enum(FILTER_OPERATORS, { error: `must be one of ${OPERATORS_TEXT}` }).nullish(),
    ),
    filter_value: z
      .union([z.string().max(10_000, 'must be at most 10000 characters'), z.number(), z.boolean()], {
        error: 'must be a string or null',
      })
      .transform((v) => String(v))
      .nullish(),
  },
  { error: 'must be a JSON object with filter_field, filter_key, filter_operator and filter_value' },
);
export type TraceLogFilterBody = z.infer<typeof TraceLogFilter>;

export type SpanPredicate = (span: Readonly<Record<string, unknown>>) => boolean;

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/** A comparable value: its text, its number (when numeric), its instant (lazily, when a timestamp). */
interface Operand {
  text: string;
  num: number | null;
  ts?: number | null;
}

function operandOf(v: unknown): Operand | null {
  if (typeof v === 'string') return { text: v, num: toFiniteNumber(v) };
  if (typeof v === 'number') return Number.isFinite(v) ? { text: String(v), num: v } : null;
  if (typeof v === 'boolean') return { text: String(v), num: null };
  return null;
}

function instant(o: Operand): number | null {
  if (o.ts === undefined) o.ts = o.num === null ? parseTimestampMicros(o.text) : null;
  return o.ts;
}

/** <0, 0, >0 per the documented rules (numbers, then instants, then strings). */
function compareOperands(a: Operand, b: Operand): number {
  if (a.num !== null && b.num !== null) return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
  const tb = b.num === null ? instant(b) : null;
  if (tb !== null) {
    const ta = instant(a);
    if (ta !== null) return ta < tb ? -1 : ta > tb ? 1 : 0;
  }
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

/** The comparable elements of a present value (array elements, or the value itself); objects and nulls are skipped. */
function operandsOf(raw: unknown): Operand[] {
  const out: Operand[] = [];
  if (Array.isArray(raw)) {
    for (const e of raw) {
      const o = operandOf(e);
      if (o !== null) out.push(o);
    }
  } else {
    const o = operandOf(raw);
    if (o !== null) out.push(o);
  }
  return out;
}

// ---------------------------------------------------------------------------
// LIKE
// ---------------------------------------------------------------------------

const ANY = 0;
const ONE = 1;
type LikeToken = string | typeof ANY | typeof ONE;

function compileLike(pattern: string): LikeToken[] {
  const tokens: LikeToken[] = [];
  const chars = Array.from(pattern.toLowerCase());
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '\\' && i + 1 < chars.length) tokens.push(chars[++i]!);
    else if (ch === '%') {
      if (tokens[tokens.length - 1] !== ANY) tokens.push(ANY);
    } else if (ch === '_') tokens.push(ONE);
    else tokens.push(ch);
  }
  return tokens;
}

/** Wildcard match with backtracking to the last `%` only: O(text × pattern) at worst. */
function likeMatches(tokens: readonly LikeToken[], value: string): boolean {
  const text = Array.from(value.toLowerCase());
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const tok = p < tokens.length ? tokens[p] : undefined;
    if (tok === ONE || (typeof tok === 'string' && tok === text[t])) {
      t++;
      p++;
    } else if (tok === ANY) {
      starP = p++;
      starT = t;
    } else if (starP !== -1) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < tokens.length && tokens[p] === ANY) p++;
  return p === tokens.length;
}

// ---------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------

type Getter = (span: Readonly<Record<string, unknown>>) => unknown;

interface FieldPlan {
  get: Getter;
  numeric: boolean;
  /** A map field used without filter_key. */
  bareMap: boolean;
}

function planField(field: string, key: string | null | undefined): FieldPlan {
  if (field.startsWith('score:')) {
    const scoreName = field.slice('score:'.length);
    if (scoreName === '') throw new FilterError('filter_field score:{score_name} needs a score name, like score:accuracy');
    return {
      numeric: true,
      bareMap: false,
      get: (span) => {
        const scores = span.scores;
        if (!Array.isArray(scores)) return undefined;
        for (const s of scores) {
          if (isPlainObject(s) && s.name === scoreName) return toFiniteNumber(s.score) ?? undefined;
        }
        return undefined;
      },
    };
  }
  if (field.startsWith('annotation:')) {
    const rest = field.slice('annotation:'.length);
    const id = rest.slice(rest.lastIndexOf(':') + 1);
    if (!/^\d+$/.test(id)) {
      throw new FilterError(
        'filter_field annotation:{annotation_type}:{annotation_id} needs a numeric annotation id, like annotation:score:12',
      );
    }
    return {
      numeric: true,
      bareMap: false,
      get: (span) => {
        const annotations = span.annotations;
        if (!isPlainObject(annotations) || !Object.hasOwn(annotations, id)) return undefined;
        const byUser = annotations[id];
        if (!isPlainObject(byUser)) return undefined;
        const scores: number[] = [];
        for (const a of Object.values(byUser)) {
          const s = isPlainObject(a) ? toFiniteNumber(a.score) : null;
          if (s !== null) scores.push(s);
        }
        return scores.length > 0 ? scores : undefined;
      },
    };
  }
  if (key !== null && key !== undefined) {
    return {
      numeric: false,
      bareMap: false,
      get: (span) => {
        const map = Object.hasOwn(span, field) ? span[field] : undefined;
        return isPlainObject(map) && Object.hasOwn(map, key) ? map[key] : undefined;
      },
    };
  }
  return {
    numeric: NUMERIC_FIELDS.includes(field),
    bareMap: MAP_FIELDS.includes(field),
    get: (span) => (Object.hasOwn(span, field) ? span[field] : undefined),
  };
}

// ---------------------------------------------------------------------------
// Filter values
// ---------------------------------------------------------------------------

function parseList(raw: string, op: 'in' | 'between'): string[] {
  const how = `${op} takes a JSON array like ${op === 'in' ? '["a","b"]' : '[1,5]'} or comma-separated values like ${op === 'in' ? 'a,b' : '1,5'}`;
  const text = raw.trim();
  let items: string[];
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new FilterError(`filter_value is not a valid JSON array: ${how}`);
    }
    if (
      !Array.isArray(parsed) ||
      !parsed.every((x) => typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)))
    ) {
      throw new FilterError(`filter_value must be an array of strings or numbers: ${how}`);
    }
    items = parsed.map((x) => String(x));
  } else {
    items = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (op === 'between' && items.length !== 2) {
    throw new FilterError(`between needs exactly two values (low and high, inclusive), got ${items.length}: ${how}`);
  }
  if (items.length === 0) throw new FilterError(`in needs at least one value: ${how}`);
  if (items.length > MAX_LIST_VALUES) throw new FilterError(`in takes at most ${MAX_LIST_VALUES} values`);
  return items;
}

// ---------------------------------------------------------------------------
// compileFilter
// ---------------------------------------------------------------------------

/**
 * The filter body → a predicate over one span, or null for "no filter".
 * Throws {@link FilterError} for an invalid body, an unknown operator, or an unusable value.
 */
export function compileFilter(body: unknown): SpanPredicate | null {
  if (body === null || body === undefined) return null;
  const parsed = TraceLogFilter.safeParse(body);
  if (!parsed.success) {
    throw new FilterError(describeIssues(parsed.error, 'filter'));
  }
  const { filter_field: field, filter_key: key, filter_operator: op, filter_value: value } = parsed.data;
  if (!field && !op) return null;
  if (!op) throw new FilterError(`filter_operator is required with filter_field; it must be one of ${OPERATORS_TEXT}`);
  if (!field) {
    throw new FilterError(
      'filter_field is required with filter_operator: a span field (like trace_name, status, latency, tags, metadata with filter_key), score:{score_name} or annotation:{annotation_type}:{annotation_id}',
    );
  }

  const plan = planField(field, key);
  const get = plan.get;
  if (op === 'is_null') return (span) => get(span) == null;
  if (op === 'exists') return (span) => get(span) != null;

  if (plan.bareMap) {
    throw new FilterError(`filter_field ${field} is a map: give filter_key (the key inside it), or use is_null / exists`);
  }
  if (value === null || value === undefined) throw new FilterError(`${op} needs a filter_value`);

  if (op === 'like') {
    const tokens = compileLike(value);
    return (span) => operandsOf(get(span)).some((o) => likeMatches(tokens, o.text));
  }

  const operands = (op === 'in' || op === 'between' ? parseList(value, op) : [value]).map((v) => operandOf(v)!);
  if (plan.numeric) {
    const bad = operands.find((o) => o.num === null);
    if (bad !== undefined) {
      throw new FilterError(
        `${field} is numeric: filter_value must be a number${operands.length > 1 ? ' for every value' : ''}, got ${JSON.stringify(bad.text)}`,
      );
    }
  }

  const fv = operands[0]!;
  switch (op) {
    case 'equals':
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, fv) === 0);
    case 'not_equals':
      return (span) => {
        const raw = get(span);
        return raw != null && !operandsOf(raw).some((o) => compareOperands(o, fv) === 0);
      };
    case 'greater_than':
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, fv) > 0);
    case 'greater_than_or_equal':
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, fv) >= 0);
    case 'less_than':
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, fv) < 0);
    case 'less_than_or_equal':
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, fv) <= 0);
    case 'in':
      return (span) => operandsOf(get(span)).some((o) => operands.some((w) => compareOperands(o, w) === 0));
    case 'between': {
      const lo = operands[0]!;
      const hi = operands[1]!;
      return (span) => operandsOf(get(span)).some((o) => compareOperands(o, lo) >= 0 && compareOperands(o, hi) <= 0);
    }
  }
}

/**
 * Whether a span has the filter's field at all, whatever its value (null for no filter): what tells
 * "no span has this field" (a misspelt field, or `accuracy` for the score `score:accuracy`) from
 * "no span matched". Call after compileFilter accepted the body.
 */
export function filterFieldProbe(body: unknown): SpanPredicate | null {
  const parsed = TraceLogFilter.safeParse(body ?? null);
  if (!parsed.success || !parsed.data.filter_field || !parsed.data.filter_operator) return null;
  const plan = planField(parsed.data.filter_field, parsed.data.filter_key);
  return (span) => plan.get(span) !== undefined;
}

/** True when the tree's root or ANY span in it matches. Iterative (deep trees are fine). */
export function matchesTree(node: TreeNode, predicate: SpanPredicate): boolean {
  const stack: TreeNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (predicate(n)) return true;
    const kids = n.children_logs;
    if (Array.isArray(kids)) for (const c of kids) stack.push(c);
  }
  return false;
}

/** The root trees that match (all of them when `predicate` is null). */
export function filterForest(forest: readonly TreeNode[], predicate: SpanPredicate | null): TreeNode[] {
  return predicate === null ? [...forest] : forest.filter((root) => matchesTree(root, predicate));
}
