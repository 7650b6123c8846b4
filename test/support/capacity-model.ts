/**
 * An AWS capacity model in front of DynamoDB Local, which has none of DynamoDB's per-partition
 * limits. Every request passes through it:
 *
 * - it works out the capacity each request consumes per partition key value, of the table and
 *   of each global secondary index, by DynamoDB's item-size rules (test/support/item-size.ts):
 *   a write costs max(old, new) item size in 1 KB units on the base table (twice in a
 *   transaction), and on an index a put of the new entry and/or a delete of the old one when the
 *   entry's keys or projected attributes change; reads cost the units DynamoDB Local reports
 *   (`ReturnConsumedCapacity: INDEXES`), charged to the partition the request reads;
 * - it enforces a per-partition-key-value limit (default 1,000 WCU/s and 3,000 RCU/s, token
 *   buckets holding one second), with index back-pressure on the base write as AWS applies it:
 *   a write whose base or index partition is out of units is refused as AWS refuses it
 *   (ProvisionedThroughputExceededException, ThrottlingException for a transaction's reason,
 *   UnprocessedItems / UnprocessedKeys in a batch);
 * - it adds a round trip per call (default 5 ms, an in-region Lambda to DynamoDB call);
 * - it reports what was consumed, so a caller can model the time and the cost AWS would need.
 *
 * To see old and new items it reads them itself, straight from DynamoDB Local, before and after
 * a write (those reads are not counted). It leaves out adaptive capacity, burst credits, the
 * split of a partition key value's items over several partitions, and the table-level limits.
 */
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { forwardTo, startProxyServer, writeAnswer } from './dynamo-proxy.js';
import {
  indexEntry,
  indexEntrySize,
  itemSize,
  keyValue,
  readUnits,
  sameValue,
  writeUnits,
  type TableShape,
  type WireItem,
  type WireValue,
} from './item-size.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CapacityModelOptions {
  /** DynamoDB (Local)'s endpoint, e.g. http://127.0.0.1:8000. */
  target: string;
  /** The table to model (its keys and indexes are read with DescribeTable). */
  tableName: string;
  writeUnitsPerSecond?: number;
  readUnitsPerSecond?: number;
  /** A call's round trip (ms): added to every call, and what `modeledSeconds` counts per call. */
  roundTripMs?: number;
  /** Wait out the round trip on every call (default true); false only counts it, for a long sequential run. */
  injectRoundTrip?: boolean;
  /** Refuse requests over the limits (default true); false only counts. */
  enforce?: boolean;
}

/** Units consumed on one partition key value of the table or an index. */
export interface PartitionUse {
  /** `table` or the index name. */
  where: string;
  key: string;
  wcu: number;
  rcu: number;
}

export interface CapacityReport {
  calls: Record<string, number>;
  totalCalls: number;
  /** Write and read units, in all and by `table` / index name. */
  wcu: number;
  rcu: number;
  wcuBy: Record<string, number>;
  rcuBy: Record<string, number>;
  /** The partition key value that took the most write (read) units. */
  hottestWrite: PartitionUse | null;
  hottestRead: PartitionUse | null;
  /** Requests (and batch items) refused for a partition over its limit. */
  throttledRequests: number;
  throttledItems: number;
  /** Base-table items written (puts, updates and deletes). */
  itemsWritten: number;
}

export interface CapacityModel {
  /** Point a DynamoDB client here. */
  endpoint: string;
  writeUnitsPerSecond: number;
  readUnitsPerSecond: number;
  roundTripMs: number;
  report(): CapacityReport;
  /** Every partition key value touched, most written first. */
  partitions(): PartitionUse[];
  /** Forgets what was consumed (the limits' buckets are refilled). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * The time AWS would need for what a report shows: the larger of the hottest partition's units
 * over its per-second limit and the callers' round trips at their concurrency (`calls` round trips
 * of `roundTripMs`, `concurrency` at a time).
 */
export function modeledSeconds(
  model: Pick<CapacityModel, 'writeUnitsPerSecond' | 'readUnitsPerSecond' | 'roundTripMs'>,
  r: CapacityReport,
  concurrency: number,
): { seconds: number; partitionSeconds: number; roundTripSeconds: number } {
  const partitionSeconds = Math.max(
    (r.hottestWrite?.wcu ?? 0) / model.writeUnitsPerSecond,
    (r.hottestRead?.rcu ?? 0) / model.readUnitsPerSecond,
  );
  const roundTripSeconds = (r.totalCalls * model.roundTripMs) / 1000 / Math.max(1, concurrency);
  return { seconds: Math.max(partitionSeconds, roundTripSeconds), partitionSeconds, roundTripSeconds };
}

type Key = WireItem;
interface Charge {
  where: string;
  key: string;
  units: number;
}

const THROUGHPUT = {
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
};

export async function startCapacityModel(options: CapacityModelOptions): Promise<CapacityModel> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const wps = options.writeUnitsPerSecond ?? 1000;
  const rps = options.readUnitsPerSecond ?? 3000;
  const roundTripMs = options.roundTripMs ?? 5;
  const injectRoundTrip = options.injectRoundTrip ?? true;
  const enforce = options.enforce ?? true;
  const tableName = options.tableName;

