/** What the trace-log use cases refuse, and the limits they refuse by. */
import { DomainError } from '../errors.js';

export type TraceLogErrorKind = 'invalid_body' | 'invalid_cursor' | 'payload_too_large' | 'busy';

/** A trace-log request refused: a bad span or update, a foreign cursor, a span too large to keep, or too much contention. */
export class TraceLogError extends DomainError<TraceLogErrorKind> {}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/**
 * A span's ids are parts of index keys (a sort key holds at most 1,024 bytes): `trace_id`,
 * `root_trace_id` and `experiment_uuid` may hold at most this many UTF-8 bytes.
 */
export const MAX_SPAN_ID_BYTES = 255;

/**
 * base + patches + doc of one span must fit in one DynamoDB item (400 KB, with the keys):
 * a span (with its updates) of up to about 190 KB.
 */
export const MAX_SPAN_ITEM_TEXT_BYTES = 380 * 1024;

/** API functions time out after 10 s: an experiment read stops in time to build and send what it read. */
export const DEFAULT_READ_BUDGET_MS = 6_000;
/** The most root trees one experiment read asks for. */
export const MAX_LIMIT = 10_000;
