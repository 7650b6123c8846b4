import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { allShards, TRACE_SHARDS, traceIndex } from './keys.js';

/** A bound on an index's sort key. */
export interface Bound {
  value: string;
  inclusive: boolean;
}

/** One index, read over several partition key values (its shards) as one sorted stream. */
export interface ShardedQuery {
  table: string;
  index: string;
  pkAttr: string;
  skAttr: string;
  partitions: readonly string[];
  lower?: Bound | undefined;
  upper?: Bound | undefined;
  /** Ascending sort key order (else descending). */
  forward: boolean;
  filter?: { expression: string; names?: Record<string, string>; values?: Record<string, unknown> } | undefined;
  /** Attributes to read (default: what the index holds). */
  projection?: readonly string[] | undefined;
  /** How many items the caller expects to take: sizes the first read of each shard. */
  expect?: number | undefined;
}

/** A project's traces in creation order (gsi4 over its TRACE_SHARDS shards): a ShardedQuery without its bounds and order. */
export function projectTraceOrder(
  table: string,
  org: string,
  project: string,
): Pick<ShardedQuery, 'table' | 'index' | 'pkAttr' | 'skAttr' | 'partitions'> {
  return {
    table,
    index: 'gsi4',
    pkAttr: 'gsi4pk',
    skAttr: 'ok',
    partitions: allShards(TRACE_SHARDS).map((s) => traceIndex.all(org, project, s)),
  };
}

/** Items one Query of a shard asks for at most (DynamoDB also stops a page at 1 MB). */
const MAX_PAGE_ITEMS = 1000;

/**
 * DynamoDB orders string keys by their UTF-8 bytes; JavaScript compares UTF-16 code units. The
 * two agree except where a character outside the BMP meets one in U+E000–U+FFFF: compared as
 * code points there (which is UTF-8 byte order), a merged stream agrees with every shard's.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca < 0xd800 && cb < 0xd800) return ca - cb;
    return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

function keyCondition(q: ShardedQuery): { expression: string; values: Record<string, unknown> } {
  const values: Record<string, unknown> = {};
  let expression = '#pk = :pk';
  if (q.lower && q.upper) {
    expression += ' AND #sk BETWEEN :lo AND :hi';
    values[':lo'] = q.lower.value;
    values[':hi'] = q.upper.value;
  } else if (q.lower) {
    expression += ` AND #sk ${q.lower.inclusive ? '>=' : '>'} :lo`;
    values[':lo'] = q.lower.value;
  } else if (q.upper) {
    expression += ` AND #sk ${q.upper.inclusive ? '<=' : '<'} :hi`;
    values[':hi'] = q.upper.value;
  }
  return { expression, values };
}

/** Whether a sort key lies outside an exclusive bound that BETWEEN (always inclusive) let through. */
function excluded(q: ShardedQuery, sk: string): boolean {
  return (
    (q.lower !== undefined && !q.lower.inclusive && sk === q.lower.value) ||
    (q.upper !== undefined && !q.upper.inclusive && sk === q.upper.value)
  );
}

function input(
  q: ShardedQuery,
  partition: string,
  limit: number | undefined,
  start: Record<string, unknown> | undefined,
  select?: 'COUNT',
): QueryCommandInput {
  const k = keyCondition(q);
  const names: Record<string, string> = { '#pk': q.pkAttr, ...(q.lower || q.upper ? { '#sk': q.skAttr } : {}), ...(q.filter?.names ?? {}) };
  let projection: string | undefined;
  if (q.projection && !select) {
    const attributes = [...new Set([q.skAttr, ...q.projection])];
    attributes.forEach((a, i) => {
      names[`#p${i}`] = a;
    });
    projection = attributes.map((_, i) => `#p${i}`).join(', ');
  }
  return {
    TableName: q.table,
    IndexName: q.index,
    KeyConditionExpression: k.expression,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: { ':pk': partition, ...k.values, ...(q.filter?.values ?? {}) },
    ScanIndexForward: q.forward,
    ...(q.filter ? { FilterExpression: q.filter.expression } : {}),
    ...(projection ? { ProjectionExpression: projection } : {}),
    ...(limit !== undefined ? { Limit: limit } : {}),
    ...(start ? { ExclusiveStartKey: start } : {}),
    ...(select ? { Select: select } : {}),
  };
}

