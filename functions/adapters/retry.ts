/** The adapters' retry kit: the one backoff (functions/domain/backoff.ts), Node's sleep, and which errors are worth another try. */
import { THROTTLE_ERROR_NAMES } from '../shared/throttles.js';

export { backoffMs } from '../domain/backoff.js';
export { setTimeout as sleep } from 'node:timers/promises';

const RETRYABLE = new Set([
  ...THROTTLE_ERROR_NAMES,
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

/** Throttling, server-side and connection errors: worth another try. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (RETRYABLE.has(e.name) || (e.code !== undefined && RETRYABLE.has(e.code))) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}
