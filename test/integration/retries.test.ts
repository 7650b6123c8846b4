import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { ingestObject, type IngestDeps } from '../../functions/domain/ingest/ingest-object.js';
import type { TraceWriter, UploadStore } from '../../functions/domain/ports.js';
import { makeSqsIngestHandler } from '../../functions/handlers/ingest.js';
import { ingestDeps } from '../../functions/shared/services.js';
import { LocalQueue } from '../../local/queue.js';
import { reconcile } from '../../local/reconcile.js';
import {
  expectedIds,
  getItem,
  jsonlRecords,
  projectCounter,
  projectTraces,
  projectUploads,
  putObject,
  notificationFor,
  useTestStack,
} from '../support/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

// Events are delivered by the tests themselves, exactly when and as often as each test wants.
const stack = useTestStack({ notifications: false, leaseMs: 1_000 });

/** A JSONL file of n records (about 200 bytes each). */
function jsonl(n: number, tag: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `${JSON.stringify({ input: `question ${i} of ${tag}`, output: `answer ${i}`, n: i })}\n`;
  return s;
}

const notification = (key: string) => notificationFor(stack, key);

function refOf(body: string) {
  const r = (JSON.parse(body) as { Records: Array<{ s3: { object: { key: string; size: number; eTag: string; versionId?: string } } }> })
    .Records[0]!;
  const o = r.s3.object;
  return {
    bucket: stack.info.bucket,
    key: decodeURIComponent(o.key.replace(/\+/g, ' ')),
    size: o.size,
    eTag: o.eTag,
    versionId: o.versionId,
  };
}

async function tracesOf(key: string) {
  return (await projectTraces(stack)).filter((t) => t.filename === key.split('/').pop());
}

/** Counter and items must agree after every scenario: nothing counted twice, nothing missed. */
async function expectCounterMatchesItems() {
  const traces = await projectTraces(stack);
  expect((await projectCounter(stack))?.traces).toBe(traces.length);
  // The hourly counters (for time-range totals) add up to the same number.
  const hours = await stack.dynamo.send(
    new QueryCommand({
      TableName: stack.table,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :h)',
      ExpressionAttributeValues: {
        ':p': { S: keys.projectPartition(stack.info.organizationId, stack.info.projectId) },
        ':h': { S: 'COUNTER#H#' },
      },
      ConsistentRead: true,
    }),
  );
  expect((hours.Items ?? []).reduce((sum, i) => sum + Number(i.traces?.N ?? 0), 0)).toBe(traces.length);
}

/** A writer that fails (like a crashed worker) once it has written `okBatches` batches. */
function crashingWriter(inner: TraceWriter, okBatches: number): TraceWriter {
  let written = 0;
  return {
    owners: (o, p, ids) => inner.owners(o, p, ids),
    writeBatch: async (traces) => {
      if (written >= okBatches) throw new Error('worker crashed');
      written++;
      await inner.writeBatch(traces);
    },
  };
}

