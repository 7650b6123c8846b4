import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import type { StoredTrace, TraceWriter } from '../../domain/ports.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { keys, orderKey, shardOf, traceIndex, TRACE_SHARDS } from './keys.js';

const S = (s: string): AttributeValue => ({ S: s });

/**
 * The DynamoDB item of a trace, built directly as attribute values (no marshalling pass). Lean:
 * the document deflated, no copy of the input or the search text (both are derived from the
 * document when read), the tenant and id only in the key, the creation time and position only
 * in the order key. A ~1 KB record makes an item under 1 KB (one write unit) and two one-unit
 * index entries: gsi4 (every trace) and gsi5 (its source), each in one of TRACE_SHARDS partitions.
 */
export function traceItem(t: StoredTrace): Record<string, AttributeValue> {
  const k = keys.trace(t.organizationId, t.projectId, t.id);
  const shard = shardOf(t.id, TRACE_SHARDS);
  const item: Record<string, AttributeValue> = {
    pk: S(k.pk),
    sk: S(k.sk),
    type: S('trace'),
    ok: S(orderKey(t.createdAt, t.uploadId, t.position)),
    gsi4pk: S(traceIndex.all(t.organizationId, t.projectId, shard)),
    gsi5pk: S(traceIndex.source(t.organizationId, t.projectId, shard, t.source)),
    filename: S(t.filename),
    source: S(t.source),
    upload_id: S(t.uploadId),
  };
  if (t.integrationId !== null) item.integration_id = S(t.integrationId);
  // An input the document does not give (renderInput of it would not): kept as it is.
  if (!t.inputFromDocument && t.payloadKey === null) item.input = t.input === null ? { NULL: true } : S(t.input);
  if (t.packed !== null) item[documentAttribute(t.packed)] = { B: t.packed };
  if (t.payloadKey !== null) item.payload_key = S(t.payloadKey);
  if (t.packedSearch !== null) item.search_z = { B: t.packedSearch };
  return item;
}

/**
 * A deflated document of up to this many bytes is copied into the every-trace index (gsi4) as
 * `doc_z`, so a list page is one read and the entry stays one write unit (with its keys and view,
 * under 1 KB). A bigger one is `doc_zb`, which no index holds: copying it would cost a write unit
 * per KB on every trace, while reading it back for a page costs half a read unit per 4 KB.
 */
export const INDEXED_DOCUMENT_BYTES = 512;

/** The attribute a deflated document goes in. */
export function documentAttribute(packed: Uint8Array): 'doc_z' | 'doc_zb' {
  return packed.length <= INDEXED_DOCUMENT_BYTES ? 'doc_z' : 'doc_zb';
}

/** A trace item's deflated document, whichever attribute holds it (see traceItem). */
export function packedDocument(item: Record<string, unknown>): Uint8Array | null {
  if (item.doc_z instanceof Uint8Array) return item.doc_z;
  if (item.doc_zb instanceof Uint8Array) return item.doc_zb;
  return null;
}

/** An input kept in the item (one the document does not give): a string, null, or undefined when the document gives it. */
export function storedInput(item: Record<string, unknown>): string | null | undefined {
  if (!('input' in item)) return undefined;
  return typeof item.input === 'string' ? item.input : null;
}

export interface TraceWriterOptions {
  /** Attempts per batch before it fails (each after a backoff). */
  maxAttempts?: number;
  baseDelayMs?: number;
}

export class DynamoTraceWriter implements TraceWriter {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly options: TraceWriterOptions = {},
  ) {}

  async writeBatch(traces: StoredTrace[]): Promise<void> {
    if (traces.length > 25) throw new Error('BatchWriteItem takes at most 25 items');
    await this.writeRequests(traces.map((t) => ({ PutRequest: { Item: traceItem(t) } })));
  }

  /** Sends the requests, retrying unprocessed items and retryable errors with backoff and jitter. */
  async writeRequests(requests: WriteRequest[]): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 10;
    let pending = requests;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 0) await sleep(backoffMs(attempt, this.options.baseDelayMs ?? 50));
      try {
        const out = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }));
        pending = out.UnprocessedItems?.[this.table] ?? [];
        lastError = pending.length > 0 ? new Error(`${pending.length} items left unprocessed (throttled)`) : null;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        lastError = err;
      }
    }
    if (pending.length > 0) {
      const why = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`BatchWriteItem failed after ${maxAttempts} attempts: ${why}`, { cause: lastError });
    }
  }

  async owners(organizationId: string, projectId: string, ids: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 100) {
      let pending: Record<string, AttributeValue>[] = ids.slice(i, i + 100).map((id) => {
        const k = keys.trace(organizationId, projectId, id);
        return { pk: S(k.pk), sk: S(k.sk) };
      });
      const maxAttempts = this.options.maxAttempts ?? 10;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= maxAttempts) throw new Error(`BatchGetItem failed after ${maxAttempts} attempts`);
        if (attempt > 0) await sleep(backoffMs(attempt, this.options.baseDelayMs ?? 50));
        try {
          const out = await this.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.table]: { Keys: pending, ConsistentRead: true, ProjectionExpression: 'pk, upload_id' },
              },
            }),
          );
          const prefix = keys.trace(organizationId, projectId, '').pk;
          for (const item of out.Responses?.[this.table] ?? []) {
            if (item.pk?.S && item.upload_id?.S) found.set(item.pk.S.slice(prefix.length), item.upload_id.S);
          }
          pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
        } catch (err) {
          if (!isRetryable(err)) throw err;
        }
      }
    }
    return found;
  }
}
