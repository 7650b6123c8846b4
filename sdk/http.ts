import { setTimeout as sleep } from 'node:timers/promises';
import type * as z from 'zod';
import { errorFromAnswer, TraceIngestError } from './errors.js';

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  retries: number;
  /** First backoff step in ms (default 250); doubles each retry, with jitter. */
  baseDelayMs: number;
  /** Longest wait between attempts, Retry-After included (default 30 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 30_000 };

export interface Call {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** Makes the body afresh for each attempt; a body that cannot be replayed sets `replayable: false`. */
  body?: () => RequestInit['body'] | AsyncIterable<Uint8Array>;
  replayable?: boolean;
  /**
   * Whether sending it twice does no harm (GET, PUT, DELETE are; a POST that creates something is not).
   * Only such calls are retried after a 5xx or a network failure; a 429 means nothing was done, so any call is.
   */
  idempotent?: boolean;
  /** Extra fetch options (e.g. `duplex: 'half'` for a stream body). */
  init?: Record<string, unknown>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

function idempotent(call: Call): boolean {
  return call.idempotent ?? IDEMPOTENT.has(call.method);
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), or null. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Exponential backoff with jitter: a random wait in [½, 1] × base × 2^attempt, capped. */
export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Sends a call, retrying 429 and 5xx answers (waiting Retry-After when the
 * server gives one, else backing off) and, for idempotent methods, network
 * failures. Answers the last response, whatever its status.
 */
export async function send(fetchFn: FetchLike, call: Call, policy: RetryPolicy): Promise<Response> {
  const retries = call.replayable === false ? 0 : policy.retries;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetchFn(call.url, {
        method: call.method,
        ...(call.headers ? { headers: call.headers } : {}),
        ...(call.body ? { body: call.body() as RequestInit['body'] } : {}),
        ...(call.init ?? {}),
      });
    } catch (err) {
      if (attempt < retries && idempotent(call)) {
        await sleep(backoffMs(attempt, policy));
        continue;
      }
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new TraceIngestError(
        0,
        'network_error',
        `${call.method} ${redact(call.url)} failed: ${err instanceof Error ? err.message : String(err)}${cause}`,
        undefined,
        { cause: err },
      );
    }
    if ((res.status === 429 || (res.status >= 500 && idempotent(call))) && attempt < retries) {
      const ra = retryAfterMs(res.headers.get('retry-after'));
      await res.body?.cancel().catch(() => {});
      await sleep(Math.min(policy.maxDelayMs, ra ?? backoffMs(attempt, policy)));
      continue;
    }
    return res;
  }
}

/** Throws a TraceIngestError for a non-2xx answer; parses and validates a JSON body. */
export async function readJson<S extends z.ZodType>(res: Response, schema: S, what: string): Promise<z.output<S>> {
  const text = await res.text();
  if (!res.ok) throw errorFromAnswer(res.status, res.statusText, text);
  return parseJson(res.status, text, schema, what);
}

export function parseJson<S extends z.ZodType>(status: number, text: string, schema: S, what: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TraceIngestError(status, 'invalid_response', `${what}: the answer is not JSON: ${text.slice(0, 200)}`, text);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'answer';
    throw new TraceIngestError(status, 'invalid_response', `${what}: unexpected answer (${where}: ${issue?.message ?? 'invalid'})`, value, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** A presigned URL's query string carries a signature: never print it. */
export function redact(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}