describe('retries, duplicates and crashes never lose or duplicate a record', () => {
  it('the same S3 event delivered three times at once gives exactly the expected traces, counted once', async () => {
    const key = `${stack.info.dropPrefix}dup/three-times.jsonl`;
    const text = jsonl(300, 'dup');
    await putObject(stack, key, text);
    const body = await notification(key);
    const consumer = makeSqsIngestHandler({ deps: () => ({ ...ingestDeps(), leaseMs: 1_000 }), maxReceiveCount: () => 5 });
    // Like a visibility timeout that grows: the duplicates come back until the first worker is done, however slow the machine.
    const queue = new LocalQueue({ dir: null, consumer, concurrency: 3, retryDelayMs: (n) => 200 * 2 ** (n - 1) });
    queue.send(body);
    queue.send(body);
    queue.send(body);
    await queue.idle();
    expect(queue.deadLetters).toEqual([]);
    const traces = await tracesOf(key);
    expect(traces.map((t) => t.id).sort()).toEqual(expectedIds(stack, key, jsonlRecords(text)));
    const uploads = (await projectUploads(stack)).filter((u) => u.object_key === key);
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ status: 'completed', traces: 300, new_traces: 300 });
    await expectCounterMatchesItems();
  });

  it('a crash after half the batches, then redelivery, gives exactly the expected ids and counts them once', async () => {
    const key = `${stack.info.dropPrefix}crash/half.jsonl`;
    const text = jsonl(500, 'crash'); // 20 batches of 25
    await putObject(stack, key, text);
    const ref = refOf(await notification(key));
    const crashing: IngestDeps = { ...ingestDeps(), traces: crashingWriter(ingestDeps().traces, 10), writeConcurrency: 1 };
    await expect(ingestObject(crashing, ref)).rejects.toThrow(/worker crashed/);
    const partial = await tracesOf(key);
    expect(partial.length).toBe(250);
    const failed = (await projectUploads(stack)).find((u) => u.object_key === key)!;
    expect(failed).toMatchObject({ status: 'pending', last_error: 'worker crashed', attempts: 1 });

    const outcome = await ingestObject(ingestDeps(), ref);
    expect(outcome.status).toBe('completed');
    const traces = await tracesOf(key);
    expect(traces.map((t) => t.id).sort()).toEqual(expectedIds(stack, key, jsonlRecords(text)));
    const upload = (await projectUploads(stack)).find((u) => u.object_key === key)!;
    expect(upload).toMatchObject({ status: 'completed', traces: 500, new_traces: 500, attempts: 2 });
    await expectCounterMatchesItems();
  });

  it('a worker that dies holding the lease blocks others only until the lease lapses', async () => {
    const key = `${stack.info.dropPrefix}crash/lease.jsonl`;
    const text = jsonl(100, 'lease');
    await putObject(stack, key, text);
    const ref = refOf(await notification(key));
    const base = ingestDeps();
    // A process that dies never releases its lease.
    const diesHoldingLease: UploadStore = Object.assign(
      Object.create(Object.getPrototypeOf(base.uploads) as object) as UploadStore,
      base.uploads,
      {
        releaseLease: async () => {},
      },
    );
    await expect(
      ingestObject({ ...base, uploads: diesHoldingLease, traces: crashingWriter(base.traces, 1), leaseMs: 1_000 }, ref),
    ).rejects.toThrow();
    await expect(ingestObject({ ...base, leaseMs: 1_000 }, ref)).rejects.toThrow(/being ingested by another worker/);
    await sleep(1_100);
    const outcome = await ingestObject({ ...base, leaseMs: 1_000 }, ref);
    expect(outcome.status).toBe('completed');
    expect((await tracesOf(key)).map((t) => t.id).sort()).toEqual(expectedIds(stack, key, jsonlRecords(text)));
    await expectCounterMatchesItems();
  });

  it('a re-upload of identical content gives the same ids and counts nothing twice; changed lines become new traces', async () => {
    const key = `${stack.info.dropPrefix}reupload/file.jsonl`;
    const v1 = '{"input":"one"}\n{"input":"two"}\n';
    await putObject(stack, key, v1);
    await ingestObject(ingestDeps(), refOf(await notification(key)));
    const first = (await tracesOf(key)).map((t) => t.id).sort();
    await putObject(stack, key, v1);
    // Another PUT is another object version (the bucket is versioned): an upload of its own, which finds every trace stored.
    const again = await ingestObject(ingestDeps(), refOf(await notification(key)));
    expect(again.status).toBe('completed');
    if (again.status === 'completed') expect(again.summary.newTraces).toBe(0);
    expect((await tracesOf(key)).map((t) => t.id).sort()).toEqual(first);

    const v2 = '{"input":"one"}\n{"input":"two, edited"}\n';
    await putObject(stack, key, v2);
    const changed = await ingestObject(ingestDeps(), refOf(await notification(key)));
    expect(changed.status).toBe('completed');
    if (changed.status === 'completed') expect(changed.summary.newTraces).toBe(1);
    const all = (await tracesOf(key)).map((t) => t.id).sort();
    expect(all).toEqual([...new Set([...first, ...expectedIds(stack, key, jsonlRecords(v2))])].sort());
    expect(all).toHaveLength(3);
    await expectCounterMatchesItems();
  });

  it('identical lines at different positions are distinct traces', async () => {
    const key = `${stack.info.dropPrefix}same-lines/same.jsonl`;
    await putObject(stack, key, '{"input":"same"}\n{"input":"same"}\n{"input":"same"}\n');
    await ingestObject(ingestDeps(), refOf(await notification(key)));
    expect(new Set((await tracesOf(key)).map((t) => t.id)).size).toBe(3);
  });

  it('a message that keeps failing is dead-lettered with the reason, and its upload marked failed', async () => {
    const key = `${stack.info.dropPrefix}dlq/always-fails.jsonl`;
    await putObject(stack, key, jsonl(10, 'dlq'));
    const reasons = new Map<string, string>();
    const consumer = makeSqsIngestHandler({
      deps: () => ({ ...ingestDeps(), traces: crashingWriter(ingestDeps().traces, 0) }),
      maxReceiveCount: () => 3,
      onMessageFailure: (id, reason) => reasons.set(id, reason),
    });
    const queue = new LocalQueue({ dir: null, consumer, maxReceiveCount: 3, retryDelayMs: () => 20, reasonFor: (id) => reasons.get(id) });
    queue.send(await notification(key));
    await queue.idle();
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.deadLetters[0]).toMatchObject({ receiveCount: 3, reason: 'worker crashed' });
    const upload = (await projectUploads(stack)).find((u) => u.object_key === key)!;
    expect(upload).toMatchObject({ status: 'failed', reason: 'worker crashed', attempts: 3 });
    expect(await tracesOf(key)).toHaveLength(0);
    await expectCounterMatchesItems();
  });

  it('the object lease is released after a successful ingest', async () => {
    const key = `${stack.info.dropPrefix}lease/released.jsonl`;
    await putObject(stack, key, '{"input":"x"}\n');
    await ingestObject(ingestDeps(), refOf(await notification(key)));
    const obj = await getItem(stack, keys.object(stack.info.organizationId, stack.info.projectId, key));
    expect(obj?.lease_owner).toBeUndefined();
    expect(obj?.starts).toBe(1);
  });

  it('on start, an object stored without any upload record (its notification lost) is queued again, and only that one', async () => {
    const key = `${stack.info.dropPrefix}lost/notification lost.jsonl`;
    await putObject(stack, key, '{"input":"lost"}\n');
    const queued: string[] = [];
    const notify = async (k: string) => {
      queued.push(k);
    };
    const found = await reconcile({ s3: stack.s3, bucket: stack.info.bucket, uploads: ingestDeps().uploads, notify });
    expect(found).toContain(key);
    expect(queued).toContain(key);
    await ingestObject(ingestDeps(), refOf(await notification(key)));
    const again = await reconcile({ s3: stack.s3, bucket: stack.info.bucket, uploads: ingestDeps().uploads, notify: async () => {} });
    expect(again).not.toContain(key);
  });
});