  const send = (headers: Record<string, string | string[] | undefined>, body: Buffer) => forwardTo(target, agent, { headers }, body);
  /** A call of our own, straight to DynamoDB Local (not modeled). */
  const call = async <T>(operation: string, input: unknown): Promise<T> => {
    const out = await send(
      {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        authorization: 'AWS4-HMAC-SHA256 Credential=model/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      Buffer.from(JSON.stringify(input)),
    );
    const parsed = JSON.parse(out.body.toString('utf8')) as T & { __type?: string; message?: string };
    if (out.status !== 200) throw new Error(`${operation}: ${parsed.__type ?? out.status} ${parsed.message ?? ''}`);
    return parsed;
  };

  const described = await call<{
    Table: {
      KeySchema: { AttributeName: string; KeyType: string }[];
      GlobalSecondaryIndexes?: {
        IndexName: string;
        KeySchema: { AttributeName: string; KeyType: string }[];
        Projection: { ProjectionType: string; NonKeyAttributes?: string[] };
      }[];
    };
  }>('DescribeTable', { TableName: tableName });
  const hash = (ks: { AttributeName: string; KeyType: string }[]) => ks.find((k) => k.KeyType === 'HASH')!.AttributeName;
  const range = (ks: { AttributeName: string; KeyType: string }[]) => ks.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  const shape: TableShape = {
    partitionKey: hash(described.Table.KeySchema),
    sortKey: range(described.Table.KeySchema),
    indexes: (described.Table.GlobalSecondaryIndexes ?? []).map((g) => ({
      name: g.IndexName,
      partitionKey: hash(g.KeySchema),
      sortKey: range(g.KeySchema),
      projection:
        g.Projection.ProjectionType === 'INCLUDE'
          ? (g.Projection.NonKeyAttributes ?? [])
          : (g.Projection.ProjectionType as 'ALL' | 'KEYS_ONLY'),
    })),
  };
  const keyOf = (item: WireItem): Key => {
    const k: Key = { [shape.partitionKey]: item[shape.partitionKey]! };
    if (shape.sortKey) k[shape.sortKey] = item[shape.sortKey]!;
    return k;
  };
  const keyString = (k: Key) => `${keyValue(k[shape.partitionKey])}\u0000${shape.sortKey ? keyValue(k[shape.sortKey]) : ''}`;

  // --- accounting -----------------------------------------------------------------------
  let uses = new Map<string, PartitionUse>();
  let calls: Record<string, number> = {};
  let throttledRequests = 0;
  let throttledItems = 0;
  let itemsWritten = 0;
  const use = (where: string, key: string): PartitionUse => {
    const id = `${where}\u0000${key}`;
    let u = uses.get(id);
    if (!u) uses.set(id, (u = { where, key, wcu: 0, rcu: 0 }));
    return u;
  };

  // --- limits: a token bucket per partition key value, holding one second ---------------------
  const buckets = new Map<string, { tokens: number; at: number }>();
  const available = (kind: 'w' | 'r', c: Charge): number => {
    const limit = kind === 'w' ? wps : rps;
    const id = `${kind}\u0000${c.where}\u0000${c.key}`;
    const now = performance.now();
    let b = buckets.get(id);
    if (!b) buckets.set(id, (b = { tokens: limit, at: now }));
    b.tokens = Math.min(limit, b.tokens + ((now - b.at) / 1000) * limit);
    b.at = now;
    return b.tokens;
  };
  const take = (kind: 'w' | 'r', charges: Charge[]) => {
    for (const c of charges) {
      available(kind, c);
      buckets.get(`${kind}\u0000${c.where}\u0000${c.key}`)!.tokens -= c.units;
      if (kind === 'w') use(c.where, c.key).wcu += c.units;
      else use(c.where, c.key).rcu += c.units;
    }
  };
  /**
   * Whether every partition these charges land on has the units (a request larger than a whole
   * second's units needs a full bucket, and leaves it in debt). A read's units are known only
   * after it, so a read is refused only while its partition is in debt.
   */
  const admits = (kind: 'w' | 'r', charges: Charge[]) =>
    !enforce || charges.every((c) => available(kind, c) >= Math.min(c.units, kind === 'w' ? wps : rps));

  /** The write units of changing `before` into `after` (either may be null), per partition. */
  const writeCharges = (before: WireItem | null, after: WireItem | null, factor: number, indexesToo = true): Charge[] => {
    const base = before ?? after;
    if (!base) return [];
    const charges: Charge[] = [
      {
        where: 'table',
        key: keyValue(base[shape.partitionKey])!,
        units: factor * writeUnits(Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0)),
      },
    ];
    if (!indexesToo) return charges;
    for (const index of shape.indexes) {
      const old = before ? indexEntry(shape, index, before) : null;
      const next = after ? indexEntry(shape, index, after) : null;
      const oldKey = old ? keyValue(old[index.partitionKey]) : null;
      const newKey = next ? keyValue(next[index.partitionKey]) : null;
      const sameKeys = old && next && oldKey === newKey && (!index.sortKey || sameValue(old[index.sortKey], next[index.sortKey]));
      if (sameKeys) {
        if (!sameEntry(old, next))
          charges.push({ where: index.name, key: newKey!, units: writeUnits(Math.max(indexEntrySize(old), indexEntrySize(next))) });
        continue;
      }
      if (old) charges.push({ where: index.name, key: oldKey!, units: writeUnits(indexEntrySize(old)) });
      if (next) charges.push({ where: index.name, key: newKey!, units: writeUnits(indexEntrySize(next)) });
    }
    return charges;
  };

