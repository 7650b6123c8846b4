import { ConditionalCheckFailedException, TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tenant } from '../../domain/tenancy.js';
import type { DeleteResult, TraceMaintenanceStore, TraceToDelete } from '../../domain/trace-maintenance.js';
import { evalCounterUpdate } from './eval-counters.js';
import { createdAtOf, judgeMember, keys, STATUS_MEMBER } from './keys.js';
import { readCurrentTrace } from './migration.js';
import { traceWorkItem } from './search-work.js';

/** Judge members deleted in the trace's own transaction (with the trace, up to four counters and its status member: under 100 items). */
const MEMBERS_IN_DELETE = 90;

/** Trace deletion with its counters, and the project's sources: all by key, never a scan. */
export class DynamoTraceMaintenance implements TraceMaintenanceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** With a search index: the delete's transaction also records the trace as work for the indexer. */
    private readonly options: { searchWork?: boolean } = {},
  ) {}

  async findTrace(tenant: Tenant, traceId: string): Promise<TraceToDelete | null> {
    const item = await readCurrentTrace(this.doc, this.table, keys.trace(tenant.organizationId, tenant.projectId, traceId), {
      ProjectionExpression: 'pk, #source, payload_key, ok, eval_status, judge_ids',
      ExpressionAttributeNames: { '#source': 'source' },
    });
    if (!item || typeof item.source !== 'string') return null;
    return {
      source: item.source,
      payloadKey: typeof item.payload_key === 'string' ? item.payload_key : null,
      createdAt: typeof item.ok === 'string' ? createdAtOf(item.ok) : null,
      evalStatus: typeof item.eval_status === 'string' ? item.eval_status : null,
      judgeIds: item.judge_ids instanceof Set ? [...(item.judge_ids as Set<string>)].sort() : [],
    };
  }

  /**
   * One transaction: the trace's delete (only if it exists) and the counters'
   * decrement (only if they count it, so they never go below zero). A
   * repeated or concurrent delete finds the trace gone and subtracts nothing.
   */
  async deleteTrace(tenant: Tenant, traceId: string, trace: TraceToDelete): Promise<DeleteResult> {
    const { organizationId: org, projectId: project } = tenant;
    const source = trace.source;
    const traceKey = keys.trace(org, project, traceId);
    // A transaction holds at most 100 items: judges past the first MEMBERS_IN_DELETE go first, each with its count.
    const inline = trace.judgeIds.slice(0, MEMBERS_IN_DELETE);
    for (const judge of trace.judgeIds.slice(MEMBERS_IN_DELETE)) await this.dropJudge(tenant, traceId, source, judge);
    const members = [
      ...(trace.evalStatus !== null ? [keys.traceMember(org, project, traceId, STATUS_MEMBER)] : []),
      ...inline.map((j) => keys.traceMember(org, project, traceId, judgeMember(j))),
    ].map((Key) => ({ Delete: { TableName: this.table, Key } }));
    const evalCounts = evalCounterUpdate(this.table, org, project, traceId, {
      source,
      status: trace.evalStatus !== null ? { [trace.evalStatus]: -1 } : {},
      judges: Object.fromEntries(inline.map((j) => [j, -1])),
    });
    // Last, so the cancellation reasons above keep their places; the indexer drops the trace's entry from this.
    const searchWork = this.options.searchWork ? [{ Put: { TableName: this.table, Item: traceWorkItem(tenant, traceId) } }] : [];
    const evalItems = [...members, ...(evalCounts ? [{ Update: evalCounts }] : []), ...searchWork];
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
    const counters = [decrement(keys.counter(org, project))];
    if (trace.createdAt) counters.push(decrement(keys.hourCounter(org, project, trace.createdAt)));
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Delete: traceDelete }, ...counters, ...evalItems] }));
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
    // The counters do not include this trace (its upload has not completed yet): delete it with its members alone.
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Delete: traceDelete }, ...evalItems] }));
      return { outcome: 'deleted', counted: false };
    } catch (err) {
      if (err instanceof TransactionConflictException) return { outcome: 'conflict' };
      if (err instanceof TransactionCanceledException) {
        const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
        if (codes[0] === 'ConditionalCheckFailed') return { outcome: 'missing' };
        if (codes.includes('TransactionConflict')) return { outcome: 'conflict' };
      }
      throw err;
    }
  }

  /** Deletes one judge member with its count (a no-op when an earlier attempt did). */
  private async dropJudge(tenant: Tenant, traceId: string, source: string, judge: string): Promise<void> {
    const { organizationId: org, projectId: project } = tenant;
    const counts = evalCounterUpdate(this.table, org, project, traceId, { source, status: {}, judges: { [judge]: -1 } })!;
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.table,
                Key: keys.traceMember(org, project, traceId, judgeMember(judge)),
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
            { Update: counts },
          ],
        }),
      );
    } catch (err) {
      if (!(err instanceof TransactionCanceledException) || err.CancellationReasons?.[0]?.Code !== 'ConditionalCheckFailed') throw err;
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
