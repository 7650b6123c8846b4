import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  type AttributeValue,
  type BatchGetItemCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { filenameSortKey, orderKey, shardOf, TRACE_SHARDS } from '../../functions/adapters/dynamo/keys.js';
import { DynamoTraceWriter, INDEXED_DOCUMENT_BYTES, traceItem } from '../../functions/adapters/dynamo/trace-writer.js';
import { INDEXES } from '../../functions/adapters/dynamo/schema.js';
import { incompressibleText } from '../support/prng.js';
import type { StoredTrace } from '../../functions/domain/ports.js';
import { buildTrace, storedTrace, unpackText, type UploadContext } from '../../functions/domain/trace.js';

const TABLE = 'traces-table';
const ddb = mockClient(DynamoDBClient);

beforeEach(() => {
  ddb.reset();
});
afterAll(() => {
  ddb.restore();
});

const ctx: UploadContext = {
  organizationId: 'org1',
  projectId: 'proj1',
  objectKey: 'uploads/org1/proj1/f.jsonl',
  filename: 'f.jsonl',
  defaultSource: 'upload',
  createdAt: '2024-05-01T12:00:00.000Z',
  uploadId: 'up-1',
};

function stored(position: number, extra: Record<string, unknown> = {}): StoredTrace {
  const raw = JSON.stringify({ input: `question ${position}`, ...extra });
  return storedTrace(buildTrace(ctx, { kind: 'record', position, raw, value: JSON.parse(raw) as Record<string, unknown> })).stored;
}

const traces = (n: number) => Array.from({ length: n }, (_, i) => stored(i + 1));
const writer = (maxAttempts?: number) =>
  new DynamoTraceWriter(new DynamoDBClient({ region: 'us-east-1' }), TABLE, { baseDelayMs: 1, ...(maxAttempts ? { maxAttempts } : {}) });

function putIdOf(r: WriteRequest): string {
  return r.PutRequest!.Item!.pk!.S!.slice('T#org1#proj1#'.length);
}

