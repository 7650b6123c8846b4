import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type {
  Experiment,
  ExperimentListQuery,
  ExperimentStatus,
  ExperimentStore,
  PinnedStatistic,
  StatScore,
  TraceStats,
} from '../../domain/parea/experiments.js';
import type { Tenant } from '../../domain/tenancy.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { segment } from './keys.js';
import { batchGetAll, queryPages } from './query.js';

/**
 * Parea experiments:
 *
 *   experiment  pk XP#<org>#<project>#<uuid>   sk XP
 *               gsi1pk XL#<org>#<project>              gsi1sk <created_at>#<uuid>   (the project's, newest first)
 *               gsi2pk XN#<org>#<project>#<name>       gsi2sk (as gsi1sk)           (of one name)
 *   its stats   pk XP#<org>#<project>#<uuid>   sk STATS#<n>   (the pinned per-tree stats, JSON, ~200 KB a chunk)
 *   run name    pk XR#<org>#<project>#<name>#<run_name>   sk XR   (uuid: the run name is taken)
 *
 * Experiments are made one per run (a handful a minute), so one index partition per project holds
 * their list; an experiment's spans, which come at the project's full rate, are the span items'.
 */
export const experimentKeys = {
  item: (org: string, project: string, uuid: string) => ({ pk: `XP#${org}#${project}#${uuid}`, sk: 'XP' }),
  statsChunk: (org: string, project: string, uuid: string, n: number) => ({
    pk: `XP#${org}#${project}#${uuid}`,
    sk: `STATS#${String(n).padStart(5, '0')}`,
  }),
  runName: (org: string, project: string, name: string, runName: string) => ({
    pk: `XR#${org}#${project}#${segment(name)}#${segment(runName)}`,
    sk: 'XR',
  }),
  all: (org: string, project: string) => `XL#${org}#${project}`,
  byName: (org: string, project: string, name: string) => `XN#${org}#${project}#${segment(name)}`,
};

/** Stats JSON per chunk item (an item holds 400 KB). */
const CHUNK_BYTES = 200 * 1024;

function itemOf(tenant: Tenant, e: Experiment): Record<string, unknown> {
  const { organizationId: org, projectId: project } = tenant;
  const sort = `${e.createdAt}#${e.uuid}`;
  return {
    ...experimentKeys.item(org, project, e.uuid),
    type: 'experiment',
    gsi1pk: experimentKeys.all(org, project),
    gsi1sk: sort,
    gsi2pk: experimentKeys.byName(org, project, e.name),
    gsi2sk: sort,
    uuid: e.uuid,
    name: e.name,
    run_name: e.runName,
    metadata: e.metadata === null ? null : JSON.stringify(e.metadata),
    created_at: e.createdAt,
    status: e.status,
    finished_at: e.finishedAt,
    num_samples: e.numSamples,
    pinned_stats: JSON.stringify(e.pinnedStats),
    dataset_level_stats: JSON.stringify(e.datasetLevelStats),
  };
}

function fromItem(i: Record<string, unknown>): Experiment {
  const parse = <T>(v: unknown, fallback: T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : fallback);
  return {
    uuid: String(i.uuid),
    name: String(i.name),
    runName: String(i.run_name),
    metadata: parse<Record<string, string> | null>(i.metadata, null),
    createdAt: String(i.created_at),
    status: String(i.status) as ExperimentStatus,
    finishedAt: typeof i.finished_at === 'string' ? i.finished_at : null,
    numSamples: typeof i.num_samples === 'number' ? i.num_samples : null,
    pinnedStats: parse<PinnedStatistic[]>(i.pinned_stats, []),
    datasetLevelStats: parse<StatScore[]>(i.dataset_level_stats, []),
  };
}