  const getMany = async (keysWanted: Key[]): Promise<Map<string, WireItem>> => {
    const found = new Map<string, WireItem>();
    const unique = [...new Map(keysWanted.map((k) => [keyString(k), k])).values()];
    for (let i = 0; i < unique.length; i += 100) {
      let pending = unique.slice(i, i + 100);
      while (pending.length > 0) {
        const out = await call<{ Responses?: Record<string, WireItem[]>; UnprocessedKeys?: Record<string, { Keys: Key[] }> }>(
          'BatchGetItem',
          {
            RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } },
          },
        );
        for (const item of out.Responses?.[tableName] ?? []) found.set(keyString(keyOf(item)), item);
        pending = out.UnprocessedKeys?.[tableName]?.Keys ?? [];
      }
    }
    return found;
  };

  // --- the proxy ----------------------------------------------------------------------------
  const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[] | undefined> = {}) =>
    writeAnswer(
      res,
      status,
      { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'CAPACITY-MODEL', ...headers },
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    );
  const throttle = (res: ServerResponse) => {
    throttledRequests++;
    reply(res, 400, THROUGHPUT);
  };

  type Input = Record<string, unknown> & { TableName?: string; ReturnConsumedCapacity?: string; ReturnValues?: string };
  const forwardJson = async (req: IncomingMessage, input: unknown) => {
    const out = await send(req.headers, Buffer.from(JSON.stringify(input)));
    return { status: out.status, headers: out.headers, json: JSON.parse(out.body.toString('utf8') || '{}') as Record<string, unknown> };
  };
  /** Consumed capacity the caller asked for is answered; ours is taken out. */
  const strip = (json: Record<string, unknown>, asked: string | undefined) => {
    if (!asked || asked === 'NONE') delete json.ConsumedCapacity;
    return json;
  };
  const failedCondition = (json: Record<string, unknown>) =>
    typeof json.__type === 'string' && /ConditionalCheckFailed|TransactionCanceled/.test(json.__type);

  async function singleWrite(op: 'PutItem' | 'UpdateItem' | 'DeleteItem', req: IncomingMessage, res: ServerResponse, input: Input) {
    const key = op === 'PutItem' ? keyOf(input.Item as WireItem) : (input.Key as Key);
    const before = (await getMany([key])).get(keyString(key)) ?? null;
    const predicted =
      op === 'PutItem'
        ? writeCharges(before, input.Item as WireItem, 1)
        : op === 'DeleteItem'
          ? writeCharges(before, null, 1)
          : writeCharges(before, before ?? key, 1);
    if (!admits('w', predicted)) return throttle(res);
    const out = await forwardJson(req, input);
    if (out.status !== 200) {
      if (failedCondition(out.json)) take('w', writeCharges(before ?? (input.Item as WireItem) ?? key, null, 1, false));
      return reply(res, out.status, out.json, out.headers);
    }
    const after =
      op === 'PutItem' ? (input.Item as WireItem) : op === 'DeleteItem' ? null : ((await getMany([key])).get(keyString(key)) ?? null);
    take('w', writeCharges(before, after, 1));
    itemsWritten++;
    reply(res, 200, strip(out.json, input.ReturnConsumedCapacity), out.headers);
  }

  async function batchWrite(
    req: IncomingMessage,
    res: ServerResponse,
    input: Input & { RequestItems: Record<string, { PutRequest?: { Item: WireItem }; DeleteRequest?: { Key: Key } }[]> },
  ) {
    const requests = input.RequestItems[tableName] ?? [];
    const keysOf = requests.map((r) => (r.PutRequest ? keyOf(r.PutRequest.Item) : r.DeleteRequest!.Key));
    const before = await getMany(keysOf);
    const admitted: typeof requests = [];
    const held: typeof requests = [];
    const charges: Charge[][] = [];
    requests.forEach((r, i) => {
      const old = before.get(keyString(keysOf[i]!)) ?? null;
      const c = writeCharges(old, r.PutRequest ? r.PutRequest.Item : null, 1);
      if (admits('w', c)) {
        admitted.push(r);
        charges.push(c);
        take('w', c); // taken now, so the batch's later items see this one's use
      } else held.push(r);
    });
    if (admitted.length === 0) {
      throttledItems += held.length;
      return throttle(res);
    }
    const out = await forwardJson(req, { ...input, RequestItems: { ...input.RequestItems, [tableName]: admitted } });
    if (out.status !== 200) {
      // Refused whole (validation): give the units back, as nothing was written.
      for (const c of charges)
        take(
          'w',
          c.map((x) => ({ ...x, units: -x.units })),
        );
      return reply(res, out.status, out.json, out.headers);
    }
    itemsWritten += admitted.length;
    throttledItems += held.length;
    const unprocessed = { ...((out.json.UnprocessedItems as Record<string, unknown[]>) ?? {}) };
    if (held.length > 0) unprocessed[tableName] = [...(unprocessed[tableName] ?? []), ...held];
    reply(res, 200, strip({ ...out.json, UnprocessedItems: unprocessed }, input.ReturnConsumedCapacity), out.headers);
  }

  type TransactItem = {
    Put?: Input & { Item: WireItem };
    Update?: Input & { Key: Key };
    Delete?: Input & { Key: Key };
    ConditionCheck?: Input & { Key: Key };
  };
  async function transactWrite(req: IncomingMessage, res: ServerResponse, input: Input & { TransactItems: TransactItem[] }) {
    const keyFor = (t: TransactItem): Key => (t.Put ? keyOf(t.Put.Item) : (t.Update ?? t.Delete ?? t.ConditionCheck)!.Key);
    const before = await getMany(input.TransactItems.map(keyFor));
    const old = (t: TransactItem) => before.get(keyString(keyFor(t))) ?? null;
    const predicted = input.TransactItems.flatMap((t) =>
      t.Put
        ? writeCharges(old(t), t.Put.Item, 2)
        : t.Delete
          ? writeCharges(old(t), null, 2)
          : t.Update
            ? writeCharges(old(t), old(t) ?? keyFor(t), 2)
            : writeCharges(old(t) ?? keyFor(t), null, 2, false),
    );
    if (!admits('w', predicted)) {
      throttledRequests++;
      return reply(res, 400, {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${input.TransactItems.map(() => 'ThrottlingError').join(', ')}]`,
        CancellationReasons: input.TransactItems.map(() => ({
          Code: 'ThrottlingError',
          Message:
            'Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.',
        })),
      });
    }
    const out = await forwardJson(req, input);
    if (out.status !== 200) {
      if (failedCondition(out.json))
        take(
          'w',
          input.TransactItems.flatMap((t) => writeCharges(old(t) ?? t.Put?.Item ?? keyFor(t), null, 2, false)),
        );
      return reply(res, out.status, out.json, out.headers);
    }
    const updated = await getMany(input.TransactItems.filter((t) => t.Update).map(keyFor));
    take(
      'w',
      input.TransactItems.flatMap((t) =>
        t.Put
          ? writeCharges(old(t), t.Put.Item, 2)
          : t.Delete
            ? writeCharges(old(t), null, 2)
            : t.Update
              ? writeCharges(old(t), updated.get(keyString(keyFor(t))) ?? null, 2)
              : writeCharges(old(t) ?? keyFor(t), null, 2, false),
      ),
    );
    itemsWritten += input.TransactItems.filter((t) => !t.ConditionCheck).length;
    reply(res, 200, strip(out.json, input.ReturnConsumedCapacity), out.headers);
  }

  /** The partition key value a Query's key condition names. */
  const queryPartition = (input: Input): { where: string; key: string } => {
    const index = shape.indexes.find((i) => i.name === input.IndexName);
    const pkAttr = index ? index.partitionKey : shape.partitionKey;
    const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, WireValue>;
    const condition = String(input.KeyConditionExpression ?? '');
    for (const m of condition.matchAll(/([#\w.]+)\s*=\s*(:[\w]+)/g)) {
      const attr = m[1]!.startsWith('#') ? names[m[1]!] : m[1];
      if (attr === pkAttr) return { where: index ? index.name : 'table', key: keyValue(values[m[2]!]) ?? '' };
    }
    return { where: index ? index.name : 'table', key: '' };
  };

  async function query(req: IncomingMessage, res: ServerResponse, input: Input) {
    const p = queryPartition(input);
    if (!admits('r', [{ ...p, units: 0 }])) return throttle(res);
    const out = await forwardJson(req, { ...input, ReturnConsumedCapacity: 'INDEXES' });
    if (out.status === 200) {
      const cc = out.json.ConsumedCapacity as
        | {
            CapacityUnits?: number;
            Table?: { CapacityUnits?: number };
            GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
          }
        | undefined;
      const units =
        p.where === 'table'
          ? (cc?.Table?.CapacityUnits ?? cc?.CapacityUnits ?? 0)
          : (cc?.GlobalSecondaryIndexes?.[p.where]?.CapacityUnits ?? cc?.CapacityUnits ?? 0);
      take('r', [{ ...p, units }]);
    }
    reply(res, out.status, out.status === 200 ? strip(out.json, input.ReturnConsumedCapacity) : out.json, out.headers);
  }

  async function getItem(req: IncomingMessage, res: ServerResponse, input: Input & { Key: Key; ConsistentRead?: boolean }) {
    const p = { where: 'table', key: keyValue(input.Key[shape.partitionKey]) ?? '' };
    if (!admits('r', [{ ...p, units: 0 }])) return throttle(res);
    const out = await forwardJson(req, input);
    if (out.status === 200) {
      const full = (await getMany([input.Key])).get(keyString(input.Key));
      take('r', [{ ...p, units: readUnits(full ? itemSize(full) : 0, input.ConsistentRead === true) }]);
    }
    reply(res, out.status, out.json, out.headers);
  }

  async function batchGet(
    req: IncomingMessage,
    res: ServerResponse,
    input: Input & { RequestItems: Record<string, { Keys: Key[]; ConsistentRead?: boolean }> },
  ) {
    const want = input.RequestItems[tableName];
    if (!want) return reply(res, 200, (await forwardJson(req, input)).json);
    const admitted = want.Keys.filter((k) => admits('r', [{ where: 'table', key: keyValue(k[shape.partitionKey]) ?? '', units: 0 }]));
    const held = want.Keys.filter((k) => !admitted.includes(k));
    if (admitted.length === 0) {
      throttledItems += held.length;
      return throttle(res);
    }
    const out = await forwardJson(req, { ...input, RequestItems: { ...input.RequestItems, [tableName]: { ...want, Keys: admitted } } });
    if (out.status === 200) {
      const full = await getMany(admitted);
      take(
        'r',
        admitted.map((k) => ({
          where: 'table',
          key: keyValue(k[shape.partitionKey]) ?? '',
          units: readUnits(itemSizeOr0(full.get(keyString(k))), want.ConsistentRead === true),
        })),
      );
      if (held.length > 0) {
        throttledItems += held.length;
        const unprocessed = { ...((out.json.UnprocessedKeys as Record<string, { Keys: Key[] }>) ?? {}) };
        unprocessed[tableName] = { ...want, Keys: [...(unprocessed[tableName]?.Keys ?? []), ...held] };
        out.json.UnprocessedKeys = unprocessed;
      }
    }
    reply(res, out.status, out.json, out.headers);
  }

  const { server, port } = await startProxyServer(async (req, res, body, op) => {
    calls[op] = (calls[op] ?? 0) + 1;
    if (injectRoundTrip && roundTripMs > 0) await sleep(roundTripMs);
    const input = JSON.parse(body.toString('utf8') || '{}') as Input;
    const mine = input.TableName === tableName || op === 'BatchWriteItem' || op === 'BatchGetItem' || op === 'TransactWriteItems';
    if (!mine) {
      const out = await send(req.headers, body);
      return reply(res, out.status, out.body.toString('utf8'), out.headers);
    }
    switch (op) {
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return singleWrite(op, req, res, input);
      case 'BatchWriteItem':
        return batchWrite(req, res, input as Parameters<typeof batchWrite>[2]);
      case 'TransactWriteItems':
        return transactWrite(req, res, input as Parameters<typeof transactWrite>[2]);
      case 'Query':
        return query(req, res, input);
      case 'GetItem':
        return getItem(req, res, input as Parameters<typeof getItem>[2]);
      case 'BatchGetItem':
        return batchGet(req, res, input as Parameters<typeof batchGet>[2]);
      default: {
        // Scan, DescribeTable, TransactGetItems, ...: forwarded; a Scan's units go to no single partition.
        const out = await forwardJson(req, op === 'Scan' ? { ...input, ReturnConsumedCapacity: 'TOTAL' } : input);
        if (op === 'Scan' && out.status === 200)
          take('r', [
            {
              where: 'table',
              key: '(scan)',
              units: Number((out.json.ConsumedCapacity as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0),
            },
          ]);
        return reply(res, out.status, op === 'Scan' ? strip(out.json, input.ReturnConsumedCapacity) : out.json, out.headers);
      }
    }
  });

  const sorted = (by: 'wcu' | 'rcu') =>
    [...uses.values()].filter((u) => u.where !== 'table' || u.key !== '(scan)' || by === 'rcu').sort((a, b) => b[by] - a[by]);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    writeUnitsPerSecond: wps,
    readUnitsPerSecond: rps,
    roundTripMs,
    report: () => {
      const wcuBy: Record<string, number> = {};
      const rcuBy: Record<string, number> = {};
      for (const u of uses.values()) {
        wcuBy[u.where] = (wcuBy[u.where] ?? 0) + u.wcu;
        rcuBy[u.where] = (rcuBy[u.where] ?? 0) + u.rcu;
      }
      const w = sorted('wcu')[0];
      const r = sorted('rcu').filter((u) => u.key !== '(scan)')[0];
      return {
        calls: { ...calls },
        totalCalls: Object.values(calls).reduce((a, b) => a + b, 0),
        wcu: Object.values(wcuBy).reduce((a, b) => a + b, 0),
        rcu: Object.values(rcuBy).reduce((a, b) => a + b, 0),
        wcuBy,
        rcuBy,
        hottestWrite: w && w.wcu > 0 ? { ...w } : null,
        hottestRead: r && r.rcu > 0 ? { ...r } : null,
        throttledRequests,
        throttledItems,
        itemsWritten,
      };
    },
    partitions: () => sorted('wcu').map((u) => ({ ...u })),
    reset: () => {
      uses = new Map();
      calls = {};
      throttledRequests = 0;
      throttledItems = 0;
      itemsWritten = 0;
      buckets.clear();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function itemSizeOr0(item: WireItem | undefined): number {
  return item ? itemSize(item) : 0;
}

function sameEntry(a: WireItem, b: WireItem): boolean {
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((k) => sameValue(a[k], b[k]));
}
