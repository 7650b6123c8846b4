/**
 * A project's numbers over time, read from counters the ingest keeps (never by scanning traces
 * or spans at view time):
 *
 * - traces and bad lines per hour: the hourly trace counter, moved in the transaction that
 *   completes an upload (functions/adapters/dynamo/upload-store.ts) and by deletes;
 * - spans per hour (by the span's start time): count, errors, a latency histogram, tokens and
 *   cost, moved by an ADD of the difference whenever a span is first stored or its figures change
 *   ({@link spanStatsDelta}, called from functions/domain/parea/write.ts).
 *
 * Latency percentiles come from fixed log-scale buckets (four per doubling, so any estimate is
 * within about 9% of the true value); merging hours or days is adding bucket counts.
 *
 * Pure apart from the ports: no AWS types here.
 */
import * as z from 'zod';
import { parseTimestampMicros, toFiniteNumber } from './parea/span.js';
import type { StatsAnswer, StatsBucket } from './stats-wire.js';
import type { Tenant } from './tenancy.js';
import { DomainError } from './errors.js';

// ---------------------------------------------------------------------------
// Latency buckets
// ---------------------------------------------------------------------------

/** Buckets per doubling of the latency: bucket bounds grow by 2^(1/4) ≈ 1.19. */
export const BUCKETS_PER_DOUBLING = 4;
/** Bucket 0 holds latencies under 1 ms; the last one everything from 2^((MAX-1)/4) ms (≈ 4.7 h) up. */
export const MAX_LATENCY_BUCKET = 97;

/** The bucket of a latency in milliseconds (≥ 0). */
export function latencyBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(MAX_LATENCY_BUCKET, 1 + Math.floor(Math.log2(ms) * BUCKETS_PER_DOUBLING));
}

/** A bucket's bounds in milliseconds: [low, high). */
export function bucketBounds(bucket: number): [number, number] {
  if (bucket <= 0) return [0, 1];
  return [2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING), 2 ** (bucket / BUCKETS_PER_DOUBLING)];
}

/**
 * The q-quantile (0 < q ≤ 1) of the latencies counted in `buckets` (bucket → count), in ms:
 * the geometric middle of the bucket holding it (0.5 ms for bucket 0); null when nothing is counted.
 */