function validationError(): Error {
  return Object.assign(new Error('One or more parameter values were invalid'), {
    name: 'ValidationException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

function throttled(): Error {
  return new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
}

describe('filenameSortKey', () => {
  it('keeps a long non-ASCII filename within the sort-key budget without splitting a character', () => {
    const name = `${'é'.repeat(400)}😀${'x'.repeat(300)}.jsonl`;
    const key = filenameSortKey(name, '2024-05-01T12:00:00.000Z', 'up-1');
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    const prefix = key.slice(0, key.indexOf('#2024'));
    expect(name.startsWith(prefix)).toBe(true);
    expect(prefix.isWellFormed()).toBe(true);
    expect(Buffer.byteLength(prefix)).toBeLessThanOrEqual(512);
  });
});

describe('traceItem', () => {
  it('builds a lean item: the document deflated, its shard of the every-trace and by-source indexes, the order key', () => {
    const t = stored(7, { integration_id: 'int-1' });
    const item = traceItem(t);
    const shard = String(shardOf(t.id, TRACE_SHARDS)).padStart(2, '0');
    expect(item).toEqual({
      pk: { S: `T#org1#proj1#${t.id}` },
      sk: { S: 'T' },
      type: { S: 'trace' },
      ok: { S: '2024-05-01T12:00:00.000Z#up1#0000000007' },
      gsi4pk: { S: `TC#org1#proj1#${shard}` },
      gsi5pk: { S: `TS#org1#proj1#${shard}#upload` },
      filename: { S: 'f.jsonl' },
      source: { S: 'upload' },
      integration_id: { S: 'int-1' },
      upload_id: { S: 'up-1' },
      doc_z: { B: t.packed },
    });
    expect(unpackText(item.doc_z!.B!)).toBe(t.document);
  });

  it('keeps a document too big to copy into the list index out of it (doc_zb, which no index holds)', () => {
    const t = stored(5, { output: incompressibleText(2_000) });
    expect(t.packed!.length).toBeGreaterThan(INDEXED_DOCUMENT_BYTES);
    const item = traceItem(t);
    expect(item.doc_z).toBeUndefined();
    expect(unpackText(item.doc_zb!.B!)).toBe(t.document);
    for (const index of INDEXES) expect(index.projection === 'ALL' || !index.projection.includes('doc_zb')).toBe(true);
  });

  it('leaves out a missing integration id (and never stores the input: it is derived from the document)', () => {
    const raw = '{"output":"x"}';
    const item = traceItem(
      storedTrace(buildTrace(ctx, { kind: 'record', position: 1, raw, value: JSON.parse(raw) as Record<string, unknown> })).stored,
    );
    expect(item.integration_id).toBeUndefined();
    expect(item.input).toBeUndefined();
    expect(unpackText(item.doc_z!.B!)).toBe(raw);
  });

  it('keeps the payload key and the deflated search text for an offloaded trace', () => {
    // Random text does not deflate: past the inline budget, it goes to S3.
    const big = Array.from({ length: 80_000 }, (_, i) => ((i * 2654435761) >>> 0).toString(36)).join(' ');
    const t = stored(3, { output: `Needle ${big}` });
    expect(t.payloadKey).toBe(`payloads/org1/proj1/${t.id}.json`);
    const item = traceItem(t);
    expect(item.payload_key).toEqual({ S: t.payloadKey });
    expect(item.doc_z).toBeUndefined();
    expect(unpackText(item.search_z!.B!)).toContain('needle');
    // The rest of the item is still there for listing.
    expect(item.ok).toEqual({ S: orderKey('2024-05-01T12:00:00.000Z', 'up-1', 3) });
  });
});

describe('DynamoTraceWriter.writeBatch', () => {
  it('sends one BatchWriteItem of put requests for the table', async () => {
    ddb.on(BatchWriteItemCommand).resolves({ UnprocessedItems: {} });
    const batch = traces(25);
    await writer().writeBatch(batch);
    const calls = ddb.commandCalls(BatchWriteItemCommand);
    expect(calls).toHaveLength(1);
    const requests = calls[0]!.args[0].input.RequestItems![TABLE]!;
    expect(requests.map(putIdOf)).toEqual(batch.map((t) => t.id));
    expect(requests[0]).toEqual({ PutRequest: { Item: traceItem(batch[0]!) } });
  });

  it('retries UnprocessedItems until none are left, sending exactly those', async () => {
    const batch = traces(5);
    const all = batch.map((t) => ({ PutRequest: { Item: traceItem(t) } }));
    const firstLeft = [all[1]!, all[3]!, all[4]!];
    const secondLeft = [all[4]!];
    ddb
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: firstLeft } })
      .resolvesOnce({ UnprocessedItems: { [TABLE]: secondLeft } })
      .resolvesOnce({ UnprocessedItems: {} });
    await writer().writeBatch(batch);
    const calls = ddb.commandCalls(BatchWriteItemCommand);
    expect(calls).toHaveLength(3);
    expect(calls[0]!.args[0].input.RequestItems![TABLE]).toHaveLength(5);
    expect(calls[1]!.args[0].input.RequestItems).toEqual({ [TABLE]: firstLeft });
    expect(calls[2]!.args[0].input.RequestItems).toEqual({ [TABLE]: secondLeft });
  });

  it('retries a throughput error, resending the same requests, then succeeds', async () => {
    ddb.on(BatchWriteItemCommand).rejectsOnce(throttled()).resolves({});
    const batch = traces(3);
    await writer().writeBatch(batch);
    const calls = ddb.commandCalls(BatchWriteItemCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.RequestItems![TABLE]!.map(putIdOf)).toEqual(batch.map((t) => t.id));
  });

  it('retries server errors (5xx) too', async () => {
    const serverError = Object.assign(new Error('We encountered an internal error'), {
      name: 'SomethingNew',
      $metadata: { httpStatusCode: 503 },
    });
    ddb.on(BatchWriteItemCommand).rejectsOnce(serverError).resolves({});
    await writer().writeBatch(traces(1));
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(2);
  });

  it('throws after maxAttempts when items stay unprocessed', async () => {
    const batch = traces(2);
    ddb.on(BatchWriteItemCommand).callsFake((input: { RequestItems: Record<string, WriteRequest[]> }) => ({
      UnprocessedItems: { [TABLE]: input.RequestItems[TABLE]!.slice(0, 1) },
    }));
    await expect(writer(4).writeBatch(batch)).rejects.toThrow(/BatchWriteItem failed after 4 attempts: 1 items left unprocessed/);
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(4);
  });

  it('throws after maxAttempts when throttling goes on, with the cause', async () => {
    ddb.on(BatchWriteItemCommand).rejects(throttled());
    const err = await writer(3)
      .writeBatch(traces(1))
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(err?.message).toMatch(/after 3 attempts: Rate exceeded/);
    expect((err?.cause as Error | undefined)?.name).toBe('ProvisionedThroughputExceededException');
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(3);
  });

  it('lets a non-retryable error through at once', async () => {
    ddb.on(BatchWriteItemCommand).rejects(validationError());
    await expect(writer().writeBatch(traces(2))).rejects.toMatchObject({ name: 'ValidationException' });
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(1);
  });

  it('refuses more than 25 items without calling DynamoDB', async () => {
    ddb.on(BatchWriteItemCommand).resolves({});
    await expect(writer().writeBatch(traces(26))).rejects.toThrow('BatchWriteItem takes at most 25 items');
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(0);
  });

  it('sends nothing for an empty batch', async () => {
    ddb.on(BatchWriteItemCommand).resolves({});
    await writer().writeBatch([]);
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(0);
  });
});

