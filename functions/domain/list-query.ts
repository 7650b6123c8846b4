import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Tenant } from './tenancy.js';
import type { ListQuery } from './traces.js';
import { DomainError } from './errors.js';
import { MAX_ID_CHARS } from './ids.js';

/** `<n><m|h|d>`: minutes, hours or days back from now. */
const TIME_RANGE = /^(\d{1,6})([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_RANGE_MS = 3650 * UNIT_MS.d;

/** The longest search text a list takes. */
export const MAX_SEARCH_CHARS = 256;

/** The spellings clients before Stratix 1.3.3 sent, and their snake_case names. */
export const CAMEL_ALIASES: Readonly<Record<string, string>> = {
  pageSize: 'page_size',
  judgeId: 'judge_id',
  timeRange: 'time_range',
  sortBy: 'sort_by',
  sortOrder: 'sort_order',
};

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const ListQuerySchema = z.object({
  page: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1_000_000)
    .default(1),
  page_size: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(500, 'must be at most 500')
    .default(100),
  source: text(MAX_ID_CHARS).optional(),
  judge_id: text(MAX_ID_CHARS).optional(),
  status: z.enum(['pass', 'fail', 'pending', 'unevaluated'], { error: 'must be one of pass, fail, pending, unevaluated' }).optional(),
  time_range: z
    .string()
    .trim()
    .refine((v) => {
      const m = TIME_RANGE.exec(v);
      return m !== null && Number(m[1]) >= 1 && Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] <= MAX_RANGE_MS;
    }, 'must be <n><m|h|d> with n at least 1 and at most 10 years, like 30m, 24h, 7d or 30d')
    .optional(),
  search: z.string().trim().max(MAX_SEARCH_CHARS, `must be at most ${MAX_SEARCH_CHARS} characters`).optional(),
  sort_by: z.enum(['created_at', 'filename'], { error: 'must be one of created_at, filename' }).default('created_at'),
  sort_order: z.enum(['asc', 'desc'], { error: 'must be one of asc, desc' }).default('desc'),
  cursor: z.string().min(1).max(4096).optional(),
});

/**
 * Query string parameters → snake_case (camelCase accepted; the snake_case spelling wins when both
 * are sent); empty values count as absent. `aliases`: the camelCase names a route accepts.
 */
export function normalizeListParams<V>(
  params: Readonly<Record<string, V | undefined>>,
  aliases: Readonly<Record<string, string>> = CAMEL_ALIASES,
): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue;
    const key = aliases[k] ?? k;
    if (key !== k && params[key] !== undefined && params[key] !== '') continue;
    out[key] = v;
  }
  return out;
}

/** The instant a validated `time_range` (`<n><m|h|d>`) starts at, counted back from `now`. */
export function sinceOf(timeRange: string, now: number): string {
  const m = TIME_RANGE.exec(timeRange)!;
  return new Date(now - Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]).toISOString();
}

export function toListQuery(p: z.infer<typeof ListQuerySchema>, now: number): ListQuery {
  const since = p.time_range ? sinceOf(p.time_range, now) : undefined;
  const search = p.search ? p.search.toLowerCase() : undefined;
  return {
    page: p.page,
    pageSize: p.page_size,
    source: p.source,
    judgeId: p.judge_id,
    status: p.status,
    since,
    search: search || undefined,
    sortBy: p.sort_by,
    sortOrder: p.sort_order,
    cursor: p.cursor,
  };
}

/** An opaque cursor refused for another caller or another query. */
export class CursorError extends DomainError<'invalid_cursor'> {
  constructor(message: string) {
    super('invalid_cursor', message);
  }
}

interface CursorBody {
  v: 1;
  /** Binds the cursor to its caller and query. */
  b: string;
  /** Where the next page starts (the index's keys of the last item served). */
  k: Record<string, string>;
  /** The total of a filtered query, counted once on its first page. */
  t?: number;
  /** Matches before the cursor, for a total only the reading counts (a search): a lower bound until the end is read. */
  m?: number;
  /** For a time range: the instant it was anchored at, so every page reads the same range. */
  s?: string;
}

/**
 * The binding of a cursor: the caller's tenant and every part of the query
 * that decides which items match and in what order (not the page size).
 */
function binding(tenant: Tenant, q: ListQuery, timeRange: string | undefined): string {
  const parts = [tenant.organizationId, tenant.projectId, q.source, q.judgeId, q.status, timeRange, q.search, q.sortBy, q.sortOrder];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

export function encodeCursor(
  tenant: Tenant,
  q: ListQuery,
  timeRange: string | undefined,
  key: Record<string, string>,
  counts: { total?: number; matchedBefore?: number } = {},
): string {
  const body: CursorBody = {
    v: 1,
    b: binding(tenant, q, timeRange),
    k: key,
    ...(counts.total !== undefined ? { t: counts.total } : {}),
    ...(counts.matchedBefore !== undefined ? { m: counts.matchedBefore } : {}),
    ...(q.since ? { s: q.since } : {}),
  };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** What this API puts in a cursor; a hand-made one that is anything else is refused, never sent on to the table. */
const CursorSchema = z.object({
  v: z.literal(1),
  b: z.string(),
  // Index sort keys: DynamoDB refuses a key condition value over 1,024 bytes.
  k: z.record(
    z.string(),
    z.string().refine((s) => Buffer.byteLength(s) <= 1024),
  ),
  t: z.number().int().nonnegative().optional(),
  m: z.number().int().nonnegative().optional(),
  // The instant a time range was anchored at, as toISOString wrote it.
  s: z
    .string()
    .refine((s) => {
      const t = Date.parse(s);
      return !Number.isNaN(t) && new Date(t).toISOString() === s;
    })
    .optional(),
});

export function decodeCursor(
  tenant: Tenant,
  q: ListQuery,
  timeRange: string | undefined,
  cursor: string,
): { key: Record<string, string>; total?: number; since?: string; matchedBefore?: number } {
  let body: z.infer<typeof CursorSchema>;
  try {
    body = CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new CursorError('cursor is not a cursor this API issued');
  }
  if (body.b !== binding(tenant, q, timeRange)) throw new CursorError('cursor belongs to another query or caller; start again without it');
  return {
    key: body.k,
    ...(body.t !== undefined ? { total: body.t } : {}),
    ...(body.m !== undefined ? { matchedBefore: body.m } : {}),
    ...(body.s ? { since: body.s } : {}),
  };
}