export function quantileMs(buckets: ReadonlyMap<number, number>, q: number): number | null {
  let total = 0;
  for (const n of buckets.values()) if (n > 0) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const b of [...buckets.keys()].sort((x, y) => x - y)) {
    const n = buckets.get(b)!;
    if (n <= 0) continue;
    seen += n;
    if (seen >= rank) {
      if (b === 0) return 0.5;
      const [lo, hi] = bucketBounds(b);
      return Math.round(Math.sqrt(lo * hi) * 100) / 100;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------
// A span's figures and the difference a change makes
// ---------------------------------------------------------------------------

/** Counts kept per span-stats hour; every field is a plain sum, so a change is an ADD of differences. */
export interface SpanCounts {
  spans: number;
  errors: number;
  /** Latency bucket → spans in it (spans without a latency are in none). */
  latency: Record<number, number>;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Cost in billionths (integers add up exactly; DynamoDB numbers cannot hold every float). */
  costNanos: number;
}

export interface HourDelta {
  /** `YYYY-MM-DDTHH` (UTC). */
  hour: string;
  add: SpanCounts;
}

/** Token counts and costs above these are taken as the limit (one span's figures; keeps sums exact). */
const MAX_TOKENS = 1e12;
const MAX_COST_NANOS = 1e15;
const MAX_LATENCY_MS = 1e10;

function nonNegative(v: unknown, max: number): number {
  const n = toFiniteNumber(v);
  return n === null || n < 0 ? 0 : Math.min(n, max);
}

function emptyCounts(): SpanCounts {
  return { spans: 0, errors: 0, latency: {}, inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0 };
}

/** `YYYY-MM-DDTHH` of an instant in epoch microseconds, or null outside years 0000-9999. */
function hourOfMicros(micros: number): string | null {
  const d = new Date(Math.floor(micros / 1000));
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 0 || d.getUTCFullYear() > 9999) return null;
  return d.toISOString().slice(0, 13);
}

/**
 * What one materialized span (its JSON text) adds to the hour it started in, or null when it has
 * no usable start time. Latency: `latency` (seconds, as the SDKs send it), else end minus start.
 * Tokens: `total_tokens`, else input plus output. Negative or non-numeric figures count as absent.
 */
export function spanContribution(doc: string): HourDelta | null {
  let span: Record<string, unknown>;
  try {
    span = JSON.parse(doc) as Record<string, unknown>;
  } catch {
    return null;
  }
  const start = typeof span.start_timestamp === 'string' ? parseTimestampMicros(span.start_timestamp) : null;
  if (start === null) return null;
  const hour = hourOfMicros(start);
  if (hour === null) return null;
  const add = emptyCounts();
  add.spans = 1;
  if (span.status === 'error' || (typeof span.error === 'string' && span.error !== '')) add.errors = 1;
  let latencyMs: number | null = null;
  const latency = toFiniteNumber(span.latency);
  if (latency !== null && latency >= 0) latencyMs = latency * 1000;
  else if (typeof span.end_timestamp === 'string') {
    const end = parseTimestampMicros(span.end_timestamp);
    if (end !== null && end >= start) latencyMs = (end - start) / 1000;
  }
  if (latencyMs !== null) add.latency[latencyBucket(Math.min(latencyMs, MAX_LATENCY_MS))] = 1;
  add.inputTokens = Math.round(nonNegative(span.input_tokens, MAX_TOKENS));
  add.outputTokens = Math.round(nonNegative(span.output_tokens, MAX_TOKENS));
  const total = toFiniteNumber(span.total_tokens);
  add.totalTokens = total !== null && total >= 0 ? Math.round(Math.min(total, MAX_TOKENS)) : add.inputTokens + add.outputTokens;
  add.costNanos = Math.round(nonNegative(span.cost, MAX_COST_NANOS / 1e9) * 1e9);
  return { hour, add };
}

function isZero(c: SpanCounts): boolean {
  return (
    c.spans === 0 &&
    c.errors === 0 &&
    c.inputTokens === 0 &&
    c.outputTokens === 0 &&
    c.totalTokens === 0 &&
    c.costNanos === 0 &&
    Object.values(c.latency).every((n) => n === 0)
  );
}

/** Adds `c` (times `sign`) into `target`. */
export function addInto(target: SpanCounts, c: SpanCounts, sign: 1 | -1 = 1): void {
  target.spans += sign * c.spans;
  target.errors += sign * c.errors;
  target.inputTokens += sign * c.inputTokens;
  target.outputTokens += sign * c.outputTokens;
  target.totalTokens += sign * c.totalTokens;
  target.costNanos += sign * c.costNanos;
  for (const [b, n] of Object.entries(c.latency)) {
    const k = Number(b);
    target.latency[k] = (target.latency[k] ?? 0) + sign * n;
    if (target.latency[k] === 0) delete target.latency[k];
  }
}

/**
 * What to ADD to the span-stats hours when a span's materialized text goes from `before` to
 * `after` (null: not materialized): its old contribution taken away, its new one added; hours
 * whose difference is zero are left out (a change of output or metadata alone writes nothing).
 */
export function spanStatsDelta(before: string | null, after: string | null): HourDelta[] {
  const byHour = new Map<string, SpanCounts>();
  const apply = (doc: string | null, sign: 1 | -1) => {
    const c = doc === null ? null : spanContribution(doc);
    if (c === null) return;
    let acc = byHour.get(c.hour);
    if (!acc) byHour.set(c.hour, (acc = emptyCounts()));
    addInto(acc, c.add, sign);
  };
  apply(before, -1);
  apply(after, 1);
  return [...byHour.entries()].filter(([, c]) => !isZero(c)).map(([hour, add]) => ({ hour, add }));
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/** Where span figures are added up (functions/adapters/dynamo/stats-store.ts). */
export interface SpanStatsSink {
  /** Adds the differences; `traceId` only spreads the writes (hot hours are sharded by it). */
  add(tenant: Tenant, traceId: string, deltas: readonly HourDelta[]): Promise<void>;
}

/** One hour's trace counter as stored. */
export interface TraceHour {
  hour: string;
  traces: number;
  badLines: number;
}

/** One hour's span counts (all shards of it added up). */
export interface SpanHour {
  hour: string;
  counts: SpanCounts;
}

export interface StatsReader {
  /** The hourly trace counters of the hours in [fromHour, toHour] that have one. */
  traceHours(tenant: Tenant, fromHour: string, toHour: string): Promise<TraceHour[]>;
  /** The span counts of the hours in [fromHour, toHour] that have any. */
  spanHours(tenant: Tenant, fromHour: string, toHour: string): Promise<SpanHour[]>;
}

// ---------------------------------------------------------------------------
// The read use case (GET .../stats)
// ---------------------------------------------------------------------------

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** At most this many hours per request (31 days): a read costs the range, never the project's size. */
export const MAX_STATS_HOURS = 31 * 24;
const TIME_RANGE = /^(\d{1,4})([hd])$/;

const instant = z
  .string()
  .trim()
  .refine(
    (v) =>
      /^\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(parseInstant(v)),
    'must be an ISO 8601 date or time, like 2026-12-01 or 2026-12-01T10:00:00Z',
  );

export const StatsQuerySchema = z
  .object({
    time_range: z
      .string()
      .trim()
      .refine(
        (v) => {
          const m = TIME_RANGE.exec(v);
          return m !== null && Number(m[1]) >= 1 && Number(m[1]) * (m[2] === 'd' ? 24 : 1) <= MAX_STATS_HOURS;
        },
        `must be <n>h or <n>d, at least 1h and at most ${MAX_STATS_HOURS / 24}d`,
      )
      .optional(),
    from: instant.optional(),
    to: instant.optional(),
    interval: z.enum(['hour', 'day'], { error: 'must be hour or day' }).default('hour'),
  })
  .refine((q) => !(q.time_range && (q.from || q.to)), { message: 'give time_range, or from (and to), not both', path: ['time_range'] })
  .refine((q) => !(q.to && !q.from), { message: 'to needs from', path: ['to'] });
export type StatsQuery = z.infer<typeof StatsQuerySchema>;

/** A stats window that ends before it starts, or is too long. */
export class StatsRangeError extends DomainError<'invalid_query'> {
  constructor(message: string) {
    super('invalid_query', message);
  }
}

function parseInstant(v: string): number {
  return Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v.length === 13 ? `${v}:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(v) ? v : `${v}Z`);
}

/**
 * The window a query asks for, whole hours or days (UTC): [from, to). Default the last 24 hours.
 * `from`/`to` are rounded down and up to the interval; a window over MAX_STATS_HOURS, or one that
 * ends before it starts, is a StatsRangeError.
 */
export function statsWindow(q: StatsQuery, now: number): { from: number; to: number } {
  const unit = q.interval === 'day' ? DAY_MS : HOUR_MS;
  const end = Math.floor(now / unit) * unit + unit; // "until now" takes in the current hour (or day)
  let from: number;
  let to: number;
  if (q.from) {
    from = Math.floor(parseInstant(q.from) / unit) * unit;
    to = q.to ? Math.ceil(parseInstant(q.to) / unit) * unit : end;
  } else {
    const m = TIME_RANGE.exec(q.time_range ?? '24h')!;
    to = end;
    from = Math.floor((end - Number(m[1]) * (m[2] === 'd' ? DAY_MS : HOUR_MS)) / unit) * unit;
  }
  if (to <= from) throw new StatsRangeError('to must be after from');
  if ((to - from) / HOUR_MS > MAX_STATS_HOURS) throw new StatsRangeError(`the window is over ${MAX_STATS_HOURS / 24} days; ask for less`);
  return { from, to };
}

export type { StatsAnswer, StatsBucket } from './stats-wire.js';

interface Acc {
  traces: number;
  badLines: number;
  counts: SpanCounts;
}

function finish(a: Acc): Omit<StatsBucket, 'start'> {
  const lat = new Map(Object.entries(a.counts.latency).map(([b, n]) => [Number(b), n]));
  return {
    traces: a.traces,
    bad_lines: a.badLines,
    spans: a.counts.spans,
    span_errors: a.counts.errors,
    latency_p50_ms: quantileMs(lat, 0.5),
    latency_p95_ms: quantileMs(lat, 0.95),
    input_tokens: a.counts.inputTokens,
    output_tokens: a.counts.outputTokens,
    total_tokens: a.counts.totalTokens,
    cost: a.counts.costNanos / 1e9,
  };
}

/** Every hour (or day) of the window, with zeros where nothing was counted, and the window's totals. */
export async function projectStats(reader: StatsReader, tenant: Tenant, q: StatsQuery, now = Date.now()): Promise<StatsAnswer> {
  const { from, to } = statsWindow(q, now);
  const unit = q.interval === 'day' ? DAY_MS : HOUR_MS;
  const fromHour = new Date(from).toISOString().slice(0, 13);
  const toHour = new Date(to - HOUR_MS).toISOString().slice(0, 13);
  const [traceHours, spanHours] = await Promise.all([
    reader.traceHours(tenant, fromHour, toHour),
    reader.spanHours(tenant, fromHour, toHour),
  ]);
  const slots: Acc[] = [];
  for (let t = from; t < to; t += unit) slots.push({ traces: 0, badLines: 0, counts: emptyCounts() });
  const total: Acc = { traces: 0, badLines: 0, counts: emptyCounts() };
  const slotOf = (hour: string) => {
    const i = Math.floor((Date.parse(`${hour}:00:00Z`) - from) / unit);
    return i >= 0 && i < slots.length ? slots[i]! : null;
  };
  for (const h of traceHours) {
    const s = slotOf(h.hour);
    if (!s) continue;
    s.traces += h.traces;
    s.badLines += h.badLines;
    total.traces += h.traces;
    total.badLines += h.badLines;
  }
  for (const h of spanHours) {
    const s = slotOf(h.hour);
    if (!s) continue;
    addInto(s.counts, h.counts, 1);
    addInto(total.counts, h.counts, 1);
  }
  return {
    interval: q.interval,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    buckets: slots.map((s, i) => ({ start: new Date(from + i * unit).toISOString(), ...finish(s) })),
    totals: finish(total),
  };
}

/** Adds a span change to the stats (if its figures changed); a failure is logged, never the write's failure. */
export async function recordSpanChange(
  sink: SpanStatsSink | undefined,
  tenant: Tenant,
  traceId: string,
  before: string | null,
  after: string | null,
  log?: (entry: Record<string, unknown>) => void,
): Promise<void> {
  if (!sink) return;
  const deltas = spanStatsDelta(before, after);
  if (deltas.length === 0) return;
  try {
    await sink.add(tenant, traceId, deltas);
  } catch (err) {
    // The span is stored; its figures are missing from the charts for that hour (never counted twice).
    log?.({ level: 'warn', msg: 'span stats not updated', trace_id: traceId, error: String(err) });
  }
}
