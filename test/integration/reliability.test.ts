import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QueryCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { newDocumentClient, newDynamoClient } from '../../functions/adapters/clients.js';
import {
  acquireLease,
  leaseCheck,
  leaseHeldUntil,
  releaseLease,
  renewLease,
  type LeaseItem,
} from '../../functions/adapters/dynamo/lease.js';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { uploadId as deriveUploadId } from '../../functions/domain/ids.js';
import type { IngestDeps } from '../../functions/domain/ingest/ingest-object.js';
import { createTraces } from '../../functions/domain/uploads/create-traces.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { makeSqsIngestHandler } from '../../functions/handlers/ingest.js';
import { createTracesDeps, ingestDeps, ingestDepsOn, tenantStore } from '../../functions/shared/services.js';
import { LocalQueue } from '../../local/queue.js';
import { sqsRecord } from '../../local/events.js';
import { startFaultProxy, type FaultProxyOptions } from '../support/fault-proxy.js';
import { mulberry32 } from '../support/prng.js';
import {
  expectedIds,
  countProjectTraces,
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

/**
 * Each scenario works in a project of its own, so "the project holds exactly
 * these trace ids and nothing else" and "its counters equal its items" are
 * checked whole, not filtered.
 */
interface Project {
  apiKey: string;
  organizationId: string;
  projectId: string;
}

// DynamoDB Local keeps its data in files (SQLite), so it can be restarted mid-ingest; on tmpfs where there is one, so its syncs cost nothing.
const dataDir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/trace-ingest-reliability-') : undefined;
// Events are delivered by the tests until the last scenario turns the bucket's notifications on.
const stack = useTestStack(
  { notifications: false, persistDynamo: true, ...(dataDir ? { dataDir } : {}) },
  { afterStop: () => void (dataDir && rmSync(dataDir, { recursive: true, force: true })) },
);

const newProject = (name: string): Promise<Project> => createApiKey(tenantStore(), { organization: 'reliability', project: name });
const dropKey = (p: Project, name: string) => `drop/${p.organizationId}/${p.projectId}/${name}`;
const uploadKey = (p: Project, name: string) => `uploads/${p.organizationId}/${p.projectId}/${name}`;

/** A JSONL file of n distinct records (about 120 bytes each). */
function jsonl(n: number, tag: string, from = 0): string {
  let s = '';
  for (let i = from; i < from + n; i++) s += `${JSON.stringify({ input: `question ${i} of ${tag}`, output: `answer ${i}`, n: i })}\n`;
  return s;
}

const notification = (key: string, eventTime?: string) => notificationFor(stack, key, eventTime);

/** A local SQS queue feeding the real SQS ingest handler, with the failure reasons it reported. */
function queueFor(
  deps: () => IngestDeps,
  o: { concurrency?: number; maxReceiveCount?: number; retryDelayMs?: (n: number) => number } = {},
) {
  const reasons: string[] = [];
  const byId = new Map<string, string>();
  const maxReceiveCount = o.maxReceiveCount ?? 5;
  const consumer = makeSqsIngestHandler({
    deps,
    maxReceiveCount: () => maxReceiveCount,
    onMessageFailure: (id, reason) => {
      reasons.push(reason);
      byId.set(id, reason);
    },
  });
  const queue = new LocalQueue({
    dir: null,
    consumer,
    maxReceiveCount,
    concurrency: o.concurrency ?? 2,
    retryDelayMs: o.retryDelayMs ?? (() => 100),
    reasonFor: (id) => byId.get(id),
  });
  return { queue, reasons };
}

async function idsIn(p: Project): Promise<string[]> {
  return (await projectTraces(stack, p.organizationId, p.projectId)).map((t) => t.id).sort();
}

/** Trace items of the project, counted on the list index (Select COUNT, page by page). */
function countTraces(p: Project): Promise<number> {
  return countProjectTraces(stack, p.organizationId, p.projectId);
}

/** The project's counter, its per-source counts and its hourly counters all equal its trace items: nothing counted twice, nothing missed. */
async function expectCountersExact(p: Project, source: 's3' | 'upload', items: number) {
  const counter = await projectCounter(stack, p.organizationId, p.projectId);
  expect(counter?.traces).toBe(items);
  expect(counter?.by_source).toEqual({ [source]: items });
  const hours = await stack.dynamo.send(
    new QueryCommand({
      TableName: stack.table,
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :h)',
      ExpressionAttributeValues: { ':p': { S: keys.projectPartition(p.organizationId, p.projectId) }, ':h': { S: 'COUNTER#H#' } },
      ConsistentRead: true,
    }),
  );
  expect((hours.Items ?? []).reduce((sum, i) => sum + Number(i.traces?.N ?? 0), 0)).toBe(items);
}

