/**
 * Every file of the bad-input corpus (test/support/corpus.ts), through both ways in, on a real
 * local stack (DynamoDB Local, s3rver, the queue and the ingest worker, the API over HTTP):
 *   presigned: POST .../traces/upload, PUT to the URL, POST .../traces {filename};
 *   drop:      PutObject under drop/<org>/<project>/corpus/, the notification, the worker.
 * For each: the documented answer (never a 5xx), exactly the expected trace ids stored, each good
 * record served back by GET .../traces/{id} with `data` equal to the record's text, character for
 * character, and the stack still answering afterwards. Then, once everything has settled: nothing
 * else stored anywhere in the project, counters exact, no dead letter.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect as globalExpect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { traceId, uploadId as deriveUploadId } from '../../functions/domain/ids.js';
import { corpus, sameJson, type CorpusFile, type ExpectedRecord } from '../support/corpus.js';
import { projectCounter, projectTraces, projectUploads, putObject, useTestStack } from '../support/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

type Expect = typeof globalExpect;
type Path = 'presigned' | 'drop';
type Json = Record<string, any>;

const files = corpus();
const cases = files.flatMap((file) => (['presigned', 'drop'] as const).map((path) => ({ name: `${path}: ${file.name}`, file, path })));

// A delivery that finds a create call ingesting the same file inline waits its turn: redeliveries here outlast
// create's 20 s budget (2 + 4 + 8 + 16 s), so even the 50 MiB files never dead-letter on a busy machine.
const stack = useTestStack({ retryDelayMs: (n) => 2000 * 2 ** (n - 1) }, { startTimeoutMs: 120_000 });

const base = () => `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
const uploadKey = (f: CorpusFile) => `uploads/${stack.info.organizationId}/${stack.info.projectId}/${f.filename}`;
const dropKey = (f: CorpusFile) => `${stack.info.dropPrefix}corpus/${f.filename}`;
const keyOf = (f: CorpusFile, path: Path) => (path === 'presigned' ? uploadKey(f) : dropKey(f));

/** An API call; its answer must be a JSON object and never a 5xx. */
async function api(expect: Expect, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: Json }> {
  const res = await fetch(`${stack.info.apiUrl}${path}`, {
    method,
    headers: {
      'x-api-key': stack.info.apiKey,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  expect(res.status, `${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`).toBeLessThan(500);
  const json = JSON.parse(text) as unknown;
  expect(json !== null && typeof json === 'object' && !Array.isArray(json)).toBe(true);
  return { status: res.status, text, json: json as Json };
}

async function expectAlive(expect: Expect): Promise<void> {
  expect((await api(expect, 'GET', '/api/v1/organizations')).status).toBe(200);
}

const mediaType = (filename: string) => {
  const lower = filename.toLowerCase();
  return lower.endsWith('.jsonl') ? 'application/jsonl' : lower.endsWith('.json') ? 'application/json' : 'text/plain';
};

/** The ids the records must have under this key, in file order. */
function idsFor(f: CorpusFile, key: string): string[] {
  return f.records.map((r) =>
    traceId({
      organizationId: stack.info.organizationId,
      projectId: stack.info.projectId,
      objectKey: key,
      position: r.position,
      raw: r.raw,
    }),
  );
}

/** Every trace item of the project (id, upload, position only), from the list index. */
async function storedTraces(): Promise<Array<{ id: string; upload_id: string; position: number }>> {
  return projectTraces(stack);
}

function expectErrors(expect: Expect, f: CorpusFile, errors: Array<{ line: number; message: string }>, errorCount: number): void {
  expect(errors.map((e) => e.line)).toEqual(f.errors.map((e) => e.line));
  errors.forEach((e, i) => {
    expect(e.message).toMatch(f.errors[i]!.message);
  });
  expect(errorCount).toBe(f.errorCount);
}

/**
 * GET .../traces/{id}: the trace's fields, and its `data` member, cut out of the answer's text,
 * is the record's text exactly (the server splices the stored text in verbatim); parsed, it
 * equals the record parsed.
 */
async function expectServed(
  expect: Expect,
  f: CorpusFile,
  r: ExpectedRecord,
  id: string,
  uploadId: string,
  defaultSource: string,
): Promise<void> {
  const { status, text, json: t } = await api(expect, 'GET', `${base()}/traces/${id}`);
  expect(status).toBe(200);
  expect(t).toMatchObject({ id, filename: f.filename, upload_id: uploadId, source: r.source ?? defaultSource });
  if ('input' in r) expect(t.input, `input of ${f.name} #${r.position}`).toBe(r.input);
  if ('integrationId' in r) expect(t.integration_id, `integration_id of ${f.name} #${r.position}`).toBe(r.integrationId);
  // The fields before `data` are JSON strings (no unescaped `,"data":` in them); those after it too (no `,"input":`).
  const start = text.indexOf(',"data":') + ',"data":'.length;
  const end = text.lastIndexOf(',"input":');
  const served = text.slice(start, end);
  if (r.raw.length < 2000) expect(served).toBe(r.raw);
  else expect(served === r.raw, `data of ${f.name} #${r.position} (${r.raw.length} chars) is not the record's text`).toBe(true);
  expect(sameJson(t.data, JSON.parse(r.raw)), `data of ${f.name} #${r.position}, parsed`).toBe(true);
}

/** Checks what is stored for one upload, and serves each good record. */
async function expectStored(expect: Expect, f: CorpusFile, key: string, uploadId: string, defaultSource: string): Promise<void> {
  const mine = (await storedTraces()).filter((t) => t.upload_id === uploadId);
  const ids = idsFor(f, key);
  expect(mine.map((t) => t.id).sort()).toEqual([...ids].sort());
  expect(mine.map((t) => t.position).sort((a, b) => a - b)).toEqual(f.records.map((r) => r.position));
  for (let i = 0; i < f.records.length; i++) await expectServed(expect, f, f.records[i]!, ids[i]!, uploadId, defaultSource);
}

/** Nothing stored for this key: no object, no upload record, no trace. */
async function expectNothingFor(expect: Expect, key: string): Promise<void> {
  expect((await projectUploads(stack)).filter((u) => u.object_key === key)).toEqual([]);
  const head = await stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: key })).catch((e: unknown) => e);
  expect((head as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(404);
}

/** The upload record of the stored object, as GET .../uploads/{id} answers it. */
async function uploadAnswer(expect: Expect, uploadId: string): Promise<Json> {
  const res = await api(expect, 'GET', `${base()}/uploads/${uploadId}`);
  expect(res.status).toBe(200);
  return res.json;
}

/** What the upload record must say once settled (both paths). */
function expectUploadRecord(expect: Expect, f: CorpusFile, u: Json, key: string): void {
  expect(u.filename).toBe(f.filename);
  expect(u.size).toBe(f.bytes.length);
  if (f.outcome === 'refused') {
    expect(u.status).toBe('failed');
    expect(u.reason).toMatch(f.reason!);
    expect(u.trace_ids).toBeUndefined();
    return;
  }
  expect(u.status).toBe('completed');
  expect(u.traces).toBe(f.records.length);
  expect(u.records).toBe(f.records.length + f.errorCount);
  expectErrors(expect, f, u.errors as Array<{ line: number; message: string }>, u.error_count as number);
  expect(u.trace_ids).toEqual(idsFor(f, key));
}

async function viaPresignedUpload(expect: Expect, f: CorpusFile): Promise<void> {
  const type = mediaType(f.filename);
  const key = uploadKey(f);
  const presign = await api(expect, 'POST', `${base()}/traces/upload`, { filename: f.filename, type, size: f.bytes.length });
  let url: string;
  if (f.presignRefusal) {
    expect(presign.status).toBe(400);
    expect(presign.json.error.message).toMatch(f.presignRefusal.message);
    if (f.presignRefusal.putAnywaySize === undefined) {
      const create = await api(expect, 'POST', `${base()}/traces`, { filename: f.filename });
      expect(create.status).toBe(f.createRefusesName ? 400 : 404);
      await expectNothingFor(expect, key);
      return;
    }
    // A client that ignores the refusal: a URL signed for another size, and the real bytes.
    const again = await api(expect, 'POST', `${base()}/traces/upload`, {
      filename: f.filename,
      type,
      size: f.presignRefusal.putAnywaySize,
    });
    expect(again.status).toBe(200);
    url = again.json.url as string;
  } else {
    expect(presign.status).toBe(200);
    expect(presign.json.upload_key).toBe(key);
    url = presign.json.url as string;
  }

  const put = await fetch(url, { method: 'PUT', headers: { 'Content-Type': type }, body: f.bytes });
  const putText = await put.text();
  if (f.localStoreRefuses) {
    expect(put.status).toBe(400);
    expect(putText).toContain('<Code>KeyTooLongError</Code>');
    const create = await api(expect, 'POST', `${base()}/traces`, { filename: f.filename });
    expect(create.status).toBe(404);
    expect(create.json.error.code).toBe('not_found');
    await expectNothingFor(expect, key);
    return;
  }
  expect(put.status, putText).toBe(200);

  const create = await api(expect, 'POST', `${base()}/traces`, { filename: f.filename });
  const uploadId = create.json.upload_id as string;
  expect(uploadId).toMatch(/^[0-9a-f-]{36}$/);
  if (f.outcome === 'completed') {
    expect(create.status, create.text.slice(0, 300)).toBe(200);
    expect(create.json).toMatchObject({ status: 'completed', records: f.records.length + f.errorCount });
    expect(create.json.trace_ids).toEqual(idsFor(f, key));
    expectErrors(expect, f, create.json.errors as Array<{ line: number; message: string }>, create.json.error_count as number);
  } else if (f.outcome === 'no-valid-records') {
    expect(create.status, create.text.slice(0, 300)).toBe(422);
    expect(create.json.error.code).toBe('no_valid_records');
    expect(create.json.error.message).toContain(JSON.stringify(f.filename));
    expectErrors(expect, f, create.json.errors as Array<{ line: number; message: string }>, create.json.error_count as number);
  } else {
    expect(create.status, create.text.slice(0, 300)).toBe(422);
    expect(create.json).toMatchObject({ status: 'failed', error: { code: 'upload_failed' } });
    expect(create.json.error.message).toMatch(f.reason!);
  }
  expectUploadRecord(expect, f, await uploadAnswer(expect, uploadId), key);
  await expectStored(expect, f, key, uploadId, 'upload');
}

async function viaDropFolder(expect: Expect, f: CorpusFile): Promise<void> {
  const key = dropKey(f);
  if (f.localStoreRefuses) {
    const err = await putObject(stack, key, f.bytes).then(
      () => null,
      (e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } },
    );
    expect(err?.name).toBe('KeyTooLongError');
    expect(err?.$metadata?.httpStatusCode).toBe(400);
    await expectNothingFor(expect, key);
    return;
  }
  await putObject(stack, key, f.bytes);
  const head = await stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: key }));
  const uploadId = deriveUploadId({
    organizationId: stack.info.organizationId,
    projectId: stack.info.projectId,
    objectKey: key,
    version: head.VersionId ?? head.ETag!.replace(/"/g, ''),
  });
  // Wait for the worker (the notification, the queue): until the upload record has settled.
  const record = keys.upload(stack.info.organizationId, stack.info.projectId, uploadId);
  const deadline = Date.now() + 90_000;
  let status: string | undefined;
  while (Date.now() < deadline) {
    const item = await stack.dynamo.send(
      new GetItemCommand({ TableName: stack.table, Key: { pk: { S: record.pk }, sk: { S: record.sk } }, ConsistentRead: true }),
    );
    status = item.Item?.status?.S;
    if (status === 'completed' || status === 'failed') break;
    await sleep(100);
  }
  expect(status).toMatch(/^(completed|failed)$/);
  const u = await uploadAnswer(expect, uploadId);
  expect(u.source).toBe('s3');
  expectUploadRecord(expect, f, u, key);
  await expectStored(expect, f, key, uploadId, 's3');
}

