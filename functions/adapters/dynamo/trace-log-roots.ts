import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tenant } from '../../domain/tenancy.js';
import type { RootChange } from '../../domain/parea/index.js';
import type { RootEntry, RootFacts, RootRange, TraceLogRootIndex } from '../../domain/parea/index.js';
import type { RetiringRoot } from '../../domain/retention.js';
import { allShards, LOG_ROOT_SHARDS, logRootIndex, segment, shardOf } from './keys.js';
import { batchGetAll, queryPages } from './query.js';
import { countSharded, mergeShards } from './sharded-query.js';

/**
 * The root index of a project's trace logs (what `POST /get_trace_logs` reads):
 *
 *   member   pk LR#<org>#<project>#<root_trace_id>  sk R      trace_id, root_trace_id, status
 *            gsi1pk LRA#<org>#<project>#<shard>               gsi1sk <start instant>#<root>   (every root)
 *            gsi2pk LRS#<org>#<project>#<shard>#<status>      gsi2sk (as gsi1sk)              (by status)
 *            gsi3pk LRX#<org>#<project>#<shard>               gsi3sk <horizon>#<root>         (with retention)
 *   counters pk LRN#<org>#<project>#<shard>  sk ALL | H#<hour>  n, s:<status>   (ADD only)
 *
 * A tree's member and counters live in the tree's shard (LOG_ROOT_SHARDS of them), so a
 * project's roots spread over that many partitions. They are written in the transaction that
 * stores the root span (DynamoSpanStore.save), so an entry or a count is never lost or doubled.
 *
 * A member carries no TTL (a TTL would remove it without moving its counters): with retention,
 * it is listed by its span's retention horizon (epoch seconds, 10 digits) on gsi3, and the
 * retention sweep retires it with its span through the span delete's transaction
 * (DynamoSpanStore.retireRoot), so the counters move exactly when a root goes.
 */

/** A member's place in the retirement order (gsi3sk): its span's horizon (epoch seconds), then its tree. */
export function retirementKey(horizon: number, rootTraceId: string): string {
  return `${String(horizon).padStart(10, '0')}#${segment(rootTraceId)}`;
}

/**
 * The member item of a root (small: keys and what the list needs); with `horizon` (its span's
 * retention horizon, epoch seconds) listed for the retention sweep.
 */
export function rootMemberItem(org: string, project: string, f: RootFacts, horizon?: number): Record<string, unknown> {
  const shard = shardOf(f.rootTraceId, LOG_ROOT_SHARDS);
  const sort = `${f.start}#${segment(f.rootTraceId)}`;
  return {
    ...logRootIndex.member(org, project, f.rootTraceId),
    type: 'log-root',
    trace_id: f.traceId,
    root_trace_id: f.rootTraceId,
    status: f.status,
    gsi1pk: logRootIndex.all(org, project, shard),
    gsi1sk: sort,
    gsi2pk: logRootIndex.status(org, project, shard, f.status),
    gsi2sk: sort,
    ...(horizon !== undefined ? { gsi3pk: logRootIndex.retiring(org, project, shard), gsi3sk: retirementKey(horizon, f.rootTraceId) } : {}),
  };
}

/** The facts a member item keeps (what its counters count). */
export function memberFacts(member: Record<string, unknown>): RootFacts {
  return {
    rootTraceId: String(member.root_trace_id),
    traceId: String(member.trace_id),
    start: String(member.gsi1sk).slice(0, 27),
    status: String(member.status),
  };
}

export interface RootIndexWriteOptions {
  /** The span's retention horizon (epoch seconds): the member is listed for the retention sweep. */
  horizon?: number | undefined;
  /**
   * The member of a root the span did not hold before is put only where no member is (a member
   * left by a span gone without its root-index writes, or another span's, fails the transaction).
   */
  guardNew?: boolean;
}

const statusAttr = (status: string) => `s:${status}`;

/**
 * The writes (for a transaction, after the span's own Put) that move the root index from what a
 * span write changed: the member put or deleted, and each counter item's difference (ADD).
 */
