import { ConditionalCheckFailedException, TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tenant } from '../../domain/tenancy.js';
import type { DeleteResult, TraceMaintenanceStore, TraceToDelete } from '../../domain/trace-maintenance.js';
import { keys } from './keys.js';

/** Trace deletion with its counters, and the project's sources: all by key, never a scan. */
export class DynamoTraceMaintenance implements TraceMaintenanceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async findTrace(tenant: Tenant, traceId: string): Promise<TraceToDelete | null> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.trace(tenant.organizationId, tenant.projectId, traceId),
        ConsistentRead: true,
        ProjectionExpression: 'pk, #source, payload_key, created_at',
        ExpressionAttributeNames: { '#source': 'source' },
      }),
    );
    if (!out.Item || typeof out.Item.source !== 'string') return null;
    return {
      source: out.Item.source,
      payloadKey: typeof out.Item.payload_key === 'string' ? out.Item.payload_key : null,
      createdAt: typeof out.Item.created_at === 'string' ? out.Item.created_at : null,
    };
  }

  /**
   * One transaction: the trace's delete (only if it exists) and the counters'
   * decrement (only if they count it, so they never go below zero). A
   * repeated or concurrent delete finds the trace gone and subtracts nothing.
   */
  async deleteTrace(tenant: Tenant, traceId: string, trace: TraceToDelete): Promise<DeleteResult> {
    const source = trace.source;
    const traceKey = keys.trace(tenant.organizationId, tenant.projectId, traceId);
    const traceDelete = {
      TableName: this.table,
      Key: traceKey,
      ConditionExpression: 'attribute_exists(pk) AND #source = :source',
      ExpressionAttributeNames: { '#source': 'source' },
      ExpressionAttributeValues: { ':source': source },
    };
    const decrement = (Key: { pk: string; sk: string }) => ({
      Update: {
        TableName: this.table,
        Key,
        UpdateExpression: 'SET by_source.#s = by_source.#s - :one ADD traces :minusOne',
        ConditionExpression: 'by_source.#s >= :one AND traces >= :one',
        ExpressionAttributeNames: { '#s': source },
        ExpressionAttributeValues: { ':one': 1, ':minusOne': -1 },
      },
    });
    const counters = [decrement(keys.counter(tenant.organizationId, tenant.projectId))];
    if (trace.createdAt) counters.push(decrement(keys.hourCounter(tenant.organizationId, tenant.projectId, trace.createdAt)));
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Delete: traceDelete }, ...counters] }));
      return { outcome: 'deleted', counted: true };
    } catch (err) {
      if (err instanceof TransactionConflictException) return { outcome: 'conflict' };
      if (!(err instanceof TransactionCanceledException)) throw err;
      const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
      if (codes[0] === 'ConditionalCheckFailed') return { outcome: 'missing' };
      if (codes.includes('TransactionConflict')) return { outcome: 'conflict' };
      if (codes[1] !== 'ConditionalCheckFailed') {
        // Counted by the project but by no hour (written before hourly counters existed): delete without that one.
        if (codes[2] === 'ConditionalCheckFailed') return this.deleteTrace(tenant, traceId, { ...trace, createdAt: null });
        throw err;
      }
    }
    // The counters do not include this trace (its upload has not completed yet): delete it alone.
    try {
      await this.doc.send(new DeleteCommand(traceDelete));
      return { outcome: 'deleted', counted: false };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return { outcome: 'missing' };
      throw err;
    }
  }

  async pruneSource(tenant: Tenant, source: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.counter(tenant.organizationId, tenant.projectId),
          UpdateExpression: 'REMOVE by_source.#s DELETE sources :source',
          // An ingest that adds to this source in the meantime makes this a no-op.
          ConditionExpression: 'by_source.#s <= :zero',
          ExpressionAttributeNames: { '#s': source },
          ExpressionAttributeValues: { ':zero': 0, ':source': new Set([source]) },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async sources(tenant: Tenant): Promise<string[]> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.counter(tenant.organizationId, tenant.projectId),
        ConsistentRead: true,
        ProjectionExpression: 'sources, by_source',
      }),
    );
    const set = out.Item?.sources;
    if (!(set instanceof Set)) return [];
    const bySource = (out.Item?.by_source ?? {}) as Record<string, unknown>;
    // A source whose count reached zero is not listed, even before it is pruned from the set.
    return [...set].filter((s): s is string => typeof s === 'string' && (typeof bySource[s] !== 'number' || bySource[s] > 0));
  }
}
