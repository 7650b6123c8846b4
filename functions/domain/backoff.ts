import { setTimeout as sleep } from 'node:timers/promises';

/** Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2^attempt)). */
export function backoffMs(attempt: number, baseMs = 50, capMs = 5_000): number {
  return Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Waits {@link backoffMs} before retry `attempt` of a conflicting write (the domain's read-change-write loops). */
export async function backoff(attempt: number, baseMs: number, capMs: number): Promise<void> {
  await sleep(backoffMs(attempt, baseMs, capMs));
}
