/**
 * Throttling, in one place: which AWS errors say "too many requests" (the stores' and queues'),
 * which transaction cancellation codes do, and how many DynamoDB attempts were throttled.
 */

/** Error names the AWS clients throw for throttling, once their own retries are spent. */
export const THROTTLE_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'SlowDown',
  'TooManyRequestsException',
]);

/** The stores said "too many requests" even after the SDK's retries: the client should retry later. */
export function isThrottle(err: unknown): boolean {
  return err instanceof Error && THROTTLE_ERROR_NAMES.has(err.name);
}

/** A cancelled transaction's reasons name a throttled item (DynamoDB's CancellationReasons codes). */
export function cancelledByThrottle(codes: readonly (string | undefined)[]): boolean {
  return codes.some((c) => c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded');
}

/** DynamoDB calls throttled in this process since the last metrics flush (clients.ts's middleware counts each attempt). */
let throttled = 0;

export function countThrottle(): void {
  throttled++;
}

/** The count so far, reset. */
export function takeThrottles(): number {
  const n = throttled;
  throttled = 0;
  return n;
}
