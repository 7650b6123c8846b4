import {
  BatchGetItemCommand,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  ConditionalCheckFailedException,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import {
  OtelBusyError,
  OTLP_SOURCE,
  type CreateResult,
  type OtelTraceStore,
  type OtelTraceWrite,
  type StoredOtelTrace,
} from '../../domain/otel/ingest.js';
import type { Tenant } from '../../domain/tenancy.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { marshall } from '@aws-sdk/util-dynamodb';
import { unpackText } from '../../domain/trace.js';
import { createdAtOf, keys } from './keys.js';
import { traceItem } from './trace-writer.js';
import { uploadByFilenameItem } from './upload-store.js';
import { EXPIRY_GRACE_DAYS, expiresAt, withExpiry } from '../../domain/expiry.js';
import { traceWorkItem } from './search-work.js';
import { cancelledByThrottle } from '../../shared/throttles.js';

interface PayloadReader {
  read(key: string): Promise<{ input: string | null; document: string }>;
}

/**
 * OTel traces in the single table. A trace item is built by `traceItem()` like any other
 * (trace-writer.ts), plus `otel_version` (N), the version its exports write it at. Creation is one
 * transaction with the project's counters, so a trace is counted once, when it is created; later
 * exports update the item's document and what comes from it (UpdateItem, never a Put, so the
 * evaluations' attributes on it stay), conditional on `otel_version`.
 */
export class DynamoOtelTraceStore implements OtelTraceStore {
  /** Counter items known to hold their `by_source` map (per warm container): a nested SET needs it. */
  private readonly ready = new Set<string>();

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly payloads: PayloadReader,
    /** retentionDays: the filename-order item of an OTel trace expires as an upload's does (domain/expiry.ts); searchWork: with a search index, each creation and update also records the trace as work for the indexer (in its transaction). */
    private readonly options: { maxAttempts?: number; baseDelayMs?: number; retentionDays?: number | undefined; searchWork?: boolean } = {},
  ) {}

  async read(tenant: Tenant, ids: string[]): Promise<Map<string, StoredOtelTrace>> {
    if (ids.length > 100) throw new Error('BatchGetItem reads at most 100 keys');
    const found = new Map<string, Record<string, AttributeValue>>();
    let pending: Record<string, AttributeValue>[] = ids.map((id) => {
      const k = keys.trace(tenant.organizationId, tenant.projectId, id);
      return { pk: { S: k.pk }, sk: { S: k.sk } };
    });
    const maxAttempts = this.options.maxAttempts ?? 8;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= maxAttempts) throw new OtelBusyError('the table is throttling reads; retry after a moment');
      if (attempt > 0) await sleep(backoffMs(attempt, this.options.baseDelayMs ?? 50));
      try {
        const out = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: {
              // The whole item (a projection would not read less: DynamoDB charges by item size).
              [this.table]: { Keys: pending, ConsistentRead: true },
            },
          }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const id = ids.find((x) => keys.trace(tenant.organizationId, tenant.projectId, x).pk === item.pk?.S);
          if (id !== undefined) found.set(id, item);
        }
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      } catch (err) {
        if (!isRetryable(err)) throw err;
      }
    }
    const traces = new Map<string, StoredOtelTrace>();
    await Promise.all(
      [...found].map(async ([id, item]) => {
        const state = await this.stateOf(item);
        if (state !== null) traces.set(id, state);
      }),
    );
    return traces;
  }

  /**
   * An OTel trace's state from its item. The one place that reads the trace item's layout (what
   * trace-writer.ts's `traceItem()` writes: `doc_z`/`doc_zb` or `payload_key`, the order key `ok`); any other
   * item under the key (none should be) is not an OTel trace to merge into.
   */
  private async stateOf(item: Record<string, AttributeValue>): Promise<StoredOtelTrace | null> {
    if (item.type?.S !== 'trace' || item.otel_version?.N === undefined) return null;
    const payloadKey = item.payload_key?.S ?? null;
    const packed = item.doc_z?.B ?? item.doc_zb?.B;
    const document = payloadKey !== null ? (await this.payloads.read(payloadKey)).document : packed ? unpackText(packed) : '';
    return { document, payloadKey, createdAt: createdAtOf(item.ok?.S ?? ''), version: Number(item.otel_version.N) };
  }

  async create(tenant: Tenant, writes: OtelTraceWrite[]): Promise<CreateResult> {
    if (writes.length === 0) return { outcome: 'created' };
    const createdAt = writes[0]!.trace.createdAt;
    if (writes.some((w) => w.trace.createdAt !== createdAt || w.version !== 1))
      throw new Error('create takes new traces (version 1) of one creation time');
    const counter = keys.counter(tenant.organizationId, tenant.projectId);
    const hour = keys.hourCounter(tenant.organizationId, tenant.projectId, createdAt);
    await this.ensureCounters([counter, hour]);
    const n = { N: String(writes.length) };
    const count = (key: { pk: string; sk: string }, withSources: boolean): TransactWriteItem => ({
      Update: {
        TableName: this.table,
        Key: { pk: { S: key.pk }, sk: { S: key.sk } },
        UpdateExpression: `SET by_source.#s = if_not_exists(by_source.#s, :zero) + :n ADD traces :n${withSources ? ', sources :src' : ''}`,
        ExpressionAttributeNames: { '#s': OTLP_SOURCE },
        ExpressionAttributeValues: { ':zero': { N: '0' }, ':n': n, ...(withSources ? { ':src': { SS: [OTLP_SOURCE] } } : {}) },
      },
    });
    const items: TransactWriteItem[] = [
      ...writes.map((w) => ({
        Put: {
          TableName: this.table,
          Item: { ...traceItem(w.trace), otel_version: { N: '1' } },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      })),
      // Each OTel trace is its own "upload" in the filename order, its one id held inline.
      ...writes.map((w) => ({
        Put: {
          TableName: this.table,
          Item: marshall(
            withExpiry(
              uploadByFilenameItem(w.trace, { traces: 1, idChunks: 0 }, [w.trace.id]),
              expiresAt(this.options.retentionDays, Date.parse(createdAt) || Date.now(), EXPIRY_GRACE_DAYS),
            ),
          ),
        },
      })),
      count(counter, true),
      count(hour, false),
      // After the counters, so the cancellation reasons of the traces keep their places.
      ...(this.options.searchWork
        ? writes.map((w) => ({ Put: { TableName: this.table, Item: marshall(traceWorkItem(tenant, w.trace.id)) } }))
        : []),
    ];
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
      return { outcome: 'created' };
    } catch (err) {
      if (err instanceof TransactionConflictException) return { outcome: 'conflict' };
      if (!(err instanceof TransactionCanceledException)) throw err;
      const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
      const exists = writes.filter((_, i) => codes[i] === 'ConditionalCheckFailed').map((w) => w.trace.id);
      if (exists.length > 0) return { outcome: 'exists', ids: exists };
      if (codes.includes('TransactionConflict')) return { outcome: 'conflict' };
      if (cancelledByThrottle(codes)) {
        throw new OtelBusyError('the table is throttling writes; retry after a moment');
      }
      throw err;
    }
  }

  async update(tenant: Tenant, next: OtelTraceWrite): Promise<boolean> {
    const item = traceItem(next.trace);
    // What traceItem() writes in either form (inline or offloaded): the other form's attributes go.
    const inline = {
      ...traceItem({ ...next.trace, packed: new Uint8Array(1), payloadKey: null, packedSearch: null }),
      doc_zb: { B: new Uint8Array(1) },
    };
    const offloaded = traceItem({ ...next.trace, packed: null, payloadKey: 'x', packedSearch: new Uint8Array(1) });
    const possible = new Set([...Object.keys(inline), ...Object.keys(offloaded)]);
    const names: Record<string, string> = { '#v': 'otel_version' };
    const values: Record<string, AttributeValue> = { ':expected': { N: String(next.version - 1) }, ':next': { N: String(next.version) } };
    const sets: string[] = ['#v = :next'];
    const removes: string[] = [];
    let i = 0;
    for (const name of possible) {
      if (name === 'pk' || name === 'sk') continue;
      names[`#a${i}`] = name;
      if (Object.hasOwn(item, name)) {
        values[`:a${i}`] = item[name]!;
        sets.push(`#a${i} = :a${i}`);
      } else {
        removes.push(`#a${i}`);
      }
      i++;
    }
    const k = keys.trace(tenant.organizationId, tenant.projectId, next.trace.id);
    const update = {
      TableName: this.table,
      Key: { pk: { S: k.pk }, sk: { S: k.sk } },
      UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression: '#v = :expected',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    };
    try {
      if (this.options.searchWork) {
        // The trace's new text and the indexer's work item together: the index never keeps an old text unnoticed.
        await this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [{ Update: update }, { Put: { TableName: this.table, Item: marshall(traceWorkItem(tenant, next.trace.id)) } }],
          }),
        );
      } else {
        await this.client.send(new UpdateItemCommand(update));
      }
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      // Someone else wrote it meanwhile: read again and merge (as a failed condition does).
      if (err instanceof TransactionConflictException) return false;
      if (
        err instanceof TransactionCanceledException &&
        (err.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict')
      )
        return false;
      throw err;
    }
  }

  /** The counter items exist with their `by_source` map and `traces` (as the upload store makes them), once per container. */
  private async ensureCounters(counterKeys: { pk: string; sk: string }[]): Promise<void> {
    for (const key of counterKeys) {
      const id = `${key.pk}\u0000${key.sk}`;
      if (this.ready.has(id)) continue;
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          UpdateExpression: 'SET by_source = if_not_exists(by_source, :empty), traces = if_not_exists(traces, :zero), #type = :type',
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: { ':empty': { M: {} }, ':zero': { N: '0' }, ':type': { S: 'counter' } },
        }),
      );
      if (this.ready.size >= 10_000) this.ready.clear();
      this.ready.add(id);
    }
  }
}
