import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, QueryCommand, GetItemCommand, type AttributeValue, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, expect } from 'vitest';
import { ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { traceId } from '../../functions/domain/ids.js';
import { ingestDeps } from '../../functions/shared/services.js';
import { allShards, createdAtOf, keys, TRACE_SHARDS, traceIndex } from '../../functions/adapters/dynamo/keys.js';
import { renderInput } from '../../functions/domain/render-input.js';
import { unpackText } from '../../functions/domain/trace.js';
import { freePort, isAddressInUse } from '../../local/ports.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';
import { toS3Notification } from '../../local/s3-bridge.js';
import { sharedDynamoEndpoint } from './shared-dynamo.js';
import { setTimeout as sleep } from 'node:timers/promises';

export type TestStack = LocalStack & { dataDir: string; cleanup(): Promise<void> };

/**
 * A whole local stack on free ports in a temp dir, with fast retries for tests. Its DynamoDB Local is
 * the worker's shared one (test/support/shared-dynamo.ts), with a table of its own, unless the
 * overrides ask for one of its own (persistDynamo, dynamoPort) or the run has none.
 */
export async function startTestStack(overrides: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const ownDynamo = overrides.persistDynamo !== undefined || overrides.dynamoPort !== undefined || overrides.dynamoEndpoint !== undefined;
  const shared = ownDynamo ? undefined : await sharedDynamoEndpoint();
  for (let attempt = 1; ; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'trace-ingest-test-'));
    try {
      const stack = await startLocalStack({
        dataDir,
        apiPort: await freePort(),
        s3Port: await freePort(),
        dynamoPort: await freePort(),
        persistDynamo: false,
        ...(shared ? { dynamoEndpoint: shared, table: `trace-ingest-test-${randomUUID().slice(0, 8)}` } : {}),
        // Fast but growing (0.1, 0.2, 0.4, 0.8 s): a duplicate that finds the lease held outlasts a slow first worker.
        retryDelayMs: (n) => 100 * 2 ** (n - 1),
        leaseMs: 3_000,
        ...overrides,
      });
      return {
        ...stack,
        dataDir,
        cleanup: async () => {
          await stack.stop();
          // The shared DynamoDB Local outlives this file: its table goes.
          if (shared) await stack.dynamo.send(new DeleteTableCommand({ TableName: stack.table })).catch(() => {});
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      // Another process took one of the ports between the check and the start: try new ones.
      if (attempt >= 3 || !isAddressInUse(err) || overrides.apiPort || overrides.s3Port || overrides.dynamoPort) throw err;
    }
  }
}

/**
 * The setup of an integration file: one stack for all its tests, started before the first (within
 * `startTimeoutMs`) and stopped, its data directory removed, after the last; then `afterStop`. Call it
 * at the file's top level; what it answers stands for the started stack, so use it only in tests and
 * in hooks registered after this call (they run after the start).
 */
export function useTestStack(
  overrides: Partial<LocalStackOptions> = {},
  o: { startTimeoutMs?: number; afterStop?: () => void | Promise<void> } = {},
): TestStack {
  let started: TestStack | undefined;
  beforeAll(async () => {
    started = await startTestStack(overrides);
  }, o.startTimeoutMs ?? 60_000);
  afterAll(async () => {
    await started?.cleanup();
    await o.afterStop?.();
  });
  const current = (): TestStack => {
    if (!started) throw new Error('the test stack is used before its beforeAll started it (use it inside tests and hooks)');
    return started;
  };
  return new Proxy({} as TestStack, {
    get: (_, name) => Reflect.get(current(), name),
    has: (_, name) => Reflect.has(current(), name),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_, name) => Reflect.getOwnPropertyDescriptor(current(), name),
  });
}

/** What the bucket's notification to SQS says for the object stored under `key` right now (its size, ETag and version). */
export async function notificationFor(stack: LocalStack, key: string, eventTime = new Date().toISOString()): Promise<string> {
  const body = await toS3Notification(
    { Records: [{ eventName: 'ObjectCreated:Put', eventTime, s3: { bucket: { name: stack.info.bucket }, object: { key } } }] },
    stack.s3,
    stack.info.region,
  );
  return body!;
}

export async function putObject(stack: LocalStack, key: string, body: string | Buffer): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.info.bucket, Key: key, Body: body }));
}

/**
 * Stores an object and ingests it right away as if its S3 event said it was
 * created at `at` (for stacks started with notifications off): traces get
 * that creation time, so time ranges and retention can be tested.
 */
export async function ingestAt(stack: LocalStack, key: string, body: string, at: number): Promise<void> {
  await putObject(stack, key, body);
  const head = await ingestDeps().storage.head({ bucket: stack.info.bucket, key });
  const out = await ingestObject(ingestDeps(), {
    bucket: stack.info.bucket,
    key,
    eTag: head!.eTag,
    size: head!.size,
    eventTime: new Date(at).toISOString(),
  });
  expect(out.status).toBe('completed');
}

/** Puts an object and waits until the pipeline has dealt with it. */
export async function dropAndSettle(stack: LocalStack, key: string, body: string | Buffer): Promise<void> {
  await putObject(stack, key, body);
  // s3rver emits its event after answering the PUT: give it a moment to reach the bridge.
  await sleep(50);
  await stack.settled();
}

