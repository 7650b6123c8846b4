import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  addInto,
  MAX_LATENCY_BUCKET,
  type HourDelta,
  type SpanCounts,
  type SpanHour,
  type SpanStatsSink,
  type StatsReader,
  type TraceHour,
} from '../../domain/stats.js';
import type { Tenant } from '../../domain/tenancy.js';
import { allShards, HOUR_COUNTER_PREFIX, keys, shardOf } from './keys.js';
import { EXPIRY_GRACE_DAYS, expiresAt } from '../../domain/expiry.js';
import { queryPages } from './query.js';

/**
 * The project's numbers per hour, in the single table:
 *
 *   hourly trace counter  pk P#<org>#<project>                 sk COUNTER#H#<YYYY-MM-DDTHH>
 *                         traces, by_source, bad_lines (kept by upload-store.ts and trace-maintenance.ts; read here)
 *   hourly span stats     pk SPANSTATS#<org>#<project>#<shard>  sk H#<YYYY-MM-DDTHH>
 *                         spans, errors, tok_in, tok_out, tok, cost_nanos, lat_<bucket> (numbers, moved by ADD only)
 *
 * A span-stats hour is split over SPAN_STATS_SHARDS items (the shard from the span's trace id), each
 * under its own partition key: a busy hour's writes spread over that many partitions (each takes
 * 1,000 write units a second on AWS; an ADD to an item of ~1-2 KB takes 1-2 of them, once per
 * stored span), and a read of a window is one Query per shard. Measured under the capacity model,
 * 8 shards held one project's spans to about 4,000 a second; 32 hold it near the span indexes' own limit.
 */
export const SPAN_STATS_SHARDS = 32;

export const statsKeys = {
  spanStats: (org: string, project: string, shard: number, hour: string) => ({
    pk: spanStatsPartition(org, project, shard),
    sk: `H#${hour}`,
  }),
};

function spanStatsPartition(org: string, project: string, shard: number): string {
  return `SPANSTATS#${org}#${project}#${shard}`;
}

/** Which shard a span's figures go to: stable per trace id. */
export function statsShardOf(traceId: string): number {
  return shardOf(traceId, SPAN_STATS_SHARDS);
}

const COUNT_ATTRIBUTES: ReadonlyArray<[keyof Omit<SpanCounts, 'latency'>, string]> = [
  ['spans', 'spans'],
  ['errors', 'errors'],
  ['inputTokens', 'tok_in'],
  ['outputTokens', 'tok_out'],
  ['totalTokens', 'tok'],
  ['costNanos', 'cost_nanos'],
];

/** One ADD update for an hour's differences (only the attributes that change). */
function addExpression(add: SpanCounts): {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} | null {
  const parts: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  let i = 0;
  const put = (attribute: string, n: number) => {
    if (n === 0) return;
    names[`#a${i}`] = attribute;
    values[`:v${i}`] = n;
    parts.push(`#a${i} :v${i}`);
    i++;
  };
  for (const [field, attribute] of COUNT_ATTRIBUTES) put(attribute, add[field]);
  for (const [bucket, n] of Object.entries(add.latency)) put(`lat_${bucket}`, n);
  if (parts.length === 0) return null;
  return {
    UpdateExpression: `SET #type = :type ADD ${parts.join(', ')}`,
    ExpressionAttributeNames: { ...names, '#type': 'type' },
    ExpressionAttributeValues: { ...values, ':type': 'span-stats' },
  };
}

function countsOf(item: Record<string, unknown>): SpanCounts {
  const num = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
  const latency: Record<number, number> = {};
  for (let b = 0; b <= MAX_LATENCY_BUCKET; b++) {
    const n = num(`lat_${b}`);
    if (n !== 0) latency[b] = n;
  }
  return {
    spans: num('spans'),
    errors: num('errors'),
    latency,
    inputTokens: num('tok_in'),
    outputTokens: num('tok_out'),
    totalTokens: num('tok'),
    costNanos: num('cost_nanos'),
  };
}

export class DynamoStatsStore implements StatsReader, SpanStatsSink {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** retentionDays: a span-stats hour expires (DynamoDB TTL) that long, plus the grace, after the hour. */
    private readonly options: { retentionDays?: number | undefined } = {},
  ) {}

  async add(tenant: Tenant, traceId: string, deltas: readonly HourDelta[]): Promise<void> {
    const shard = statsShardOf(traceId);
    await Promise.all(
      deltas.map(async (d) => {
        const update = addExpression(d.add);
        if (update === null) return;
        const expiry = expiresAt(this.options.retentionDays, Date.parse(`${d.hour}:00:00.000Z`) || Date.now(), EXPIRY_GRACE_DAYS);
        if (expiry !== undefined) {
          update.UpdateExpression = update.UpdateExpression.replace('SET #type = :type', 'SET #type = :type, #exp = :exp');
          update.ExpressionAttributeNames['#exp'] = 'expires_at';
          update.ExpressionAttributeValues[':exp'] = expiry;
        }
        // The SDK retries throttles (maxAttempts); an ADD is never retried by us, so it can never count twice.
        await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: statsKeys.spanStats(tenant.organizationId, tenant.projectId, shard, d.hour),
            ...update,
          }),
        );
      }),
    );
  }

  async traceHours(tenant: Tenant, fromHour: string, toHour: string): Promise<TraceHour[]> {
    const out: TraceHour[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ProjectionExpression: 'sk, traces, bad_lines',
      ExpressionAttributeValues: {
        ':pk': keys.projectPartition(tenant.organizationId, tenant.projectId),
        ':from': `${HOUR_COUNTER_PREFIX}${fromHour}`,
        ':to': `${HOUR_COUNTER_PREFIX}${toHour}`,
      },
    });
    for await (const items of pages) {
      for (const i of items) {
        out.push({
          hour: String(i.sk).slice(HOUR_COUNTER_PREFIX.length),
          traces: typeof i.traces === 'number' ? i.traces : 0,
          badLines: typeof i.bad_lines === 'number' ? i.bad_lines : 0,
        });
      }
    }
    return out;
  }

  async spanHours(tenant: Tenant, fromHour: string, toHour: string): Promise<SpanHour[]> {
    const byHour = new Map<string, SpanCounts>();
    const shards = allShards(SPAN_STATS_SHARDS);
    const perShard = await Promise.all(
      shards.map(async (shard) => {
        const found: SpanHour[] = [];
        const pages = queryPages(this.doc, {
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': spanStatsPartition(tenant.organizationId, tenant.projectId, shard),
            ':from': `H#${fromHour}`,
            ':to': `H#${toHour}`,
          },
        });
        for await (const items of pages) for (const i of items) found.push({ hour: String(i.sk).slice(2), counts: countsOf(i) });
        return found;
      }),
    );
    for (const list of perShard) {
      for (const h of list) {
        const acc = byHour.get(h.hour);
        if (!acc) {
          byHour.set(h.hour, h.counts);
          continue;
        }
        addInto(acc, h.counts);
      }
    }
    return [...byHour.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hour, counts]) => ({ hour, counts }));
  }
}