export class DynamoExperimentStore implements ExperimentStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async create(tenant: Tenant, e: Experiment): Promise<{ created: true } | { created: false; existing: Experiment | null }> {
    const { organizationId: org, projectId: project } = tenant;
    const runKey = experimentKeys.runName(org, project, e.name, e.runName);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...runKey, type: 'experiment-run', uuid: e.uuid },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Put: { TableName: this.table, Item: itemOf(tenant, e), ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
      return { created: true };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException) || err.CancellationReasons?.[0]?.Code !== 'ConditionalCheckFailed') throw err;
    }
    const taken = await this.doc.send(new GetCommand({ TableName: this.table, Key: runKey, ConsistentRead: true }));
    const uuid = taken.Item?.uuid;
    return { created: false, existing: typeof uuid === 'string' ? await this.get(tenant, uuid) : null };
  }

  async get(tenant: Tenant, uuid: string): Promise<Experiment | null> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: experimentKeys.item(tenant.organizationId, tenant.projectId, uuid),
        ConsistentRead: true,
      }),
    );
    return out.Item ? fromItem(out.Item) : null;
  }

  async getMany(tenant: Tenant, uuids: readonly string[]): Promise<Experiment[]> {
    const wanted = [...new Set(uuids)].map((u) => experimentKeys.item(tenant.organizationId, tenant.projectId, u));
    return (await batchGetAll(this.doc, this.table, wanted, { maxAttempts: 8 })).map(fromItem);
  }

  /** The stats chunks first (a finish that stops half-way leaves the experiment as it was), then the item, then any chunks of an earlier, longer finish go. */
  async finish(tenant: Tenant, e: Experiment, stats: readonly TraceStats[]): Promise<void> {
    const { organizationId: org, projectId: project } = tenant;
    const chunks: string[] = [];
    let current: string[] = [];
    let bytes = 0;
    for (const s of stats) {
      const json = JSON.stringify(s);
      if (current.length > 0 && bytes + json.length > CHUNK_BYTES) {
        chunks.push(`[${current.join(',')}]`);
        current = [];
        bytes = 0;
      }
      current.push(json);
      bytes += json.length + 1;
    }
    if (current.length > 0) chunks.push(`[${current.join(',')}]`);
    const before = await this.get(tenant, e.uuid);
    const oldChunks = before === null ? 0 : await this.chunkCount(tenant, e.uuid);
    await this.writeAll(
      chunks.map((stats, n) => ({
        PutRequest: { Item: { ...experimentKeys.statsChunk(org, project, e.uuid, n), type: 'experiment-stats', stats } },
      })),
    );
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...itemOf(tenant, e), stats_chunks: chunks.length } }));
    const stale = [];
    for (let n = chunks.length; n < oldChunks; n++)
      stale.push({ DeleteRequest: { Key: experimentKeys.statsChunk(org, project, e.uuid, n) } });
    await this.writeAll(stale);
  }

  private async chunkCount(tenant: Tenant, uuid: string): Promise<number> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: experimentKeys.item(tenant.organizationId, tenant.projectId, uuid),
        ProjectionExpression: 'stats_chunks',
        ConsistentRead: true,
      }),
    );
    return typeof out.Item?.stats_chunks === 'number' ? out.Item.stats_chunks : 0;
  }

  async stats(tenant: Tenant, uuid: string): Promise<TraceStats[] | null> {
    const n = await this.chunkCount(tenant, uuid);
    const e = await this.get(tenant, uuid);
    if (e === null || e.finishedAt === null) return null;
    const out: TraceStats[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :s)',
      ExpressionAttributeValues: { ':pk': experimentKeys.item(tenant.organizationId, tenant.projectId, uuid).pk, ':s': 'STATS#' },
      ConsistentRead: true,
    });
    let read = 0;
    for await (const items of pages) {
      for (const i of items) {
        if (read++ >= n) break;
        out.push(...(JSON.parse(String(i.stats)) as TraceStats[]));
      }
    }
    return out;
  }

  async *list(tenant: Tenant, q: ExperimentListQuery): AsyncGenerator<{ experiment: Experiment; position: string }> {
    const { organizationId: org, projectId: project } = tenant;
    const [index, partition] = q.name ? ['gsi2', experimentKeys.byName(org, project, q.name)] : ['gsi1', experimentKeys.all(org, project)];
    let start: Record<string, unknown> | undefined;
    let limit = 50;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index,
          KeyConditionExpression: q.after ? '#pk = :p AND #sk < :after' : '#pk = :p',
          ExpressionAttributeNames: { '#pk': `${index}pk`, ...(q.after ? { '#sk': `${index}sk` } : {}) },
          ExpressionAttributeValues: { ':p': partition, ...(q.after ? { ':after': q.after } : {}) },
          ScanIndexForward: false,
          Limit: limit,
          ExclusiveStartKey: start,
        }),
      );
      for (const i of out.Items ?? []) yield { experiment: fromItem(i), position: String(i[`${index}sk`]) };
      start = out.LastEvaluatedKey;
      limit = Math.min(limit * 2, 1000);
    } while (start);
  }

  private async writeAll(requests: Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 10) throw new Error('BatchWriteItem left items unprocessed after 10 attempts');
        if (attempt > 0) await sleep(backoffMs(attempt));
        try {
          const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never[] } }));
          pending = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
        } catch (err) {
          if (!isRetryable(err)) throw err;
        }
      }
    }
  }
}