describe('the bad-input corpus, every file through the presigned upload and through the drop folder', () => {
  it('has at least 40 files, with distinct names', () => {
    globalExpect(files.length).toBeGreaterThanOrEqual(40);
    globalExpect(new Set(files.map((f) => f.filename)).size).toBe(files.length);
  });

  it.concurrent.for(cases)('$name', { timeout: 150_000 }, async ({ file, path }, { expect }) => {
    if (path === 'presigned') await viaPresignedUpload(expect, file);
    else await viaDropFolder(expect, file);
    await expectAlive(expect);
  });
});

describe('after the whole corpus', () => {
  it('stored exactly the expected traces and nothing else, counted once, with no dead letter and nothing polluted', async () => {
    await stack.settled();
    const expected: string[] = [];
    for (const f of files) {
      for (const path of ['presigned', 'drop'] as const) {
        if (f.localStoreRefuses || (path === 'presigned' && f.presignRefusal && f.presignRefusal.putAnywaySize === undefined)) continue;
        expected.push(...idsFor(f, keyOf(f, path)));
      }
    }
    const stored = (await storedTraces()).map((t) => t.id).sort();
    globalExpect(stored).toEqual(expected.sort());
    globalExpect((await projectCounter(stack))?.traces).toBe(expected.length);
    const uploads = await projectUploads(stack);
    globalExpect(uploads.filter((u) => u.status !== 'completed' && u.status !== 'failed')).toEqual([]);
    globalExpect(stack.queue.deadLetters).toEqual([]);
    globalExpect(({} as Record<string, unknown>).polluted).toBeUndefined();
    globalExpect((Object.prototype as Record<string, unknown>).input).toBeUndefined();
    // (It waits for every file to settle first: the 50 MiB ones may still be in the queue's hands after create's budget.)
  }, 180_000);

  it('kept the flat span of a file as a span, and the 10,000-deep one only as a trace', async () => {
    const span = (id: string) =>
      fetch(`${stack.info.apiUrl}/api/parea/v1/trace_log/${id}`, { headers: { 'x-api-key': stack.info.apiKey } });
    const flat = await span('corpus-flat-span');
    globalExpect(flat.status).toBe(200);
    globalExpect(((await flat.json()) as { trace_name: string }).trace_name).toBe('flat');
    const deep = await span('corpus-deep-span');
    globalExpect(deep.status).toBe(404);
    await deep.arrayBuffer();
  });
});
