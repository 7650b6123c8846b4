import { batchGetAll, queryPages } from './query.js';
import { allShards, EXPERIMENT_SHARDS, logRootIndex, segment, shardOf, spanIndex, TREE_SHARDS } from './keys.js';
import { countSharded, mergeShards } from './sharded-query.js';
import type { SpanRangeItem, SpanRangeStore } from '../../domain/jobs.js';
import { ConditionalCheckFailedException, TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  MAX_SPAN_ID_BYTES,
  type ExperimentSpan,
  type RootChange,
  type SpanPosition,
  type SpanRecord,
  type SpanStore,
} from '../../domain/parea/index.js';
import { rootFactsOf } from '../../domain/parea/index.js';
import { memberFacts, rootIndexWrites } from './trace-log-roots.js';
import type { Tenant } from '../../domain/tenancy.js';
import type { RetiringRoot } from '../../domain/retention.js';
import { expiresAt, isExpired, ROOT_SPAN_BACKSTOP_DAYS, TTL_DAY_SECONDS } from '../../domain/expiry.js';
import { cancelledByThrottle } from '../../shared/throttles.js';

/**
 * Experiment trace log spans in the single table:
 *
 *   span   pk SPAN#<org>#<project>#<trace_id>   sk S
 *          gsi4pk SX#<org>#<project>#<shard>#<experiment_uuid>   ok <root>#<trace_id>   (only with an experiment: sparse)
 *          gsi5pk SR#<org>#<project>#<shard>#<root_trace_id>     ok (as gsi4)
 *          base, patches, doc (JSON texts), version (N), trace_id, root_trace_id, parent_trace_id, experiment_uuid
 *          expires_at (TTL): the retention horizon; a root's (`ri`): the horizon + ROOT_SPAN_BACKSTOP_DAYS,
 *          its horizon in retire_at (the retention sweep retires it there, with its root-index member)
 *
 * An experiment's spans are spread over EXPERIMENT_SHARDS partitions by tree (every span of a tree
 * in the same one, next to each other), a tree's over TREE_SHARDS by span, so neither is one
 * partition. `<root>` in the sort key is root_trace_id with `%` and `#` percent-encoded (a UUID is
 * unchanged), so the first `#` always ends it, and `>= <root>$` starts right after a tree.
 */
export const spanKeys = {
  span: (org: string, project: string, traceId: string) => ({ pk: `SPAN#${org}#${project}#${traceId}`, sk: 'S' }),
  /** A tree's part of the index sort key. */
  rootPart: (rootTraceId: string) => segment(rootTraceId),
};

/** The span's item (DocumentClient form). */
export function spanItem(tenant: Tenant, r: SpanRecord): Record<string, unknown> {
  const { organizationId: org, projectId: project } = tenant;
  const item: Record<string, unknown> = {
    ...spanKeys.span(org, project, r.traceId),
    type: 'span',
    trace_id: r.traceId,
    root_trace_id: r.rootTraceId,
    patches: r.patches,
    version: r.version,
    gsi5pk: spanIndex.tree(org, project, r.rootTraceId, shardOf(r.traceId, TREE_SHARDS)),
    ok: `${spanKeys.rootPart(r.rootTraceId)}#${r.traceId}`,
  };
  if (r.parentTraceId !== null) item.parent_trace_id = r.parentTraceId;
  if (r.rootIndexed) item.ri = true;
  if (r.base !== null) item.base = r.base;
  if (r.doc !== null) item.doc = r.doc;
  if (r.expiresAt !== undefined) {
    // A root the index counts: the sweep deletes it at its horizon (moving the counters); the TTL is only a backstop.
    if (r.rootIndexed) {
      item.retire_at = r.expiresAt;
      item.expires_at = r.expiresAt + ROOT_SPAN_BACKSTOP_DAYS * TTL_DAY_SECONDS;
    } else item.expires_at = r.expiresAt;
  }
  if (r.experimentUuid !== null) {
    item.experiment_uuid = r.experimentUuid;
    item.gsi4pk = spanIndex.experiment(org, project, r.experimentUuid, shardOf(r.rootTraceId, EXPERIMENT_SHARDS));
  }
  return item;
}