export function rootIndexWrites(
  table: string,
  tenant: Tenant,
  change: RootChange,
  options: RootIndexWriteOptions = {},
): Record<string, unknown>[] {
  const { organizationId: org, projectId: project } = tenant;
  const writes: Record<string, unknown>[] = [];
  const { before, after } = change;
  if (after) {
    const fresh = !before || before.rootTraceId !== after.rootTraceId;
    writes.push({
      Put: {
        TableName: table,
        Item: rootMemberItem(org, project, after, options.horizon),
        ...(fresh && options.guardNew ? { ConditionExpression: 'attribute_not_exists(pk)' } : {}),
      },
    });
  }
  if (before && (!after || after.rootTraceId !== before.rootTraceId))
    writes.push({ Delete: { TableName: table, Key: logRootIndex.member(org, project, before.rootTraceId) } });
  // counter item → attribute → difference
  const deltas = new Map<string, { key: { pk: string; sk: string }; add: Map<string, number> }>();
  const move = (f: RootFacts, by: number) => {
    const shard = shardOf(f.rootTraceId, LOG_ROOT_SHARDS);
    for (const sk of ['ALL', `H#${f.start.slice(0, 13)}`]) {
      const key = logRootIndex.counter(org, project, shard, sk);
      const id = `${key.pk}\u0000${key.sk}`;
      let d = deltas.get(id);
      if (!d) deltas.set(id, (d = { key, add: new Map() }));
      for (const attr of ['n', statusAttr(f.status)]) d.add.set(attr, (d.add.get(attr) ?? 0) + by);
    }
  };
  if (before) move(before, -1);
  if (after) move(after, 1);
  for (const { key, add } of deltas.values()) {
    const moved = [...add].filter(([, by]) => by !== 0);
    if (moved.length === 0) continue;
    const names: Record<string, string> = { '#t': 'type' };
    const values: Record<string, unknown> = { ':t': 'counter' };
    moved.forEach(([attr, by], i) => {
      names[`#a${i}`] = attr;
      values[`:d${i}`] = by;
    });
    writes.push({
      Update: {
        TableName: table,
        Key: key,
        UpdateExpression: `SET #t = :t ADD ${moved.map((_, i) => `#a${i} :d${i}`).join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    });
  }
  return writes;
}

export class DynamoTraceLogRoots implements TraceLogRootIndex {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private query(tenant: Tenant, range: RootRange) {
    const { organizationId: org, projectId: project } = tenant;
    const byStatus = range.status !== undefined;
    const index = byStatus ? 'gsi2' : 'gsi1';
    return {
      table: this.table,
      index,
      pkAttr: `${index}pk`,
      skAttr: `${index}sk`,
      partitions: allShards(LOG_ROOT_SHARDS).map((s) =>
        byStatus ? logRootIndex.status(org, project, s, range.status!) : logRootIndex.all(org, project, s),
      ),
    };
  }

  async *roots(tenant: Tenant, range: RootRange, forward: boolean, expect: number): AsyncGenerator<RootEntry> {
    const stream = mergeShards(this.doc, {
      ...this.query(tenant, range),
      lower: range.since ? { value: range.since, inclusive: true } : undefined,
      forward,
      projection: ['trace_id', 'root_trace_id'],
      expect,
    });
    for await (const i of stream) {
      const sort = String(i[range.status !== undefined ? 'gsi2sk' : 'gsi1sk']);
      yield { rootTraceId: String(i.root_trace_id), traceId: String(i.trace_id), start: sort.slice(0, 27) };
    }
  }

  /**
   * The members whose span's retention horizon is at or before `bySeconds` (epoch seconds), oldest
   * horizon first, over the shards of gsi3 (only members with a horizon are there): what the
   * retention sweep retires. Read lazily; stopping early reads no further.
   */
  async *retiring(tenant: Tenant, bySeconds: number): AsyncGenerator<RetiringRoot> {
    const { organizationId: org, projectId: project } = tenant;
    const stream = mergeShards(this.doc, {
      table: this.table,
      index: 'gsi3',
      pkAttr: 'gsi3pk',
      skAttr: 'gsi3sk',
      partitions: allShards(LOG_ROOT_SHARDS).map((s) => logRootIndex.retiring(org, project, s)),
      upper: { value: retirementKey(Math.floor(bySeconds) + 1, ''), inclusive: false },
      forward: true,
      projection: ['trace_id', 'root_trace_id'],
      expect: 100,
    });
    for await (const i of stream) yield { rootTraceId: String(i.root_trace_id), traceId: String(i.trace_id), key: String(i.gsi3sk) };
  }

  /**
   * All time: the shards' ALL counters (one BatchGetItem). A time range: the hour counters of every
   * hour after the first, plus an exact count of the first hour's part the range covers (index
   * entries of one hour at most): the cost of the range in hours, never of the project.
   */
  async count(tenant: Tenant, range: RootRange): Promise<number> {
    const { organizationId: org, projectId: project } = tenant;
    const attr = range.status === undefined ? 'n' : statusAttr(range.status);
    const shards = allShards(LOG_ROOT_SHARDS);
    const countOf = (item: Record<string, unknown>) => (typeof item[attr] === 'number' ? (item[attr] as number) : 0);
    if (range.since === undefined) {
      const items = await batchGetAll(
        this.doc,
        this.table,
        shards.map((s) => logRootIndex.counter(org, project, s, 'ALL')),
        { maxAttempts: 8 },
      );
      return items.reduce((sum, i) => sum + countOf(i), 0);
    }
    const since = range.since;
    const nextHour = new Date(Date.parse(`${since.slice(0, 13)}:00:00Z`) + 3_600_000).toISOString();
    const nextHourKey = `${nextHour.slice(0, 19)}.000000Z`;
    const [hours, partial] = await Promise.all([
      Promise.all(
        shards.map(async (s) => {
          let n = 0;
          const pages = queryPages(this.doc, {
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#a': attr },
            ProjectionExpression: '#a',
            ExpressionAttributeValues: {
              ':pk': logRootIndex.counter(org, project, s, '').pk,
              ':from': `H#${nextHour.slice(0, 13)}`,
              ':to': 'H#~',
            },
          });
          for await (const items of pages) for (const i of items) n += countOf(i);
          return n;
        }),
      ),
      countSharded(this.doc, {
        ...this.query(tenant, range),
        lower: { value: since, inclusive: true },
        upper: { value: nextHourKey, inclusive: true },
        forward: true,
      }),
    ]);
    return hours.reduce((a, b) => a + b, 0) + (partial ?? 0);
  }
}