interface Shard {
  partition: string;
  buffer: Record<string, unknown>[];
  start: Record<string, unknown> | undefined;
  done: boolean;
  limit: number;
}

/**
 * The items of every shard in one order (by sort key), read lazily: each shard is read a page at
 * a time, the first page sized to the caller's expectation, later pages twice as large, and only
 * when the merge needs its next item. Sort keys must be unique across the shards (ties would come
 * in no defined order). Stopping early reads no further.
 */
export async function* mergeShards(doc: DynamoDBDocumentClient, q: ShardedQuery): AsyncGenerator<Record<string, unknown>> {
  const first = Math.max(2, Math.ceil(((q.expect ?? 25) / q.partitions.length) * 1.25) + 1);
  const shards: Shard[] = q.partitions.map((partition) => ({
    partition,
    buffer: [],
    start: undefined,
    done: false,
    limit: Math.min(first, MAX_PAGE_ITEMS),
  }));
  const fill = async (s: Shard) => {
    while (s.buffer.length === 0 && !s.done) {
      const out = await doc.send(new QueryCommand(input(q, s.partition, s.limit, s.start)));
      for (const item of out.Items ?? []) if (!excluded(q, String(item[q.skAttr]))) s.buffer.push(item);
      s.start = out.LastEvaluatedKey;
      s.done = s.start === undefined;
      s.limit = Math.min(s.limit * 2, MAX_PAGE_ITEMS);
    }
  };
  const sign = q.forward ? 1 : -1;
  for (;;) {
    const empty = shards.filter((s) => s.buffer.length === 0 && !s.done);
    if (empty.length > 0) await Promise.all(empty.map(fill));
    let best: Shard | null = null;
    let bestKey = '';
    for (const s of shards) {
      if (s.buffer.length === 0) continue;
      const key = String(s.buffer[0]![q.skAttr]);
      if (best === null || sign * compareKeys(key, bestKey) < 0) {
        best = s;
        bestKey = key;
      }
    }
    if (best === null) return;
    yield best.buffer.shift()!;
  }
}

/**
 * How many items the shards hold in the range (Select COUNT, the shards in parallel), or null
 * when counting would pass the deadline (Date.now() ms).
 */
export async function countSharded(
  doc: DynamoDBDocumentClient,
  q: ShardedQuery,
  deadline = Number.POSITIVE_INFINITY,
): Promise<number | null> {
  const counts = await Promise.all(
    q.partitions.map(async (partition) => {
      let count = 0;
      let start: Record<string, unknown> | undefined;
      do {
        if (Date.now() > deadline) return null;
        const out = await doc.send(new QueryCommand(input(q, partition, undefined, start, 'COUNT')));
        count += out.Count ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
      // BETWEEN (two bounds) is inclusive: an exclusive bound's own item is taken back out (it exists at most once).
      if (q.lower && q.upper) {
        if (!q.lower.inclusive) count -= await exists(doc, q, partition, q.lower.value);
        if (!q.upper.inclusive) count -= await exists(doc, q, partition, q.upper.value);
      }
      return count;
    }),
  );
  return counts.some((c) => c === null) ? null : (counts as number[]).reduce((a, b) => a + b, 0);
}

async function exists(doc: DynamoDBDocumentClient, q: ShardedQuery, partition: string, sk: string): Promise<number> {
  const out = await doc.send(
    new QueryCommand({
      TableName: q.table,
      IndexName: q.index,
      KeyConditionExpression: '#pk = :pk AND #sk = :sk',
      ExpressionAttributeNames: { '#pk': q.pkAttr, '#sk': q.skAttr, ...(q.filter?.names ?? {}) },
      ExpressionAttributeValues: { ':pk': partition, ':sk': sk, ...(q.filter?.values ?? {}) },
      ...(q.filter ? { FilterExpression: q.filter.expression } : {}),
      Select: 'COUNT',
    }),
  );
  return out.Count ?? 0;
}
