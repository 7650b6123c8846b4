import { beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { traceId } from '../../functions/domain/ids.js';
import { createTraces } from '../../functions/domain/uploads/create-traces.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { config } from '../../functions/shared/config.js';
import { createTracesDeps, tenantStore } from '../../functions/shared/services.js';
import { fixture } from '../support/fixtures.js';
import { getItem, jsonlRecords, notificationFor, projectCounter, projectTraces, projectUploads, useTestStack } from '../support/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

// Nothing but these tests delivers S3 events: a create that finds traces ingested them itself.
const stack = useTestStack({ notifications: false });
let other: { apiKey: string; organizationId: string; projectId: string };
beforeAll(async () => {
  other = await createApiKey(tenantStore(), { organization: 'other', project: 'p' });
});

type Json = Record<string, any>;
interface Caller {
  apiKey: string;
  organizationId: string;
  projectId: string;
}

const me = (): Caller => stack.info;
const tracesPath = (c: Caller) => `/api/v1/organizations/${c.organizationId}/projects/${c.projectId}/traces`;

/** A request as the Stratix client sends it: x-api-key, Accept and Content-Type JSON. */
async function call(
  c: Pick<Caller, 'apiKey'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${stack.info.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': c.apiKey, Accept: 'application/json', 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await res.json()) as unknown;
  // The client does dict(**response.json()): every answer is an object.
  expect(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)).toBe(true);
  return { status: res.status, body: parsed as Json, headers: res.headers };
}

/** Steps 1 and 2 of the client: presign, then PUT the bytes with only Content-Type (fetch adds Content-Length). */
async function presignAndPut(
  filename: string,
  body: Buffer | string,
  type = filename.endsWith('.jsonl') ? 'application/jsonl' : 'application/json',
  c: Caller = me(),
) {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const presign = await call(c, 'POST', `${tracesPath(c)}/upload`, { filename, type, size: bytes.length });
  expect(presign.status).toBe(200);
  expect(presign.body).toMatchObject({ organization_id: c.organizationId, project_id: c.projectId, headers: { 'Content-Type': type } });
  const put = await fetch(presign.body.url as string, { method: 'PUT', headers: { 'Content-Type': type }, body: bytes });
  expect(put.status).toBe(200);
  await put.arrayBuffer();
  return presign.body;
}

const create = (filename: string, c: Caller = me()) => call(c, 'POST', tracesPath(c), { filename });

/** The ids stored for an upload, in file order, read from the list index. */
async function storedIds(uploadId: string): Promise<string[]> {
  return (await projectTraces(stack))
    .filter((t) => t.upload_id === uploadId)
    .sort((a, b) => a.position - b.position)
    .map((t) => t.id);
}

/** What the bucket's notification would put on the queue for this key. */
async function deliverToQueue(key: string): Promise<void> {
  stack.queue.send(await notificationFor(stack, key));
}

function jsonl(n: number, tag: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `${JSON.stringify({ input: `question ${i} of ${tag}`, output: `answer ${i}` })}\n`;
  return s;
}

function idsOf(text: string, key: string): string[] {
  return jsonlRecords(text).map((r) =>
    traceId({
      organizationId: stack.info.organizationId,
      projectId: stack.info.projectId,
      objectKey: key,
      position: r.position,
      raw: r.raw,
    }),
  );
}

describe('the Stratix upload flow: presign, PUT, create by filename', () => {
  it.each([
    ['chat-traces.jsonl', 20],
    ['agent-runs.json', 3],
    ['single-trace.json', 1],
    ['experiment-logs.jsonl', 12],
  ])('%s gives %i trace ids, equal to the traces stored, ingested by create itself', async (name, count) => {
    const presign = await presignAndPut(name, fixture(name));
    const res = await create(name);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', records: count, errors: [], error_count: 0 });
    expect(res.body.trace_ids).toHaveLength(count);
    expect(res.body.trace_ids).toEqual(await storedIds(res.body.upload_id as string));
    const traces = (await projectTraces(stack)).filter((t) => t.upload_id === res.body.upload_id);
    expect(traces.every((t) => t.source === 'upload' && t.filename === name)).toBe(true);
    // Notifications are off and the queue is empty: only the create call can have ingested it.
    expect(stack.queue.depth).toBe(0);
    const upload = (await projectUploads(stack)).find((u) => u.upload_id === res.body.upload_id);
    expect(upload).toMatchObject({ status: 'completed', object_key: presign.upload_key, attempts: 1, source: 'upload' });
  });

  it('answers the same ids for a re-upload of identical content, and again for a repeated create', async () => {
    const text = fixture('chat-traces.jsonl');
    await presignAndPut('again.jsonl', text);
    const first = await create('again.jsonl');
    await presignAndPut('again.jsonl', text);
    const second = await create('again.jsonl');
    const third = await create('again.jsonl');
    expect(first.status).toBe(200);
    expect(second.body.trace_ids).toEqual(first.body.trace_ids);
    expect(third.body.trace_ids).toEqual(first.body.trace_ids);
    expect(first.body.trace_ids).toEqual(
      idsOf(text.toString('utf8'), `uploads/${stack.info.organizationId}/${stack.info.projectId}/again.jsonl`),
    );
    expect((await projectTraces(stack)).filter((t) => t.filename === 'again.jsonl')).toHaveLength(20);
  });

  it('answers from the upload record when the queue has already ingested the file (no second ingest)', async () => {
    const presign = await presignAndPut('queued.jsonl', fixture('experiment-logs.jsonl'));
    await deliverToQueue(presign.upload_key as string);
    await stack.settled();
    const res = await create('queued.jsonl');
    expect(res.status).toBe(200);
    expect(res.body.trace_ids).toEqual(await storedIds(res.body.upload_id as string));
    expect(res.body.trace_ids).toHaveLength(12);
    const upload = await getItem(stack, keys.upload(stack.info.organizationId, stack.info.projectId, res.body.upload_id as string));
    expect(upload?.attempts).toBe(1);
  });

  it('waits for the worker that holds the lease instead of ingesting twice', async () => {
    const text = jsonl(1500, 'race');
    const presign = await presignAndPut('race.jsonl', text);
    await deliverToQueue(presign.upload_key as string);
    // Once the worker has started, create must wait for it (the lease admits one ingest at a time).
    let seen: string | undefined;
    for (let i = 0; i < 500 && (seen === undefined || seen === 'pending'); i++) {
      seen = (await projectUploads(stack)).find((u) => u.object_key === presign.upload_key)?.status as string | undefined;
      if (seen === undefined || seen === 'pending') await sleep(10);
    }
    expect(seen).toBe('processing');
    const res = await create('race.jsonl');
    await stack.settled();
    expect(res.status).toBe(200);
    // One attempt in all: the worker's. Create waited for it rather than ingesting the file again.
    const upload = await getItem(stack, keys.upload(stack.info.organizationId, stack.info.projectId, res.body.upload_id as string));
    expect(upload?.attempts).toBe(1);
    expect(res.body.trace_ids).toEqual(idsOf(text, presign.upload_key as string));
    expect(await storedIds(res.body.upload_id as string)).toEqual(res.body.trace_ids);
    expect((await projectCounter(stack))?.traces).toBe((await projectTraces(stack)).length);
  });

  it('reports bad lines and keeps the good ones', async () => {
    const body = '{"input":"a"}\n{"input": broken\n[1,2]\n{"input":"d"}\n';
    await presignAndPut('mixed.jsonl', body);
    const res = await create('mixed.jsonl');
    expect(res.status).toBe(200);
    expect(res.body.trace_ids).toHaveLength(2);
    expect(res.body.trace_ids).toEqual(await storedIds(res.body.upload_id as string));
    expect(res.body).toMatchObject({ status: 'completed', records: 4, error_count: 2 });
    expect(res.body.errors).toEqual([
      { line: 2, message: expect.any(String) },
      { line: 3, message: expect.stringMatching(/expected a JSON object/) },
    ]);
  });

  it('answers 422 with the per-line errors for a file with no valid record', async () => {
    await presignAndPut('all-bad.jsonl', 'not json\n[1]\n"x"\n');
    const res = await create('all-bad.jsonl');
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({ code: 'no_valid_records', message: expect.stringContaining('all-bad.jsonl') });
    expect(res.body.errors.map((e: { line: number }) => e.line)).toEqual([1, 2, 3]);
    expect(res.body.upload_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await projectTraces(stack)).filter((t) => t.filename === 'all-bad.jsonl')).toHaveLength(0);
  });

  it('answers 404 for a file never uploaded, saying what to do', async () => {
    const res = await create('never-uploaded.jsonl');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect(res.body.error.message).toMatch(
      /^no upload named "never-uploaded\.jsonl"; PUT the file to the URL from POST \/api\/v1\/.*\/traces\/upload first$/,
    );
  });

  it('refuses bad filenames (400) on presign and on create', async () => {
    for (const filename of ['../x.jsonl', 'a/b.jsonl', 'notes.txt', 'a\u0000.jsonl']) {
      const presign = await call(me(), 'POST', `${tracesPath(me())}/upload`, { filename, type: 'application/jsonl', size: 10 });
      expect(presign.status).toBe(400);
      expect(presign.body.error.message).toMatch(/^filename: /);
      expect((await create(filename)).status).toBe(400);
    }
    const tooBig = await call(me(), 'POST', `${tracesPath(me())}/upload`, {
      filename: 'x.jsonl',
      type: 'application/jsonl',
      size: 50 * 1024 * 1024 + 1,
    });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error.message).toMatch(/^size: /);
  });

  it('shows the upload through GET .../uploads/{id}', async () => {
    await presignAndPut('status.jsonl', '{"input":"a"}\nbad\n');
    const created = await create('status.jsonl');
    const res = await call(
      me(),
      'GET',
      `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}/uploads/${created.body.upload_id}`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      upload_id: created.body.upload_id,
      status: 'completed',
      filename: 'status.jsonl',
      source: 'upload',
      size: 18,
      records: 2,
      traces: 1,
      new_traces: 1,
      error_count: 1,
      errors: [{ line: 2, message: expect.any(String) }],
      reason: null,
      last_error: null,
      attempts: 1,
      trace_ids: created.body.trace_ids,
    });
    for (const k of ['created_at', 'started_at', 'completed_at']) expect(Date.parse(res.body[k] as string)).not.toBeNaN();
    expect(res.body.duration_ms).toBeTypeOf('number');
    const base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}/uploads`;
    expect((await call(me(), 'GET', `${base}/00000000-0000-8000-8000-000000000000`)).status).toBe(404);
    expect((await call(me(), 'GET', `${base}/not-an-id`)).status).toBe(404);
  });
});

describe('past the time budget', () => {
  it('answers "processing" with the ids the traces will have; the queue finishes the upload and the poll route says so', async () => {
    const text = jsonl(300, 'slow');
    const presign = await presignAndPut('slow.jsonl', text);
    const key = presign.upload_key as string;
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    const result = await createTraces({ ...createTracesDeps(), budgetMs: 1 }, tenant, 'slow.jsonl');
    expect(result.status).toBe('processing');
    if (result.status !== 'processing') return;
    expect(result.traceIds).toEqual(idsOf(text, key));
    // The aborted attempt ended cleanly: its lease is released and the upload waits for the queue.
    const lease = await getItem(stack, keys.object(tenant.organizationId, tenant.projectId, key));
    expect(lease?.lease_owner).toBeUndefined();
    const poll = `/api/v1/organizations/${tenant.organizationId}/projects/${tenant.projectId}/uploads/${result.uploadId}`;
    const pending = await call(me(), 'GET', poll);
    expect(pending.status).toBe(200);
    expect(pending.body.status).toBe('pending');
    expect(pending.body.trace_ids).toBeUndefined();

    await deliverToQueue(key);
    await stack.settled();
    const done = await call(me(), 'GET', poll);
    expect(done.body).toMatchObject({ status: 'completed', traces: 300, trace_ids: result.traceIds });
    expect(await storedIds(result.uploadId)).toEqual(result.traceIds);
    expect((await projectCounter(stack))?.traces).toBe((await projectTraces(stack)).length);
  });

  it('answers 202 over HTTP with the poll route, and an abort part-way leaves nothing to count twice', async () => {
    const text = jsonl(2000, 'partway');
    const presign = await presignAndPut('partway.jsonl', text);
    const c = config();
    const saved = c.CREATE_INGEST_BUDGET_MS;
    c.CREATE_INGEST_BUDGET_MS = 100; // the handlers read the cached config: a budget that ends mid-file
    let res: Awaited<ReturnType<typeof call>>;
    try {
      res = await create('partway.jsonl');
    } finally {
      c.CREATE_INGEST_BUDGET_MS = saved;
    }
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      status: 'processing',
      upload_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      trace_ids: idsOf(text, presign.upload_key as string),
      errors: [],
      poll: `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}/uploads/${res.body.upload_id}`,
    });
    expect(res.headers.get('location')).toBe(res.body.poll);
    await deliverToQueue(presign.upload_key as string);
    await stack.settled();
    const done = await create('partway.jsonl');
    expect(done.status).toBe(200);
    expect(done.body.trace_ids).toEqual(res.body.trace_ids);
    expect(await storedIds(res.body.upload_id as string)).toEqual(res.body.trace_ids);
    expect((await projectCounter(stack))?.traces).toBe((await projectTraces(stack)).length);
  });
});

describe('tenancy', () => {
  it('another tenant can neither presign, create nor read uploads in this project, nor see its files from its own', async () => {
    await presignAndPut('private.jsonl', '{"input":"secret"}\n');
    const mine = await create('private.jsonl');
    expect(mine.status).toBe(200);
    const intruder = { ...me(), apiKey: other.apiKey };
    const presign = await call(intruder, 'POST', `${tracesPath(me())}/upload`, {
      filename: 'x.jsonl',
      type: 'application/jsonl',
      size: 10,
    });
    expect(presign.status).toBe(404);
    expect((await call(intruder, 'POST', tracesPath(me()), { filename: 'private.jsonl' })).status).toBe(404);
    const uploadPath = (c: Caller) => `/api/v1/organizations/${c.organizationId}/projects/${c.projectId}/uploads/${mine.body.upload_id}`;
    expect((await call(intruder, 'GET', uploadPath(me()))).status).toBe(404);
    // From its own project: no such file, no such upload.
    const own = await create('private.jsonl', other);
    expect(own.status).toBe(404);
    expect(own.body.error.message).toMatch(/^no upload named "private\.jsonl"/);
    expect((await call(other, 'GET', uploadPath(other))).status).toBe(404);
    // Its own upload works, into its own project only.
    await presignAndPut('theirs.json', '{"input":"mine"}', 'application/json', other);
    const theirs = await create('theirs.json', other);
    expect(theirs.status).toBe(200);
    expect(theirs.body.trace_ids).toHaveLength(1);
    expect((await projectTraces(stack, other.organizationId, other.projectId)).map((t) => t.id)).toEqual(theirs.body.trace_ids);
    expect((await create('theirs.json')).status).toBe(404);
  });
});