describe('DynamoTraceWriter.owners', () => {
  /** A table where every even-numbered id exists, owned by `owner-<n>`. */
  function answerFromTable(
    input: BatchGetItemCommandInput,
    unprocessed: (keys: Record<string, AttributeValue>[]) => Record<string, AttributeValue>[] = () => [],
  ) {
    const keys = input.RequestItems![TABLE]!.Keys!;
    const left = unprocessed(keys);
    const served = keys.filter((k) => !left.includes(k));
    const items = served
      .map((k) => k.pk!.S!.split('#')[3]!)
      .filter((id) => Number(id.slice(3)) % 2 === 0)
      .map((id) => ({ pk: { S: `T#org1#proj1#${id}` }, upload_id: { S: `owner-${id.slice(3)}` } }));
    return {
      Responses: { [TABLE]: items },
      ...(left.length ? { UnprocessedKeys: { [TABLE]: { ...input.RequestItems![TABLE]!, Keys: left } } } : {}),
    };
  }

  it('looks ids up in groups of 100 and maps id to upload_id', async () => {
    ddb.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput) => answerFromTable(input));
    const ids = Array.from({ length: 250 }, (_, i) => `id-${i}`);
    const found = await writer().owners('org1', 'proj1', ids);

    const calls = ddb.commandCalls(BatchGetItemCommand);
    expect(calls.map((c) => c.args[0].input.RequestItems![TABLE]!.Keys!.length)).toEqual([100, 100, 50]);
    const first = calls[0]!.args[0].input.RequestItems![TABLE]!;
    expect(first.ConsistentRead).toBe(true);
    expect(first.Keys![0]).toEqual({ pk: { S: 'T#org1#proj1#id-0' }, sk: { S: 'T' } });
    const sent = calls.flatMap((c) => c.args[0].input.RequestItems![TABLE]!.Keys!.map((k) => k.pk!.S!));
    expect(sent).toEqual(ids.map((id) => `T#org1#proj1#${id}`));

    expect(found.size).toBe(125);
    expect(found.get('id-0')).toBe('owner-0');
    expect(found.get('id-248')).toBe('owner-248');
    expect(found.has('id-1')).toBe(false);
  });

  it('retries UnprocessedKeys until all are answered', async () => {
    let call = 0;
    ddb.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput) => {
      call++;
      // The first answer leaves the last 30 keys unprocessed.
      return answerFromTable(input, (keys) => (call === 1 ? keys.slice(-30) : []));
    });
    const ids = Array.from({ length: 60 }, (_, i) => `id-${i}`);
    const found = await writer().owners('org1', 'proj1', ids);
    const calls = ddb.commandCalls(BatchGetItemCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.RequestItems![TABLE]!.Keys!.map((k) => k.pk!.S)).toEqual(
      ids.slice(-30).map((id) => `T#org1#proj1#${id}`),
    );
    expect(found.size).toBe(30);
    expect(found.get('id-58')).toBe('owner-58');
  });

  it('retries a throttled lookup, and gives up after maxAttempts', async () => {
    ddb
      .on(BatchGetItemCommand)
      .rejectsOnce(throttled())
      .callsFake((input: BatchGetItemCommandInput) => answerFromTable(input));
    const found = await writer().owners('org1', 'proj1', ['id-2']);
    expect(found.get('id-2')).toBe('owner-2');
    expect(ddb.commandCalls(BatchGetItemCommand)).toHaveLength(2);

    ddb.reset();
    ddb.on(BatchGetItemCommand).rejects(throttled());
    await expect(writer(3).owners('org1', 'proj1', ['id-2'])).rejects.toThrow('BatchGetItem failed after 3 attempts');
    expect(ddb.commandCalls(BatchGetItemCommand)).toHaveLength(3);
  });

  it('lets a non-retryable lookup error through at once', async () => {
    ddb.on(BatchGetItemCommand).rejects(validationError());
    await expect(writer().owners('org1', 'proj1', ['id-2'])).rejects.toMatchObject({ name: 'ValidationException' });
    expect(ddb.commandCalls(BatchGetItemCommand)).toHaveLength(1);
  });

  it('sends nothing for no ids', async () => {
    expect((await writer().owners('org1', 'proj1', [])).size).toBe(0);
    expect(ddb.commandCalls(BatchGetItemCommand)).toHaveLength(0);
  });
});
