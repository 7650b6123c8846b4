/**
 * The viewer's client of the public HTTP API: the key from the session in `x-api-key`, every
 * error answer (`{"error": {"code", "message"}}`) as an ApiError. Nothing here logs.
 */
import { clearSession, loadSession, type Session } from './session.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

let base = '';

/** Reads config.json (on AWS it names the API's URL); without one the API is this page's origin. */
export async function loadConfig(): Promise<void> {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (!res.ok) return;
    const c = (await res.json()) as { apiUrl?: unknown };
    if (typeof c.apiUrl === 'string') base = c.apiUrl.replace(/\/+$/, '');
  } catch {
    // no config: same origin
  }
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Called when the API refuses the key: the session ends. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function call<T>(method: string, path: string, body?: unknown, key?: string): Promise<Answer<T>> {
  const apiKey = key ?? loadSession()?.apiKey;
  if (!apiKey) throw new ApiError(401, 'unauthorized', 'not signed in');
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'the API could not be reached');
  }
  const text = await res.text();
  let parsed: unknown;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad_answer', `the API answered ${res.status} with something that is not JSON`);
    }
  }
  // 401: no key or a revoked one (the route says so); 403: the gateway's authorizer refused the key.
  if ((res.status === 401 || res.status === 403) && key === undefined) {
    clearSession();
    onUnauthorized();
  }
  if (res.status >= 400) {
    const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? 'error', e?.message ?? `the API answered ${res.status}`, parsed);
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export const get = <T>(path: string) => call<T>('GET', path).then((a) => a.body);

export function projectPath(s: Pick<Session, 'organizationId' | 'projectId'> = loadSession()!): string {
  return `/api/v1/organizations/${encodeURIComponent(s.organizationId)}/projects/${encodeURIComponent(s.projectId)}`;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---- the answers the viewer reads (the wire contract: functions/domain/wire.ts) ------------------

export interface LastEvaluation {
  judge_id: string;
  judge_name: string;
  judge_version: number;
  created_at: string;
  passed: boolean | null;
}

export interface Trace {
  id: string;
  organization_id: string;
  project_id: string;
  created_at: string;
  filename: string;
  data: unknown;
  input: string | null;
  integration_id: string | null;
  source: string;
  upload_id: string;
  evaluations_count: number;
  last_evaluations: LastEvaluation[];
}

export interface TraceList {
  traces: Trace[];
  count: number;
  total_count: number;
  /** False when total_count is a lower bound (a search that has not read the whole project yet). */
  total_count_exact: boolean;
  page: number | null;
  page_size: number;
  next_cursor: string | null;
}

export interface Evaluation {
  id: string;
  trace_id: string;
  judge_id: string;
  judge_name: string;
  judge_version: number;
  passed: boolean | null;
  score: number | null;
  reasoning: string | null;
  created_at: string;
  status?: string;
}

export interface LineError {
  line: number;
  message: string;
}

export type { StatsAnswer as Stats, StatsBucket } from '../../functions/domain/stats-wire.js';

export interface SpanNode {
  trace_id: string;
  parent_trace_id: string;
  root_trace_id: string;
  trace_name?: string | null;
  start_timestamp: string;
  end_timestamp?: string | null;
  status?: string | null;
  error?: string | null;
  latency?: number | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  total_tokens?: number | null;
  cost?: number | null;
  scores: Array<{ name: string; score: number; reason?: string | null }>;
  inputs?: unknown;
  output?: unknown;
  configuration?: unknown;
  metadata?: unknown;
  depth: number;
  children_logs: SpanNode[];
  [key: string]: unknown;
}

/**
 * The evaluation status of a trace from its latest evaluations, the rule of the server's
 * deriveEvalStatus (functions/domain/evaluations.ts, which the browser bundle cannot import: it
 * brings node:crypto along): pending if any is pending, else fail if any failed, else pass.
 */
export function evaluationStatus(t: Pick<Trace, 'evaluations_count' | 'last_evaluations'>): 'pass' | 'fail' | 'pending' | 'unevaluated' {
  const last = t.last_evaluations;
  if (t.evaluations_count === 0 || last.length === 0) return 'unevaluated';
  if (last.some((e) => e.passed === null)) return 'pending';
  return last.some((e) => e.passed === false) ? 'fail' : 'pass';
}
