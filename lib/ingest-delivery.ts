/**
 * How SQS delivers the bucket's notifications to the ingest function, read by the stateless stack (the
 * event source and the redrive policy) and by the local stack's queue (local/stack.ts), so both deliver
 * alike. Plain data: no CDK import.
 */

/** Messages per invocation at most (the event source's batch size). */
export const INGEST_BATCH_SIZE = 5;

/** Deliveries before a message moves to the DLQ (owned by functions/shared/env-defaults.ts, whose worker reads it). */
export { MAX_RECEIVE_COUNT } from '../functions/shared/env-defaults.js';