/** A span item as the store's record. */
export function toRecord(i: Record<string, unknown>): SpanRecord {
  return {
    traceId: String(i.trace_id),
    rootTraceId: String(i.root_trace_id),
    parentTraceId: typeof i.parent_trace_id === 'string' ? i.parent_trace_id : null,
    experimentUuid: typeof i.experiment_uuid === 'string' ? i.experiment_uuid : null,
    base: typeof i.base === 'string' ? i.base : null,
    patches: Array.isArray(i.patches) ? i.patches.map(String) : [],
    doc: typeof i.doc === 'string' ? i.doc : null,
    version: Number(i.version ?? 0),
    ...(horizonOf(i) !== undefined ? { expiresAt: horizonOf(i) } : {}),
    ...(i.ri === true ? { rootIndexed: true } : {}),
  };
}

/** A span item's retention horizon (epoch seconds): a root's retire_at, else its TTL; undefined: kept forever. */
export function horizonOf(i: Record<string, unknown>): number | undefined {
  if (typeof i.retire_at === 'number') return i.retire_at;
  return typeof i.expires_at === 'number' ? i.expires_at : undefined;
}

/**
 * Reads by key treat a span past its TTL as gone (DynamoDB removes expired items some time later,
 * within days). The index reads (a tree, an experiment) cannot: `expires_at` is not projected into
 * gsi4/gsi5 (an index's projection cannot change in place), so an expired span stays in those
 * answers until DynamoDB has removed it.
 */
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * The writes that take a root-index member out as it was read (unchanged since: the condition),
 * with its counters moved by what it counted: for a member whose span is gone already.
 */
export function memberRetireWrites(table: string, tenant: Tenant, member: Record<string, unknown>): Record<string, unknown>[] {
  const writes = rootIndexWrites(table, tenant, { before: memberFacts(member), after: null });
  const names = { '#tr': 'trace_id', '#st': 'status', '#g1': 'gsi1sk', '#g3': 'gsi3sk' };
  const values: Record<string, unknown> = { ':tr': member.trace_id, ':st': member.status, ':g1': member.gsi1sk };
  let condition = '#tr = :tr AND #st = :st AND #g1 = :g1 AND ';
  if (typeof member.gsi3sk === 'string') {
    condition += '#g3 = :g3';
    values[':g3'] = member.gsi3sk;
  } else condition += 'attribute_not_exists(#g3)';
  return writes.map((w) =>
    w.Delete
      ? {
          Delete: {
            ...(w.Delete as object),
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          },
        }
      : w,
  );
}

export interface SpanStoreOptions {
  /** Days a span is kept after it is first stored (its retention horizon); absent: forever. */
  retentionDays?: number | undefined;
  /** Date.now() by default: when a span is first stored (its horizon counts from it). */
  clock?: () => number;
}

const isCancelled = (err: unknown) =>
  err instanceof ConditionalCheckFailedException ||
  err instanceof TransactionConflictException ||
  err instanceof TransactionCanceledException;

