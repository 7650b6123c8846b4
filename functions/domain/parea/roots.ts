/**
 * The root index of a project's trace logs: what it keeps of each tree's root span (RootFacts).
 * Its port, TraceLogRootIndex, is in ./ports.ts (functions/adapters/dynamo/span-store.ts writes
 * the index, in the transaction that stores the root; functions/adapters/dynamo/trace-log-roots.ts
 * reads it). Pure: no AWS types.
 */
import { parseTimestamp } from './span.js';

// ---------------------------------------------------------------------------
// Root facts: what the root index keeps of a root span
// ---------------------------------------------------------------------------

/** What the index and its counters keep of a tree's root span. */
export interface RootFacts {
  /** The tree (root_trace_id): the member's key. */
  rootTraceId: string;
  /** The root span's own id (an OTel root's differs from its tree's id). */
  traceId: string;
  /** The start instant, normalized (`YYYY-MM-DDTHH:MM:SS.ffffffZ`): sorts as the instant. */
  start: string;
  /** The root's status (`success` when it has none). */
  status: string;
}

/** An instant as a fixed-width UTC string with microseconds, or null outside years 0000-9999. */
export function normalizedInstant(timestamp: string): string | null {
  const t = parseTimestamp(timestamp);
  if (t === null) return null;
  const d = new Date(t[0] * 1000);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 0 || d.getUTCFullYear() > 9999) return null;
  return `${d.toISOString().slice(0, 19)}.${String(t[1]).padStart(6, '0')}Z`;
}

/** The normalized form of an epoch-millisecond instant (for time-range bounds). */
export function instantOfMs(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

/** Statuses longer than this are indexed under their first 128 characters (a key part). */
export const MAX_STATUS_CHARS = 128;

/**
 * The root facts of a materialized span (JSON text), or null when it is not a root: a root is a
 * span whose parent is itself (Parea's roots and OTel's), or whose id is its tree's id.
 */
export function rootFactsOf(doc: string | null): RootFacts | null {
  if (doc === null) return null;
  let span: Record<string, unknown>;
  try {
    span = JSON.parse(doc) as Record<string, unknown>;
  } catch {
    return null;
  }
  const traceId = span.trace_id;
  const rootTraceId = span.root_trace_id;
  if (typeof traceId !== 'string' || typeof rootTraceId !== 'string') return null;
  const parent = typeof span.parent_trace_id === 'string' && span.parent_trace_id !== '' ? span.parent_trace_id : traceId;
  if (parent !== traceId && traceId !== rootTraceId) return null;
  const start = typeof span.start_timestamp === 'string' ? normalizedInstant(span.start_timestamp) : null;
  if (start === null) return null;
  const status = typeof span.status === 'string' && span.status !== '' ? span.status.slice(0, MAX_STATUS_CHARS) : 'success';
  return { rootTraceId, traceId, start, status };
}

/** Whether a span write changes what the root index keeps (then the store writes the member and counters with it). */
export function rootChanged(before: RootFacts | null, after: RootFacts | null): boolean {
  if (before === null || after === null) return before !== after;
  return (
    before.rootTraceId !== after.rootTraceId ||
    before.traceId !== after.traceId ||
    before.start !== after.start ||
    before.status !== after.status
  );
}
