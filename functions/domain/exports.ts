/**
 * Exports small enough to answer at once (`GET .../traces/export`, `GET .../experiments/{uuid}/export`):
 * JSON Lines, one trace (as `GET .../traces/{id}` answers it) or one materialized span per line, as
 * many as fit in one Lambda answer and the read budget, with a cursor (`X-Next-Cursor`) for the rest.
 * The cursor anchors the range when the first page is read (its end, and a time range's start), so
 * following it to the end gives every match of that moment exactly once while new traces arrive.
 * Larger exports run as jobs (jobs.ts) and end in a download URL.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { CursorError } from './list-query.js';
import { escapedBytes } from './answer-size.js';
import type { Tenant } from './tenancy.js';
import { traceJson } from './traces.js';
import type { SpanRangeStore, TraceFilters, TraceRangeReader } from './jobs.js';
import { DomainError } from './errors.js';

/** What one answer carries at most: the body as the Lambda response object escapes it (the response is capped at 6 MB). */
export const MAX_EXPORT_ANSWER_BYTES = 5 * 1024 * 1024;
/** How long one answer reads (the API functions time out after 10 s). */
export const EXPORT_READ_BUDGET_MS = 5_000;

export interface ExportAnswer {
  body: string;
  lines: number;
  nextCursor: string | null;
}

/** One trace or span larger than an answer can hold: only an export job takes it. */
export class ExportTooLargeError extends DomainError<'export_too_large'> {
  constructor(message: string) {
    super('export_too_large', message);
  }
}

const CursorSchema = z.object({
  v: z.literal(1),
  b: z.string(),
  p: z.string().max(2048).nullable(),
  u: z.string().refine((s) => !Number.isNaN(Date.parse(s))),
  s: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)))
    .optional(),
});
type Cursor = z.infer<typeof CursorSchema>;

function binding(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

function encode(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decode(b: string, cursor: string): Cursor {
  let c: Cursor;
  try {
    c = CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new CursorError('cursor is not a cursor this API issued');
  }
  if (c.b !== b) throw new CursorError('cursor belongs to another export or caller; start again without it');
  return c;
}

/** Adds lines while they fit; answers whether the page is full. */
function fits(state: { lines: string[]; bytes: number }, line: string): boolean {
  const cost = escapedBytes(line) + 1;
  if (state.bytes + cost > MAX_EXPORT_ANSWER_BYTES) {
    if (state.lines.length === 0)
      throw new ExportTooLargeError(`one item is over ${MAX_EXPORT_ANSWER_BYTES} bytes, more than an answer holds: use POST .../exports`);
    return false;
  }
  state.lines.push(line);
  state.bytes += cost;
  return true;
}

/** A page of the matching traces, oldest first. `timeRange` and `since` are the request's (the cursor's anchor wins). */
export async function exportTracesPage(
  reader: TraceRangeReader,
  tenant: Tenant,
  req: { filters: TraceFilters; timeRange: string | undefined; cursor: string | undefined; now: number; budgetMs?: number },
): Promise<ExportAnswer> {
  const f = req.filters;
  const b = binding([tenant.organizationId, tenant.projectId, 'traces', f.source, f.judgeId, f.status, req.timeRange, f.search]);
  const at = req.cursor ? decode(b, req.cursor) : null;
  const until = at?.u ?? new Date(req.now).toISOString();
  const since = at ? at.s : f.since;
  const filters = { ...f, since };
  const deadline = Date.now() + (req.budgetMs ?? EXPORT_READ_BUDGET_MS);
  const state = { lines: [] as string[], bytes: 0 };
  let position = at?.p ?? null;
  for (;;) {
    const page = await reader.range(tenant, { filters, after: position, until, limit: 25, deadline, documents: true });
    for (const item of page.items) {
      if (!fits(state, traceJson(item.view!))) return answer(state, { v: 1, b, p: position, u: until, ...(since ? { s: since } : {}) });
      position = item.position;
    }
    position = page.position ?? position;
    if (page.done) return answer(state, null);
    if (Date.now() > deadline) return answer(state, { v: 1, b, p: position, u: until, ...(since ? { s: since } : {}) });
  }
}

/** A page of an experiment's spans (materialized), in the index's order. */
export async function exportSpansPage(
  store: SpanRangeStore,
  tenant: Tenant,
  req: { experimentUuid: string; cursor: string | undefined; now: number; budgetMs?: number },
): Promise<ExportAnswer> {
  const b = binding([tenant.organizationId, tenant.projectId, 'spans', req.experimentUuid]);
  const at = req.cursor ? decode(b, req.cursor) : null;
  const until = at?.u ?? new Date(req.now).toISOString();
  const deadline = Date.now() + (req.budgetMs ?? EXPORT_READ_BUDGET_MS);
  const state = { lines: [] as string[], bytes: 0 };
  let position = at?.p ?? null;
  const it = store.experimentRange(tenant, req.experimentUuid, position)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await it.next();
      if (next.done) return answer(state, null);
      if (!fits(state, next.value.doc)) return answer(state, { v: 1, b, p: position, u: until });
      position = next.value.position;
      if (Date.now() > deadline) return answer(state, { v: 1, b, p: position, u: until });
    }
  } finally {
    await it.return?.();
  }
}

function answer(state: { lines: string[] }, next: Cursor | null): ExportAnswer {
  return {
    body: state.lines.length ? `${state.lines.join('\n')}\n` : '',
    lines: state.lines.length,
    nextCursor: next ? encode(next) : null,
  };
}