/** A trace item as the tests look at it: the stored attributes, with what the lean item packs (document, order key) unpacked. */
export interface StoredTraceItem {
  id: string;
  organization_id: string;
  project_id: string;
  created_at: string;
  filename: string;
  source: string;
  integration_id: string | null;
  /** As the API renders it from the document. */
  input?: string | null;
  doc?: string;
  payload_key?: string;
  upload_id: string;
  position: number;
  evaluations_count?: number;
  eval_status?: string;
}

/** Each page of a Query on each shard of a project's list index (gsi4), `extra` merged into the request. */
async function* projectIndexPages(stack: LocalStack, org: string, project: string, extra: Partial<QueryCommandInput> = {}) {
  for (const shard of allShards(TRACE_SHARDS)) {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await stack.dynamo.send(
        new QueryCommand({
          TableName: stack.table,
          IndexName: 'gsi4',
          KeyConditionExpression: 'gsi4pk = :p',
          ExpressionAttributeValues: { ':p': { S: traceIndex.all(org, project, shard) } },
          ...extra,
          ExclusiveStartKey: start,
        }),
      );
      yield page;
      start = page.LastEvaluatedKey;
    } while (start);
  }
}

/** A stored trace item, unpacked (see StoredTraceItem). */
export function unpackTraceItem(org: string, project: string, item: Record<string, unknown>): StoredTraceItem {
  const order = String(item.ok);
  const packed = item.doc_z instanceof Uint8Array ? item.doc_z : item.doc_zb instanceof Uint8Array ? item.doc_zb : undefined;
  const doc = packed ? unpackText(packed) : undefined;
  return {
    id: String(item.pk).slice(keys.trace(org, project, '').pk.length),
    organization_id: org,
    project_id: project,
    created_at: createdAtOf(order),
    filename: String(item.filename),
    source: String(item.source),
    integration_id: typeof item.integration_id === 'string' ? item.integration_id : null,
    ...(doc !== undefined ? { doc, input: renderInput(JSON.parse(doc) as Record<string, unknown>) } : {}),
    ...(typeof item.payload_key === 'string' ? { payload_key: item.payload_key } : {}),
    upload_id: String(item.upload_id),
    position: Number(order.slice(order.lastIndexOf('#') + 1)),
    ...(typeof item.evaluations_count === 'number' ? { evaluations_count: item.evaluations_count } : {}),
    ...(typeof item.eval_status === 'string' ? { eval_status: item.eval_status } : {}),
  };
}

/** Every trace item of a project, read with Query on each shard of the list index (as the API reads), unpacked. */
export async function projectTraces(
  stack: LocalStack,
  org = stack.info.organizationId,
  project = stack.info.projectId,
): Promise<StoredTraceItem[]> {
  const out: StoredTraceItem[] = [];
  for await (const page of projectIndexPages(stack, org, project)) {
    for (const entry of page.Items ?? []) {
      let item = unmarshall(entry);
      // A document too big for the index (doc_zb) is only in the item.
      if (!item.doc_z && !item.payload_key) item = (await getItem(stack, { pk: String(item.pk), sk: 'T' })) ?? item;
      out.push(unpackTraceItem(org, project, item));
    }
  }
  return out;
}

/** How many trace items a project has, counted on the list index (Select COUNT). */
export async function countProjectTraces(
  stack: LocalStack,
  org = stack.info.organizationId,
  project = stack.info.projectId,
): Promise<number> {
  let n = 0;
  for await (const page of projectIndexPages(stack, org, project, { Select: 'COUNT' })) n += page.Count ?? 0;
  return n;
}

export async function getItem(stack: LocalStack, key: { pk: string; sk: string }): Promise<Record<string, unknown> | undefined> {
  const out = await stack.dynamo.send(
    new GetItemCommand({ TableName: stack.table, Key: { pk: { S: key.pk }, sk: { S: key.sk } }, ConsistentRead: true }),
  );
  return out.Item ? unmarshall(out.Item) : undefined;
}

export async function projectCounter(stack: LocalStack, org = stack.info.organizationId, project = stack.info.projectId) {
  return (await getItem(stack, keys.counter(org, project))) as
    | { traces: number; by_source: Record<string, number>; sources?: Set<string> }
    | undefined;
}

/** All upload records of a project. */
export async function projectUploads(stack: LocalStack, org = stack.info.organizationId, project = stack.info.projectId) {
  const out = await stack.dynamo.send(
    new QueryCommand({
      TableName: stack.table,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :u)',
      FilterExpression: '#t = :t',
      ExpressionAttributeNames: { '#t': 'type' },
      ExpressionAttributeValues: { ':p': { S: keys.projectPartition(org, project) }, ':u': { S: 'UPLOAD#' }, ':t': { S: 'upload' } },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []).map((i) => unmarshall(i));
}

/** The ids the pipeline must produce for the given good records of one object (in the stack's default project, or `tenant`'s). */
export function expectedIds(
  stack: LocalStack,
  objectKey: string,
  records: Array<{ position: number; raw: string }>,
  tenant: { organizationId: string; projectId: string } = stack.info,
): string[] {
  return records
    .map((r) =>
      traceId({ organizationId: tenant.organizationId, projectId: tenant.projectId, objectKey, position: r.position, raw: r.raw }),
    )
    .sort();
}

/** The JSONL lines of a text with their 1-based positions, blank lines skipped. */
export function jsonlRecords(text: string): Array<{ position: number; raw: string }> {
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((line, i) => ({ position: i + 1, raw: line.replace(/\r$/, '').trim() }))
    .filter((r) => r.raw !== '');
}
