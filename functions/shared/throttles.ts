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
