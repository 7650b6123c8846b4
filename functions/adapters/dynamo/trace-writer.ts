import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import type { StoredTrace, TraceWriter } from '../../domain/ports.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { createdSortKey, filenameSortKey, keys, sourcePartition } from './keys.js';

const S = (s: string): AttributeValue => ({ S: s });
const NULL: AttributeValue = { NULL: true };
const SorNull = (s: string | null): AttributeValue => (s === null ? NULL : { S: s });

/** The DynamoDB item of a trace, built directly as attribute values (no marshalling pass). */
export function traceItem(t: StoredTrace): Record<string, AttributeValue> {
  const k = keys.trace(t.organizationId, t.projectId, t.id);
  const item: Record<string, AttributeValue> = {
    pk: S(k.pk),
    sk: S(k.sk),
    gsi1pk: S(keys.projectPartition(t.organizationId, t.projectId)),
    gsi1sk: S(createdSortKey(t.createdAt, t.uploadId, t.position)),
    gsi2pk: S(sourcePartition(t.organizationId, t.projectId, t.source)),
    gsi2sk: S(createdSortKey(t.createdAt, t.uploadId, t.position)),
    gsi3pk: S(keys.projectPartition(t.organizationId, t.projectId)),
    gsi3sk: S(filenameSortKey(t.filename, t.createdAt, t.uploadId, t.position)),
    type: S('trace'),
    id: S(t.id),
    organization_id: S(t.organizationId),
    project_id: S(t.projectId),
    created_at: S(t.createdAt),
    filename: S(t.filename),
    source: S(t.source),
    integration_id: SorNull(t.integrationId),
    upload_id: S(t.uploadId),
    position: { N: String(t.position) },
    search: S(t.searchText),
  };
  if (t.payloadKey === null) {
    item.doc = S(t.document);
    item.input = SorNull(t.input);
  } else {
    item.payload_key = S(t.payloadKey);
  }
  return item;
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
                [this.table]: { Keys: pending, ConsistentRead: true, ProjectionExpression: 'id, upload_id' },
              },
            }),
          );
          for (const item of out.Responses?.[this.table] ?? []) {
            if (item.id?.S && item.upload_id?.S) found.set(item.id.S, item.upload_id.S);
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