async function uploadsOf(p: Project) {
  return projectUploads(stack, p.organizationId, p.projectId);
}

/** Polls until `ready` answers true (or fails the test after `ms`). */
async function until(what: string, ready: () => Promise<boolean>, ms = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

describe('duplicate and reordered S3 events', () => {
  it('the same event three times at once, and three times one after another: exact ids, counted once, one attempt each', async () => {
    const p = await newProject('duplicates');
    const atOnce = dropKey(p, 'dup/at-once.jsonl');
    const inTurn = dropKey(p, 'dup/in-turn.jsonl');
    const atOnceText = jsonl(300, 'at-once');
    const inTurnText = jsonl(200, 'in-turn');
    await putObject(stack, atOnce, atOnceText);
    await putObject(stack, inTurn, inTurnText);

    // Three deliveries of one message in flight together: one worker gets the lease, the others are told to come back.
    // Redeliveries come back after 500 ms, as SQS's visibility timeout would, until the first worker is done.
    const { queue, reasons } = queueFor(() => ({ ...ingestDeps(), leaseMs: 2_000 }), {
      concurrency: 3,
      maxReceiveCount: 10,
      retryDelayMs: () => 500,
    });
    const event = await notification(atOnce);
    for (let i = 0; i < 3; i++) queue.send(event);
    await queue.idle();
    expect(queue.deadLetters).toEqual([]);
    expect(reasons.length).toBeGreaterThanOrEqual(2);
    expect(reasons.every((r) => /being ingested by another worker/.test(r))).toBe(true);

    // The same message three times in a row: the second and third find the upload completed.
    const handler = makeSqsIngestHandler({ deps: ingestDeps, maxReceiveCount: () => 5 });
    const again = await notification(inTurn);
    for (let i = 0; i < 3; i++)
      expect(await handler({ Records: [sqsRecord({ body: again, messageId: `in-turn-${i}` })] })).toEqual({ batchItemFailures: [] });

    expect(await idsIn(p)).toEqual(
      [...expectedIds(stack, atOnce, jsonlRecords(atOnceText), p), ...expectedIds(stack, inTurn, jsonlRecords(inTurnText), p)].sort(),
    );
    const uploads = await uploadsOf(p);
    expect(uploads).toHaveLength(2);
    expect(uploads.find((u) => u.object_key === atOnce)).toMatchObject({ status: 'completed', traces: 300, new_traces: 300, attempts: 1 });
    expect(uploads.find((u) => u.object_key === inTurn)).toMatchObject({ status: 'completed', traces: 200, new_traces: 200, attempts: 1 });
    await expectCountersExact(p, 's3', 500);
  }, 60_000);

  it("several objects' events reversed and shuffled with duplicates interleaved: exact ids per object, counted once", async () => {
    const p = await newProject('reordered');
    const random = mulberry32(20240611);
    const files = Array.from({ length: 6 }, (_, i) => ({
      key: dropKey(p, `reordered/file-${i}.jsonl`),
      text: jsonl(120 + 10 * i, `reordered-${i}`),
    }));
    const events: string[] = [];
    for (const f of files) {
      await putObject(stack, f.key, f.text);
      events.push(await notification(f.key));
    }
    // Newest first, each object's event two or three times, then shuffled (seeded) so copies interleave with other objects' events.
    const deliveries = events.reverse().flatMap((e) => (random() < 0.5 ? [e, e] : [e, e, e]));
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    expect(deliveries.length).toBeGreaterThanOrEqual(12);
    const { queue } = queueFor(() => ({ ...ingestDeps(), leaseMs: 2_000 }), { concurrency: 3 });
    for (const d of deliveries) queue.send(d);
    await queue.idle();
    expect(queue.deadLetters).toEqual([]);

    const traces = await projectTraces(stack, p.organizationId, p.projectId);
    for (const f of files) {
      expect(
        traces
          .filter((t) => t.filename === f.key.split('/').pop())
          .map((t) => t.id)
          .sort(),
      ).toEqual(expectedIds(stack, f.key, jsonlRecords(f.text), p));
    }
    const all = files.flatMap((f) => expectedIds(stack, f.key, jsonlRecords(f.text), p)).sort();
    expect(traces.map((t) => t.id).sort()).toEqual(all);
    const uploads = await uploadsOf(p);
    expect(uploads).toHaveLength(files.length);
    for (const u of uploads) expect(u).toMatchObject({ status: 'completed', new_traces: u.traces, attempts: 1 });
    await expectCountersExact(p, 's3', all.length);
  }, 60_000);

  it("an object overwritten (v1, then v2) whose events arrive v2 first: v2's traces only; v1's stale event is refused, not ingested from v2's bytes", async () => {
    const p = await newProject('overwritten');
    const key = uploadKey(p, 'overwritten.jsonl');
    // v2 keeps v1's first 100 lines (same positions and bytes: the same ids), changes the rest and adds more.
    const v1 = jsonl(100, 'kept') + jsonl(100, 'v1 only', 100);
    const v2 = jsonl(100, 'kept') + jsonl(140, 'v2 only', 100);
    const t0 = Date.now();
    await putObject(stack, key, v1);
    const v1Event = await notification(key, new Date(t0).toISOString());
    await putObject(stack, key, v2);
    const v2Event = await notification(key, new Date(t0 + 1_000).toISOString());
    // Each PUT is its own version (the bucket is versioned): the event names it, and the upload is named by it.
    const versionOf = (e: string) =>
      (JSON.parse(e) as { Records: Array<{ s3: { object: { versionId: string } } }> }).Records[0]!.s3.object.versionId;
    expect(versionOf(v1Event)).not.toBe(versionOf(v2Event));

    const handler = makeSqsIngestHandler({ deps: ingestDeps, maxReceiveCount: () => 5 });
    expect(await handler({ Records: [sqsRecord({ body: v2Event, messageId: 'v2' })] })).toEqual({ batchItemFailures: [] });
    expect(await handler({ Records: [sqsRecord({ body: v1Event, messageId: 'v1' })] })).toEqual({ batchItemFailures: [] });

    const v2Ids = expectedIds(stack, key, jsonlRecords(v2), p);
    expect(await idsIn(p)).toEqual(v2Ids);
    const uploadIdOf = (version: string) =>
      deriveUploadId({ organizationId: p.organizationId, projectId: p.projectId, objectKey: key, version });
    const uploads = await uploadsOf(p);
    expect(uploads).toHaveLength(2);
    // One upload record per object version: v2's ingested, v1's failed for good with the reason (its bytes are no longer stored).
    expect(uploads.find((u) => u.upload_id === uploadIdOf(versionOf(v2Event)))).toMatchObject({
      status: 'completed',
      records: 240,
      traces: 240,
      new_traces: 240,
    });
    expect(uploads.find((u) => u.upload_id === uploadIdOf(versionOf(v1Event)))).toMatchObject({
      status: 'failed',
      reason: 'the object was deleted or replaced before it could be read',
      traces: 0,
      new_traces: 0,
    });
    // Every trace belongs to v2's upload and carries v2's event time.
    const traces = await projectTraces(stack, p.organizationId, p.projectId);
    expect(new Set(traces.map((t) => t.upload_id))).toEqual(new Set([uploadIdOf(versionOf(v2Event))]));
    expect(new Set(traces.map((t) => t.created_at))).toEqual(new Set([new Date(t0 + 1_000).toISOString()]));

    // Either event again changes nothing, and create by filename answers v2's ids in file order.
    expect(
      await handler({
        Records: [sqsRecord({ body: v1Event, messageId: 'v1-again' }), sqsRecord({ body: v2Event, messageId: 'v2-again' })],
      }),
    ).toEqual({ batchItemFailures: [] });
    const created = await createTraces(createTracesDeps(), p, 'overwritten.jsonl');
    expect(created.status).toBe('completed');
    if (created.status === 'completed') {
      expect([...created.traceIds].sort()).toEqual(v2Ids);
      expect(created.upload.uploadId).toBe(uploadIdOf(versionOf(v2Event)));
    }
    expect(await idsIn(p)).toEqual(v2Ids);
    await expectCountersExact(p, 'upload', 240);
  }, 60_000);
});

describe('a worker killed mid-file', () => {
  it('SIGKILLed part-way (a real process), then redelivered in-process: waits out the dead lease, then exact ids, counted once', async () => {
    const p = await newProject('killed');
    const key = dropKey(p, 'killed/big.jsonl');
    const text = jsonl(2_000, 'killed');
    await putObject(stack, key, text);
    const event = await notification(key);

    const script = fileURLToPath(new URL('../support/ingest-child.ts', import.meta.url));
    // The child inherits the stack's environment (TABLE_NAME, BUCKET_NAME, endpoints, credentials): it is wired as a Lambda is.
    const child = spawn(process.execPath, ['--import', 'tsx', script, event], {
      env: { ...process.env, INGEST_LEASE_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.once('exit', (code, signal) => {
        exited = true;
        resolve(signal ?? code);
      }),
    );
    try {
      await until('the child to write some traces', async () => {
        if (exited) throw new Error(`the worker ended before it could be killed:\n${output}`);
        return (await countTraces(p)) >= 200;
      });
      child.kill('SIGKILL');
    } finally {
      if (!exited) child.kill('SIGKILL');
    }
    expect(await exit).toBe('SIGKILL');
    await sleep(100); // writes the dead worker had in flight land (or not)
    const partial = await countTraces(p);
    expect(partial).toBeGreaterThanOrEqual(200);
    expect(partial).toBeLessThan(2_000);
    // It died holding the lease, with its upload half done.
    const upload = (await uploadsOf(p))[0]!;
    expect(upload).toMatchObject({ status: 'processing', attempts: 1 });
    const lease = await getItem(stack, keys.object(p.organizationId, p.projectId, key));
    expect(Number(lease?.lease_until)).toBeGreaterThan(Date.now());

    const { queue, reasons } = queueFor(() => ({ ...ingestDeps(), leaseMs: 2_000 }), { maxReceiveCount: 10, retryDelayMs: () => 500 });
    queue.send(event);
    await queue.idle();
    expect(queue.deadLetters).toEqual([]);
    // The first delivery found the dead worker's lease and was redelivered; a later one ran once it had lapsed.
    expect(reasons.length).toBeGreaterThanOrEqual(1);
    expect(reasons.every((r) => /being ingested by another worker/.test(r))).toBe(true);

    expect(await idsIn(p)).toEqual(expectedIds(stack, key, jsonlRecords(text), p));
    expect((await uploadsOf(p))[0]).toMatchObject({ status: 'completed', traces: 2_000, new_traces: 2_000, attempts: 2, last_error: null });
    await expectCountersExact(p, 's3', 2_000);
  }, 60_000);
});

/**
 * Ingests a file of `records` records into a new project with every DynamoDB call of the ingest
 * (traces, upload record, lease, counters) through a fault-injecting proxy; then asserts the end
 * state is exact (no dead letter, the expected ids, the upload completed, counters exact) and
 * answers the proxy's figures for the test's own checks.
 */
async function ingestThroughFaults(name: string, records: number, faults: Omit<FaultProxyOptions, 'target'>) {
  const p = await newProject(name);
  const proxy = await startFaultProxy({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, ...faults });
  const dynamo = newDynamoClient(proxy.endpoint);
  try {
    const key = dropKey(p, `${name}/traces.jsonl`);
    const text = jsonl(records, name);
    await putObject(stack, key, text);
    const deps = ingestDepsOn(dynamo);
    const { queue, reasons } = queueFor(() => ({ ...deps, leaseMs: 1_500 }), { maxReceiveCount: 20, retryDelayMs: () => 200 });
    queue.send(await notification(key));
    await queue.idle();
    expect(queue.deadLetters).toEqual([]);

    const { stats } = proxy;
    console.log(`${name}: ${JSON.stringify({ ...stats, faults: proxy.faults(), redeliveries: reasons.length, reasons })}`);
    expect(await idsIn(p)).toEqual(expectedIds(stack, key, jsonlRecords(text), p));
    expect((await uploadsOf(p))[0]).toMatchObject({ status: 'completed', traces: records, new_traces: records });
    await expectCountersExact(p, 's3', records);
    return stats;
  } finally {
    dynamo.destroy();
    await proxy.close();
  }
}

describe('a throttled table', () => {
  it('30% of writes throttled (ProvisionedThroughputExceeded and ThrottlingException): exact ids, counted once', async () => {
    const stats = await ingestThroughFaults('throttled', 2_000, { seed: 7, throttleRate: 0.3 });
    expect(stats.calls.BatchWriteItem).toBeGreaterThanOrEqual(80); // 2,000 records in batches of 25, plus retries
    expect(stats.provisionedThroughputExceeded).toBeGreaterThan(0);
    expect(stats.throttlingExceptions).toBeGreaterThan(0);
    const rate = (stats.provisionedThroughputExceeded + stats.throttlingExceptions) / stats.writes;
    expect(rate).toBeGreaterThan(0.18);
    expect(rate).toBeLessThan(0.42);
  }, 60_000);

  it('half the batch writes only partly processed (UnprocessedItems), some throttled, some applied with their answer lost: exact ids, counted once', async () => {
    const stats = await ingestThroughFaults('unprocessed', 1_000, {
      seed: 11,
      throttleRate: 0.1,
      unprocessedRate: 0.5,
      lostAnswerRate: 0.1,
    });
    expect(stats.partialBatches).toBeGreaterThan(10);
    expect(stats.unprocessedItems).toBeGreaterThan(stats.partialBatches);
    // Writes the client had to retry without knowing they had happened: batch puts, and the upload's own updates and transaction.
    expect(stats.lostAnswers).toBeGreaterThan(0);
  }, 60_000);
});

describe('DynamoDB restarted mid-ingest', () => {
  it('stopped and started again on the same port (data on disk): the ingest rides it out or is redelivered; exact ids, counted once', async () => {
    const p = await newProject('restarted');
    const key = dropKey(p, 'restarted/traces.jsonl');
    const text = jsonl(1_500, 'restarted');
    await putObject(stack, key, text);
    let renewalFailures = 0;
    const log = (entry: Record<string, unknown>) => {
      if (entry.msg === 'lease renewal failed') renewalFailures++;
    };
    // One batch in flight at a time: the file takes long enough that the stop lands inside it, however busy the machine.
    const { queue, reasons } = queueFor(() => ({ ...ingestDeps(), leaseMs: 2_000, log, writeConcurrency: 1 }), {
      maxReceiveCount: 15,
      retryDelayMs: (n) => 300 * n,
    });
    queue.send(await notification(key));

    let before = 0;
    await until('some traces to be written', async () => (before = await countTraces(p)) >= 300);
    expect(before).toBeLessThan(1_500);
    await stack.restartDynamo();
    // What was written before the stop is still there.
    const afterRestart = await countTraces(p);
    expect(afterRestart).toBeGreaterThanOrEqual(before);

    await queue.idle();
    console.log(`restarted: ${JSON.stringify({ tracesAtRestart: afterRestart, renewalFailures, failedDeliveries: reasons })}`);
    // The outage hit the ingest while it ran (so the file was not finished when DynamoDB went away): lease renewals
    // failed while it was down, or a delivery failed and came back.
    expect(renewalFailures + reasons.length).toBeGreaterThan(0);
    expect(queue.deadLetters).toEqual([]);
    expect(await idsIn(p)).toEqual(expectedIds(stack, key, jsonlRecords(text), p));
    expect((await uploadsOf(p))[0]).toMatchObject({ status: 'completed', traces: 1_500, new_traces: 1_500 });
    await expectCountersExact(p, 's3', 1_500);
  }, 60_000);
});

describe('concurrent uploads through the HTTP flow, racing the queue worker', () => {
  type Json = Record<string, any>;
  const call = async (p: Project, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${stack.info.apiUrl}${path}`, {
      method,
      headers: { 'x-api-key': p.apiKey, Accept: 'application/json', 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  /** Presign, PUT the bytes to the presigned URL, create by filename: the Stratix client's three steps. */
  const upload = async (p: Project, filename: string, text: string) => {
    const path = `/api/v1/organizations/${p.organizationId}/projects/${p.projectId}/traces`;
    const bytes = Buffer.from(text);
    const presign = await call(p, 'POST', `${path}/upload`, { filename, type: 'application/jsonl', size: bytes.length });
    expect(presign.status).toBe(200);
    const put = await fetch(presign.body.url as string, { method: 'PUT', headers: { 'Content-Type': 'application/jsonl' }, body: bytes });
    expect(put.status).toBe(200);
    await put.arrayBuffer();
    return call(p, 'POST', path, { filename });
  };

  it('20 distinct files and 5 uploads of one same file at once: exact ids per file, the same answer five times, counters exact', async () => {
    const p = await newProject('concurrent');
    const distinct = Array.from({ length: 20 }, (_, i) => ({
      filename: `file-${String(i).padStart(2, '0')}.jsonl`,
      text: jsonl(60 + i, `concurrent-${i}`),
    }));
    const same = { filename: 'same.jsonl', text: jsonl(200, 'same') };
    /** The ids in file order, as create answers them. */
    const inFileOrder = (f: { filename: string; text: string }) =>
      jsonlRecords(f.text).map((r) => expectedIds(stack, uploadKey(p, f.filename), [r], p)[0]!);
    const deadBefore = stack.queue.deadLetters.length;

    // Every PUT now also reaches the queue, whose worker races the create calls for each file.
    stack.setNotifications(true);
    try {
      const answers = await Promise.all([
        ...distinct.map((f) => upload(p, f.filename, f.text)),
        ...Array.from({ length: 5 }, () => upload(p, same.filename, same.text)),
      ]);
      for (const [i, f] of distinct.entries()) {
        expect(answers[i]).toMatchObject({ status: 200, body: { status: 'completed', errors: [] } });
        expect(answers[i]!.body.trace_ids).toEqual(inFileOrder(f));
      }
      for (const a of answers.slice(distinct.length)) {
        expect(a).toMatchObject({ status: 200, body: { status: 'completed', errors: [] } });
        expect(a.body.trace_ids).toEqual(inFileOrder(same));
      }
      // The notifications of the last PUTs may still be on their way: let the worker deal with all of them.
      await sleep(300);
      await stack.settled();
    } finally {
      stack.setNotifications(false);
    }
    expect(stack.queue.deadLetters.length).toBe(deadBefore);

    const all = [...distinct, same].flatMap((f) => expectedIds(stack, uploadKey(p, f.filename), jsonlRecords(f.text), p)).sort();
    expect(await idsIn(p)).toEqual(all);
    const uploads = await uploadsOf(p);
    for (const u of uploads.filter((u) => u.filename !== same.filename))
      expect(u).toMatchObject({ status: 'completed', new_traces: u.traces, attempts: 1 });
    // Each PUT of same.jsonl is a version of its own, as in a versioned bucket: the one that ingested first owns (and
    // counts) its traces; a later version is complete with nothing new, or refused when a newer one replaced its bytes
    // before it was read (the local stand-in keeps only the latest bytes of a key; S3 keeps every version).
    const sameUploads = uploads.filter((u) => u.filename === same.filename);
    expect(sameUploads.length).toBeGreaterThanOrEqual(1);
    expect(sameUploads.length).toBeLessThanOrEqual(5);
    expect(sameUploads.filter((u) => u.status === 'completed').reduce((n, u) => n + (u.new_traces as number), 0)).toBe(200);
    for (const u of sameUploads) {
      if (u.status !== 'completed')
        expect(u).toMatchObject({ status: 'failed', reason: 'the object was deleted or replaced before it could be read' });
    }
    await expectCountersExact(p, 'upload', all.length);
  }, 60_000);
});

describe('the lease helper (functions/adapters/dynamo/lease.ts) on DynamoDB Local', () => {
  const leaseOn = (name: string): LeaseItem => ({
    doc: newDocumentClient(stack.dynamo),
    table: stack.table,
    key: { pk: `LEASE-TEST#${name}`, sk: 'L' },
  });
  const stored = (item: LeaseItem) => getItem(stack, item.key as { pk: string; sk: string });
  const t0 = 1_800_000_000_000;

  it('acquires a lease no one holds, with the extra attributes set and counters added, and answers what they were before', async () => {
    const item = leaseOn('acquire');
    expect(await acquireLease(item, 'a', t0, 1_000, { set: { object_key: 'k', type: 'x' }, add: { starts: 1 } })).toEqual({});
    expect(await stored(item)).toMatchObject({ lease_owner: 'a', lease_until: t0 + 1_000, object_key: 'k', type: 'x', starts: 1 });
    // Its holder may take it again (a redelivery to the same worker): the counter moves on, the earlier values come back.
    expect(await acquireLease(item, 'a', t0 + 10, 1_000, { add: { starts: 1 } })).toMatchObject({
      lease_owner: 'a',
      lease_until: t0 + 1_000,
      starts: 1,
    });
    expect(await stored(item)).toMatchObject({ lease_owner: 'a', lease_until: t0 + 1_010, starts: 2 });
  });

  it('refuses another owner while it is held, and says until when; leaves it as it was', async () => {
    const item = leaseOn('refuse');
    expect(await acquireLease(item, 'a', t0, 1_000)).not.toBeNull();
    expect(await acquireLease(item, 'b', t0 + 999, 1_000, { add: { starts: 1 } })).toBeNull();
    expect(await leaseHeldUntil(item, t0 + 999)).toBe(t0 + 1_000);
    expect(await stored(item)).toEqual({ pk: item.key.pk, sk: 'L', lease_owner: 'a', lease_until: t0 + 1_000 });
    expect(await leaseHeldUntil(leaseOn('never-taken'), t0)).toBe(t0);
  });

  it('renews only while it is ours', async () => {
    const item = leaseOn('renew');
    await acquireLease(item, 'a', t0, 1_000);
    expect(await renewLease(item, 'a', t0 + 500, 1_000)).toBe(true);
    expect((await stored(item))?.lease_until).toBe(t0 + 1_500);
    expect(await renewLease(item, 'b', t0 + 600, 1_000)).toBe(false);
    expect(await stored(item)).toMatchObject({ lease_owner: 'a', lease_until: t0 + 1_500 });
    expect(await renewLease(leaseOn('renew-none'), 'a', t0, 1_000)).toBe(false);
  });

  it('is taken over once it lapsed: the old holder can then neither renew nor release it', async () => {
    const item = leaseOn('steal');
    await acquireLease(item, 'a', t0, 1_000);
    expect(await acquireLease(item, 'b', t0 + 1_000, 1_000)).toBeNull(); // not before it lapsed
    expect(await acquireLease(item, 'b', t0 + 1_001, 1_000)).toMatchObject({ lease_owner: 'a', lease_until: t0 + 1_000 });
    expect(await renewLease(item, 'a', t0 + 1_002, 1_000)).toBe(false);
    await releaseLease(item, 'a');
    expect(await stored(item)).toMatchObject({ lease_owner: 'b', lease_until: t0 + 2_001 });
  });

  it("is released only by its holder, and can be taken at once after; a transaction's lease check passes only for the holder", async () => {
    const item = leaseOn('release');
    await acquireLease(item, 'a', t0, 60_000, { set: { object_key: 'k' } });
    const markerPut = (owner: string) =>
      item.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            leaseCheck(item, owner),
            { Put: { TableName: stack.table, Item: { pk: `LEASE-TEST#release`, sk: `M#${owner}` } } },
          ],
        }),
      );
    await markerPut('a');
    await expect(markerPut('b')).rejects.toBeInstanceOf(TransactionCanceledException);
    expect(await getItem(stack, { pk: 'LEASE-TEST#release', sk: 'M#b' })).toBeUndefined();
    await releaseLease(item, 'b');
    expect((await stored(item))?.lease_owner).toBe('a');
    await releaseLease(item, 'a');
    expect(await stored(item)).toEqual({ pk: item.key.pk, sk: 'L', object_key: 'k' });
    await expect(markerPut('a')).rejects.toBeInstanceOf(TransactionCanceledException);
    expect(await acquireLease(item, 'b', t0 + 1, 1_000)).toEqual({});
  });
});