export class DynamoSpanStore implements SpanStore, SpanRangeStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly options: SpanStoreOptions = {},
  ) {}

  async get(tenant: Tenant, traceId: string): Promise<SpanRecord | null> {
    // No span has a longer id (writes refuse one), and the key would overflow DynamoDB's 2,048 bytes.
    if (Buffer.byteLength(traceId) > MAX_SPAN_ID_BYTES) return null;
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: spanKeys.span(tenant.organizationId, tenant.projectId, traceId), ConsistentRead: true }),
    );
    return out.Item && !isExpired(out.Item.expires_at) ? toRecord(out.Item) : null;
  }

  /** BatchGetItem, consistent; unprocessed keys (throttling) are asked again with backoff, then named a throttle (callers answer 429). */
  async getMany(tenant: Tenant, traceIds: readonly string[]): Promise<Map<string, SpanRecord>> {
    if (traceIds.length > 100) throw new Error('getMany reads at most 100 spans');
    const wanted = traceIds
      .filter((id) => Buffer.byteLength(id) <= MAX_SPAN_ID_BYTES)
      .map((id) => spanKeys.span(tenant.organizationId, tenant.projectId, id));
    const items = await batchGetAll(this.doc, this.table, wanted, { consistent: true, maxAttempts: 8 });
    return new Map(items.filter((item) => !isExpired(item.expires_at)).map((item) => [String(item.trace_id), toRecord(item)]));
  }

  /**
   * A conditional Put of the span; a write that changes what the root index keeps (a tree's root
   * stored, or its start or status changed) is one transaction with the root's member item and
   * counters (functions/adapters/dynamo/trace-log-roots.ts), so neither is ever lost or doubled.
   */
  async save(tenant: Tenant, next: SpanRecord, root?: RootChange): Promise<boolean> {
    const expected = next.version - 1;
    // A span keeps the horizon it was first stored with (its updates do not prolong it); its root's member is listed by it.
    const horizon = next.expiresAt ?? expiresAt(this.options.retentionDays, (this.options.clock ?? Date.now)());
    const put = {
      TableName: this.table,
      Item: spanItem(tenant, horizon === undefined ? next : { ...next, expiresAt: horizon }),
      ...(expected === 0
        ? // An expired span not yet removed by DynamoDB counts as absent, unless the root index still counts it (retired first, below).
          {
            ConditionExpression: 'attribute_not_exists(pk) OR (expires_at <= :now AND attribute_not_exists(ri))',
            ExpressionAttributeValues: { ':now': nowSeconds() },
          }
        : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': expected } }),
    };
    for (let guard = true; ; guard = false) {
      try {
        if (root === undefined) await this.doc.send(new PutCommand(put));
        else
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: [{ Put: put }, ...(rootIndexWrites(this.table, tenant, root, { horizon, guardNew: guard }) as never[])],
            }),
          );
        return true;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          if (expected === 0) await this.retireExpired(tenant, next.traceId);
          return false;
        }
        if (err instanceof TransactionConflictException) return false;
        // Another writer changed the span (its condition), or held an item of the transaction: read again and retry.
        if (err instanceof TransactionCanceledException) {
          const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
          if (codes[0] === 'ConditionalCheckFailed') {
            if (expected === 0) await this.retireExpired(tenant, next.traceId);
            return false;
          }
          if (codes.includes('TransactionConflict')) return false;
          if (cancelledByThrottle(codes)) {
            const throttled = new Error('the table throttled the span write');
            throttled.name = 'ProvisionedThroughputExceededException';
            throw throttled;
          }
          // The tree's member is there already: one left by a span gone without its root-index writes is retired
          // (counters moved) and the write read again; another live root's is written over, as it always was.
          if (codes[1] === 'ConditionalCheckFailed' && guard && root?.after) {
            if (await this.clearStaleMember(tenant, root.after.rootTraceId)) return false;
            continue;
          }
        }
        throw err;
      }
    }
  }

  /** A span past its TTL that DynamoDB has not removed and the root index still counts: deleted with its root-index writes. */
  private async retireExpired(tenant: Tenant, traceId: string): Promise<void> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: spanKeys.span(tenant.organizationId, tenant.projectId, traceId), ConsistentRead: true }),
    );
    if (out.Item && out.Item.ri === true && isExpired(out.Item.expires_at)) await this.deleteSpan(tenant, traceId);
  }

  /**
   * The member of `rootTraceId`, found where a span stored as a new root wanted to put its own: true
   * when it was stale (its span gone, expired, or no longer that root) and is retired now (its
   * counters moved) or went meanwhile; false when a live root span holds it.
   */
  private async clearStaleMember(tenant: Tenant, rootTraceId: string): Promise<boolean> {
    const { organizationId: org, projectId: project } = tenant;
    const memberKey = logRootIndex.member(org, project, rootTraceId);
    const member = (await this.doc.send(new GetCommand({ TableName: this.table, Key: memberKey, ConsistentRead: true }))).Item;
    if (!member) return true;
    const traceId = String(member.trace_id);
    const span = (
      await this.doc.send(new GetCommand({ TableName: this.table, Key: spanKeys.span(org, project, traceId), ConsistentRead: true }))
    ).Item;
    const holds = span?.ri === true && rootFactsOf(typeof span.doc === 'string' ? span.doc : null)?.rootTraceId === rootTraceId;
    if (holds && !isExpired(span.expires_at)) return false;
    try {
      if (holds) await this.deleteSpan(tenant, traceId);
      else await this.doc.send(new TransactWriteCommand({ TransactItems: memberRetireWrites(this.table, tenant, member) as never[] }));
    } catch (err) {
      // Changed meanwhile: the caller reads again.
      if (!isCancelled(err)) throw err;
    }
    return true;
  }

  /**
   * The retention sweep's delete of a root whose horizon has passed (`nowSec`, epoch seconds): the span and
   * its root-index member and counters in the span delete's one transaction (deleteSpan); a member
   * whose span is gone already (its TTL backstop removed it) goes alone with its counters. A root
   * stored again since (a later horizon), or a member changed meanwhile, is left: 'skipped'.
   */
  async retireRoot(tenant: Tenant, root: RetiringRoot, nowSec: number): Promise<'retired' | 'skipped'> {
    const { organizationId: org, projectId: project } = tenant;
    if (Buffer.byteLength(root.traceId) > MAX_SPAN_ID_BYTES) return 'skipped';
    const spanKey = spanKeys.span(org, project, root.traceId);
    for (let attempt = 0; attempt < 8; attempt++) {
      const span = (await this.doc.send(new GetCommand({ TableName: this.table, Key: spanKey, ConsistentRead: true }))).Item;
      const before = span?.ri === true ? rootFactsOf(typeof span.doc === 'string' ? span.doc : null) : null;
      if (span && before !== null && before.rootTraceId === root.rootTraceId) {
        const horizon = horizonOf(span);
        if (horizon === undefined || horizon > nowSec) return 'skipped';
        const del = {
          TableName: this.table,
          Key: spanKey,
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':v': span.version },
        };
        try {
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: [{ Delete: del }, ...(rootIndexWrites(this.table, tenant, { before, after: null }) as never[])],
            }),
          );
          return 'retired';
        } catch (err) {
          if (!isCancelled(err)) throw err;
          continue;
        }
      }
      const member = (
        await this.doc.send(
          new GetCommand({ TableName: this.table, Key: logRootIndex.member(org, project, root.rootTraceId), ConsistentRead: true }),
        )
      ).Item;
      if (!member || member.gsi3sk !== root.key) return 'skipped';
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: memberRetireWrites(this.table, tenant, member) as never[] }));
        return 'retired';
      } catch (err) {
        if (!isCancelled(err)) throw err;
      }
    }
    throw new Error(`root ${root.rootTraceId} kept changing while it was retired`);
  }

  async treeDocs(tenant: Tenant, rootTraceId: string): Promise<string[]> {
    const docs: string[] = [];
    await Promise.all(
      allShards(TREE_SHARDS).map(async (shard) => {
        const pages = queryPages(this.doc, {
          TableName: this.table,
          IndexName: 'gsi5',
          KeyConditionExpression: 'gsi5pk = :p',
          FilterExpression: 'attribute_exists(#doc)',
          ProjectionExpression: '#doc',
          ExpressionAttributeNames: { '#doc': 'doc' },
          ExpressionAttributeValues: { ':p': spanIndex.tree(tenant.organizationId, tenant.projectId, rootTraceId, shard) },
        });
        for await (const items of pages) for (const i of items) if (typeof i.doc === 'string') docs.push(i.doc);
      }),
    );
    return docs;
  }

  async *experimentSpans(tenant: Tenant, experimentUuid: string, from: SpanPosition | null): AsyncGenerator<ExperimentSpan> {
    // No span is listed under a longer experiment id (writes refuse one); its key would overflow DynamoDB's limit.
    if (Buffer.byteLength(experimentUuid) > MAX_SPAN_ID_BYTES) return;
    const stream = mergeShards(this.doc, {
      table: this.table,
      index: 'gsi4',
      pkAttr: 'gsi4pk',
      skAttr: 'ok',
      partitions: allShards(EXPERIMENT_SHARDS).map((shard) =>
        spanIndex.experiment(tenant.organizationId, tenant.projectId, experimentUuid, shard),
      ),
      lower: from === null ? undefined : { value: `${spanKeys.rootPart(from.rootTraceId)}${from.include ? '#' : '$'}`, inclusive: true },
      forward: true,
      filter: { expression: 'attribute_exists(#doc)', names: { '#doc': 'doc' } },
      projection: ['doc', 'root_trace_id'],
      // Experiment reads take many spans: the shards' first pages are sized for it.
      expect: 4000,
    });
    for await (const i of stream) {
      if (typeof i.doc === 'string') yield { rootTraceId: String(i.root_trace_id), doc: i.doc };
    }
  }

  /** The experiment's shards of gsi4 (sort key `<root>#<trace_id>`: trees whole, spans in id order). */
  private experimentQuery(tenant: Tenant, experimentUuid: string) {
    return {
      table: this.table,
      index: 'gsi4',
      pkAttr: 'gsi4pk',
      skAttr: 'ok',
      partitions: allShards(EXPERIMENT_SHARDS).map((shard) =>
        spanIndex.experiment(tenant.organizationId, tenant.projectId, experimentUuid, shard),
      ),
      filter: { expression: 'attribute_exists(#doc)', names: { '#doc': 'doc' } },
    };
  }

  async *experimentRange(tenant: Tenant, experimentUuid: string, after: string | null): AsyncGenerator<SpanRangeItem> {
    if (Buffer.byteLength(experimentUuid) > MAX_SPAN_ID_BYTES) return;
    const stream = mergeShards(this.doc, {
      ...this.experimentQuery(tenant, experimentUuid),
      lower: after === null ? undefined : { value: after, inclusive: false },
      forward: true,
      projection: ['doc'],
      expect: 400,
    });
    for await (const i of stream) {
      if (typeof i.doc !== 'string') continue;
      const ok = String(i.ok);
      // `<root>#<trace_id>`: the root part is percent-encoded, so its first `#` ends it.
      yield { position: ok, traceId: ok.slice(ok.indexOf('#') + 1), doc: i.doc };
    }
  }

  /**
   * Deletes a span (answers its materialized doc; null: it was gone, or never posted). A span the
   * root index holds goes in one transaction with its member item and counters, as save() keeps
   * them, so the index's totals stay exact; a span changed meanwhile is read again.
   */
  async deleteSpan(tenant: Tenant, traceId: string): Promise<string | null> {
    if (Buffer.byteLength(traceId) > MAX_SPAN_ID_BYTES) return null;
    const key = spanKeys.span(tenant.organizationId, tenant.projectId, traceId);
    for (let attempt = 0; attempt < 8; attempt++) {
      const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      if (!out.Item) return null;
      const doc = typeof out.Item.doc === 'string' ? out.Item.doc : null;
      const before = out.Item.ri === true ? rootFactsOf(doc) : null;
      const del = {
        TableName: this.table,
        Key: key,
        ConditionExpression: 'version = :v',
        ExpressionAttributeValues: { ':v': out.Item.version },
      };
      try {
        if (before === null) await this.doc.send(new DeleteCommand(del));
        else
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: [{ Delete: del }, ...(rootIndexWrites(this.table, tenant, { before, after: null }) as never[])],
            }),
          );
        return isExpired(out.Item.expires_at) ? null : doc;
      } catch (err) {
        if (!isCancelled(err)) throw err;
      }
    }
    throw new Error(`span ${traceId} kept changing while it was deleted`);
  }

  async countExperiment(tenant: Tenant, experimentUuid: string, deadline: number): Promise<{ count: number; exact: boolean }> {
    if (Buffer.byteLength(experimentUuid) > MAX_SPAN_ID_BYTES) return { count: 0, exact: true };
    const n = await countSharded(this.doc, { ...this.experimentQuery(tenant, experimentUuid), forward: true }, deadline);
    return n === null ? { count: 0, exact: false } : { count: n, exact: true };
  }
}
