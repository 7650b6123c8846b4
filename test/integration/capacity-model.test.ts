import {
  BatchWriteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ProvisionedThroughputExceededException,
  TransactWriteItemsCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDocumentClient, newDynamoClient } from '../../functions/adapters/clients.js';
import { LOG_ROOT_SHARDS, TRACE_SHARDS } from '../../functions/adapters/dynamo/keys.js';
import { DynamoSpanStore } from '../../functions/adapters/dynamo/span-store.js';
import { recordTraceLog } from '../../functions/domain/parea/index.js';
import { ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { ingestDepsOn } from '../../functions/shared/services.js';
import { modeledSeconds, startCapacityModel, type CapacityModel } from '../support/capacity-model.js';
import { indexEntry, indexEntrySize, itemSize, writeUnits, type TableShape } from '../support/item-size.js';
import { countProjectTraces, putObject, useTestStack } from '../support/stack.js';

const stack = useTestStack({ notifications: false });
let target: string;
const models: CapacityModel[] = [];

async function model(options: Partial<Parameters<typeof startCapacityModel>[0]> = {}): Promise<CapacityModel> {
  const m = await startCapacityModel({ target, tableName: stack.table, roundTripMs: 0, ...options });
  models.push(m);
  return m;
}

function clientOf(m: CapacityModel): DynamoDBClient {
  return newDynamoClient(m.endpoint);
}

beforeAll(async () => {
  const endpoint = await stack.dynamo.config.endpoint!();
  target = `http://${endpoint.hostname}:${endpoint.port}`;
}, 60_000);

afterAll(async () => {
  for (const m of models) await m.close();
});

const S = (s: string) => ({ S: s });

describe("item sizes, by DynamoDB's rules", () => {
  it('counts names and values, numbers by their digits, maps and lists with their overhead', () => {
    expect(itemSize({ ab: S('héllo') })).toBe(2 + 6);
    expect(itemSize({ n: { N: '12345' } })).toBe(1 + 4); // 5 digits: 3 bytes + 1
    expect(itemSize({ b: { B: Buffer.from('abcd').toString('base64') } })).toBe(1 + 4);
    expect(itemSize({ m: { M: { k: S('v') } } })).toBe(1 + 3 + 1 + 1 + 1);
    expect(itemSize({ l: { L: [S('x'), { BOOL: true }] } })).toBe(1 + 3 + 2 + 2);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
  });

  it('projects only keys and INCLUDE attributes into an index entry, plus 100 bytes', () => {
    const shape: TableShape = {
      partitionKey: 'pk',
      sortKey: 'sk',
      indexes: [{ name: 'g', partitionKey: 'gpk', sortKey: 'gsk', projection: ['kept'] }],
    };
    const item = { pk: S('p'), sk: S('s'), gpk: S('g'), gsk: S('o'), kept: S('yes'), dropped: S('x'.repeat(5000)) };
    const entry = indexEntry(shape, shape.indexes[0]!, item)!;
    expect(Object.keys(entry).sort()).toEqual(['gpk', 'gsk', 'kept', 'pk', 'sk']);
    expect(indexEntrySize(entry)).toBe(itemSize(entry) + 100);
    expect(indexEntry(shape, shape.indexes[0]!, { pk: S('p'), sk: S('s') })).toBeNull();
  });
});

describe('the capacity model in front of DynamoDB Local', () => {
  it('charges a put to the table and to every index partition the item lands in', async () => {
    const m = await model();
    const client = clientOf(m);
    const item = {
      pk: S('T#model#1'),
      sk: S('T'),
      gsi4pk: S('TC#model#x#00'),
      gsi5pk: S('TS#model#x#00#s'),
      ok: S('2024-01-01T00:00:00.000Z#a#1'),
      doc_z: { B: new Uint8Array(1500) },
    };
    await client.send(new PutItemCommand({ TableName: stack.table, Item: item }));
    const r = m.report();
    expect(r.wcuBy.table).toBe(2); // ~1.6 KB
    expect(r.wcuBy.gsi4).toBe(2); // gsi4 holds doc_z too
    expect(r.wcuBy.gsi5).toBe(1); // keys only (doc_z is not projected)
    expect(r.wcuBy.gsi1 ?? 0).toBe(0);
    // The same item again: the table is charged, the indexes are not (nothing they hold changed).
    await client.send(new PutItemCommand({ TableName: stack.table, Item: item }));
    expect(m.report().wcuBy.gsi4).toBe(2);
    expect(m.report().wcuBy.table).toBe(4);
    client.destroy();
  });

  it('refuses writes to a partition over its limit, as AWS does: single, batch (unprocessed items) and transaction', async () => {
    // One unit every five seconds: nothing this test does refills it.
    const m = await model({ writeUnitsPerSecond: 0.2 });
    const client = new DynamoDBClient({
      endpoint: m.endpoint,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const hot = (i: number) => ({ pk: S(`T#hot#${i}`), sk: S('T'), gsi4pk: S('TC#hot#one#00'), ok: S(`o${i}`) });
    const requests = Array.from({ length: 3 }, (_, i) => ({ PutRequest: { Item: hot(i) } }));
    const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [stack.table]: requests } }));
    // The index partition has room for one write: the other two come back unprocessed.
    expect(out.UnprocessedItems?.[stack.table]?.length).toBe(2);
    await expect(client.send(new PutItemCommand({ TableName: stack.table, Item: hot(99) }))).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
    const err = await client
      .send(new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: stack.table, Item: hot(100) } }] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionCanceledException);
    expect((err as TransactionCanceledException).CancellationReasons?.[0]?.Code).toBe('ThrottlingError');
    // A partition of its own is not throttled by its neighbour (the table's keys are all distinct here).
    await client.send(new PutItemCommand({ TableName: stack.table, Item: { pk: S('T#cold'), sk: S('T') } }));
    expect(m.report().throttledRequests).toBeGreaterThanOrEqual(2);
    client.destroy();
  });

  it('spreads one upload of one project over every index shard; under tight limits the ingest still finishes with every trace', async () => {
    const n = 1_500;
    // 40 units a second per partition: an unsharded index would take 1,500 / 40 = 37 s for this file; 32 shards about 1.2 s.
    const m = await model({ writeUnitsPerSecond: 40 });
    const body = Array.from({ length: n }, (_, i) => JSON.stringify({ input: `question ${i}`, output: 'answer '.repeat(20) })).join('\n');
    const key = `${stack.info.dropPrefix}capacity/one.jsonl`;
    await putObject(stack, key, body);
    const started = Date.now();
    const out = await ingestObject(ingestDepsOn(clientOf(m)), { bucket: stack.info.bucket, key });
    expect(out.status).toBe('completed');
    expect(await countProjectTraces(stack)).toBe(n);
    const byShard = m.partitions().filter((p) => p.where === 'gsi4' && p.key.startsWith('TC#'));
    expect(byShard).toHaveLength(TRACE_SHARDS);
    const most = Math.max(...byShard.map((p) => p.wcu));
    expect(most).toBeLessThan((n / TRACE_SHARDS) * 2);
    const r = m.report();
    // What AWS would need: bound by the hottest partition's units (the round trips are 0 here).
    expect(modeledSeconds(m, r, 8).seconds).toBeCloseTo(Math.max((r.hottestWrite?.wcu ?? 0) / 40, (r.hottestRead?.rcu ?? 0) / 3000), 5);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  it("spreads a project's trace-log roots (the get_trace_logs index and its counters) over their shards, in the root span's transaction", async () => {
    const n = 800;
    const m = await model({ writeUnitsPerSecond: 60 });
    const deps = { store: new DynamoSpanStore(newDocumentClient(clientOf(m)), stack.table) };
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const id = `cap-root-${next++}`;
          await recordTraceLog(deps, tenant, {
            trace_id: id,
            root_trace_id: id,
            trace_name: 'root',
            start_timestamp: '2026-11-01T10:00:00Z',
          });
        }
      }),
    );
    const members = m.partitions().filter((p) => p.where === 'gsi1' && p.key.startsWith('LRA#'));
    const counters = m.partitions().filter((p) => p.where === 'table' && p.key.startsWith('LRN#'));
    expect(members).toHaveLength(LOG_ROOT_SHARDS);
    expect(counters).toHaveLength(LOG_ROOT_SHARDS);
    // No shard takes much more than its share: the project's root rate is 16 partitions' worth.
    for (const use of [members, counters])
      expect(Math.max(...use.map((p) => p.wcu))).toBeLessThan((use.reduce((a, p) => a + p.wcu, 0) / LOG_ROOT_SHARDS) * 2);
    // Each root: its span, its member and two counters, in one transaction (twice the units).
    expect(m.report().calls.TransactWriteItems).toBeGreaterThanOrEqual(n);
  }, 120_000);
});
