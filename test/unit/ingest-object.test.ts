import { describe, expect, it } from 'vitest';
import { uploadId as deriveUploadId, traceId } from '../../functions/domain/ids.js';
import { RetryableIngestError, ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { ID_CHUNK_SIZE } from '../../functions/domain/limits.js';
import { BATCH_WRITE_SIZE, MAX_FILE_BYTES, MAX_REPORTED_ERRORS } from '../../functions/domain/limits.js';
import { BUCKET, jsonl, refFor, setupIngest } from '../support/ingest-fakes.js';
import { setTimeout as sleep } from 'node:timers/promises';

const KEY = 'uploads/org1/proj1/traces.jsonl';

// ---------------------------------------------------------------------------

describe('ingestObject: refusals and ignored keys', () => {
  it('ignores keys outside the ingest folders without touching anything', async () => {
    const { deps, storage, uploads } = setupIngest();
    storage.put('payloads/org1/proj1/x.json', '{}');
    const out = await ingestObject(deps, { bucket: BUCKET, key: 'payloads/org1/proj1/x.json', eTag: 'e', size: 2 });
    expect(out.status).toBe('ignored');
    expect(uploads.uploads.size).toBe(0);
    expect(storage.opens + storage.heads).toBe(0);
  });

  it('ignores an object that no longer exists when the event has no ETag', async () => {
    const { deps, uploads } = setupIngest();
    const out = await ingestObject(deps, { bucket: BUCKET, key: KEY });
    expect(out).toEqual({ status: 'ignored', reason: `object ${KEY} no longer exists` });
    expect(uploads.uploads.size).toBe(0);
  });

  it('refuses an unknown organization or project', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    const key = 'uploads/org9/proj1/t.jsonl';
    storage.put(key, jsonl(2));
    const out = await ingestObject(deps, refFor(storage, key));
    expect(out.status).toBe('refused');
    if (out.status !== 'refused') return;
    expect(out.reason).toBe('unknown organization or project: org9/proj1');
    const stored = uploads.uploads.get(out.upload!.uploadId)!;
    expect(stored.status).toBe('failed');
    expect(stored.reason).toBe(out.reason);
    expect(storage.opens).toBe(0);
    expect(traces.items.size).toBe(0);
  });

  it('refuses a file that is not .json or .jsonl', async () => {
    const { deps, storage, uploads } = setupIngest();
    const key = 'uploads/org1/proj1/notes.txt';
    storage.put(key, jsonl(2));
    const out = await ingestObject(deps, refFor(storage, key));
    expect(out.status).toBe('refused');
    if (out.status !== 'refused') return;
    expect(out.reason).toMatch(/unsupported file type: "notes\.txt" must end in \.json or \.jsonl/);
    expect(uploads.uploads.get(out.upload!.uploadId)!.status).toBe('failed');
    expect(storage.opens).toBe(0);
  });

  it('refuses a file over 50 MiB by its event size, before opening it', async () => {
    const { deps, storage, uploads } = setupIngest();
    storage.put(KEY, jsonl(1));
    const out = await ingestObject(deps, { ...refFor(storage, KEY), size: MAX_FILE_BYTES + 1 });
    expect(out.status).toBe('refused');
    if (out.status !== 'refused') return;
    expect(out.reason).toBe(`file is ${MAX_FILE_BYTES + 1} bytes; the limit is ${MAX_FILE_BYTES} bytes (50 MiB)`);
    expect(uploads.uploads.get(out.upload!.uploadId)!.status).toBe('failed');
    expect(storage.opens).toBe(0);
  });

  it('accepts a file of exactly 50 MiB by its event size (the limit is inclusive)', async () => {
    const { deps, storage } = setupIngest();
    storage.put(KEY, jsonl(1));
    // The event claims the limit; the object itself is small.
    const out = await ingestObject(deps, { ...refFor(storage, KEY), size: MAX_FILE_BYTES });
    expect(out.status).toBe('completed');
  });

  it('refuses a too-big file whose size only the opened object tells', async () => {
    const { deps, storage } = setupIngest();
    storage.put(KEY, jsonl(1));
    const real = storage.open.bind(storage);
    storage.open = async (ref) => {
      const o = await real(ref);
      return o === 'gone' ? o : { ...o, size: MAX_FILE_BYTES + 10 };
    };
    const { size: _size, ...noSize } = refFor(storage, KEY);
    const out = await ingestObject(deps, noSize);
    expect(out.status).toBe('refused');
    if (out.status === 'refused') expect(out.reason).toContain(`file is ${MAX_FILE_BYTES + 10} bytes`);
  });

  it('refuses an object that was deleted or replaced before it could be read, and frees the lease', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(3));
    const ref = refFor(storage, KEY);
    storage.put(KEY, jsonl(4, 'replaced')); // new ETag: the event's version is gone
    const out = await ingestObject(deps, ref);
    expect(out.status).toBe('refused');
    if (out.status !== 'refused') return;
    expect(out.reason).toBe('the object was deleted or replaced before it could be read');
    const stored = uploads.uploads.get(out.upload!.uploadId)!;
    expect(stored.status).toBe('failed');
    expect(uploads.leaseOf(stored).owner).toBeUndefined();
    expect(traces.items.size).toBe(0);
  });
});

describe('ingestObject: a good file', () => {
  it('completes with its counts, errors and traces', async () => {
    const { deps, storage, uploads, traces } = setupIngest({ chunkSize: 7 });
    const lines = [
      JSON.stringify({ input: 'first', source: 'sdk' }),
      'not json',
      '',
      JSON.stringify({ prompt: 'second' }),
      '[1,2]',
      JSON.stringify({ messages: [{ role: 'user', content: 'third' }] }),
    ];
    storage.put(KEY, `${lines.join('\n')}\n`);
    const ref = refFor(storage, KEY);
    const out = await ingestObject(deps, ref);
    expect(out.status).toBe('completed');
    if (out.status !== 'completed') return;

    const { summary, upload } = out;
    expect(upload.uploadId).toBe(
      deriveUploadId({ organizationId: 'org1', projectId: 'proj1', objectKey: KEY, version: storage.objects.get(KEY)!.eTag }),
    );
    expect(summary.records).toBe(5); // the blank line is not a record
    expect(summary.traces).toBe(3);
    expect(summary.newTraces).toBe(3);
    expect(summary.newBySource).toEqual({ sdk: 1, upload: 2 });
    expect(summary.errorCount).toBe(2);
    expect(summary.errors.map((e) => e.line)).toEqual([2, 5]);
    expect(summary.errors[1]!.message).toBe('expected a JSON object, got array');
    expect(summary.idChunks).toBe(1);

    const stored = uploads.uploads.get(upload.uploadId)!;
    expect(stored).toMatchObject({ status: 'completed', records: 5, traces: 3, newTraces: 3, errorCount: 2, idChunks: 1, attempts: 1 });
    expect(stored.createdAt).toBe('2024-05-01T12:00:00.000Z');
    expect(uploads.counters.get('org1/proj1')).toEqual({ traces: 3, bySource: { sdk: 1, upload: 2 } });
    expect(uploads.leaseOf(stored).owner).toBeUndefined();

    const expectedIds = [1, 4, 6].map((position) =>
      traceId({ organizationId: 'org1', projectId: 'proj1', objectKey: KEY, position, raw: lines[position - 1]! }),
    );
    expect(uploads.idChunks.get(`${upload.uploadId}#0`)).toEqual(expectedIds);
    expect([...traces.items.keys()].sort()).toEqual([...expectedIds].sort());
    const third = traces.items.get(expectedIds[2]!)!;
    expect(third).toMatchObject({
      input: 'user: third',
      position: 6,
      source: 'upload',
      uploadId: upload.uploadId,
      payloadKey: null,
      createdAt: '2024-05-01T12:00:00.000Z',
    });
    // A fresh key: no owner lookups were needed.
    expect(traces.ownerLookups).toBe(0);
  });

  it('reads the version from HEAD when the event has no ETag', async () => {
    const { deps, storage } = setupIngest();
    const eTag = storage.put(KEY, jsonl(2));
    const out = await ingestObject(deps, { bucket: BUCKET, key: KEY });
    expect(storage.heads).toBe(1);
    expect(out.status).toBe('completed');
    if (out.status === 'completed') {
      expect(out.upload.version).toBe(eTag);
      expect(out.upload.size).toBe(storage.objects.get(KEY)!.bytes.length);
    }
  });

  it('keeps the first 100 errors but counts them all', async () => {
    const { deps, storage } = setupIngest();
    const lines: string[] = [];
    for (let i = 1; i <= 160; i++) lines.push(i % 16 === 0 ? JSON.stringify({ input: `ok ${i}` }) : `{bad ${i}`);
    storage.put(KEY, lines.join('\n'));
    const out = await ingestObject(deps, refFor(storage, KEY));
    expect(out.status).toBe('completed');
    if (out.status !== 'completed') return;
    expect(out.summary.records).toBe(160);
    expect(out.summary.traces).toBe(10);
    expect(out.summary.errorCount).toBe(150);
    expect(out.summary.errors).toHaveLength(MAX_REPORTED_ERRORS);
    const badLines = Array.from({ length: 160 }, (_, i) => i + 1).filter((n) => n % 16 !== 0);
    expect(out.summary.errors.map((e) => e.line)).toEqual(badLines.slice(0, 100));
    expect(out.summary.errors[0]!.message).toMatch(/^invalid JSON: /);
  });

  it('writes batches of at most 25 and keeps ids in chunks of 5000, in file order', async () => {
    const { deps, storage, uploads, traces } = setupIngest({ chunkSize: 64 * 1024 });
    const n = ID_CHUNK_SIZE + 37;
    storage.put(KEY, jsonl(n));
    const out = await ingestObject(deps, refFor(storage, KEY));
    expect(out.status).toBe('completed');
    if (out.status !== 'completed') return;
    expect(out.summary.traces).toBe(n);
    expect(out.summary.newTraces).toBe(n);
    expect(out.summary.idChunks).toBe(2);

    expect(Math.max(...traces.batchSizes)).toBe(BATCH_WRITE_SIZE);
    expect(traces.batchSizes).toHaveLength(Math.ceil(n / BATCH_WRITE_SIZE));
    expect(traces.batchSizes.reduce((a, b) => a + b, 0)).toBe(n);
    expect(traces.items.size).toBe(n);

    const c0 = uploads.idChunks.get(`${out.upload.uploadId}#0`)!;
    const c1 = uploads.idChunks.get(`${out.upload.uploadId}#1`)!;
    expect(c0).toHaveLength(ID_CHUNK_SIZE);
    expect(c1).toHaveLength(37);
    const lines = jsonl(n).split('\n');
    const ids = [...c0, ...c1];
    expect(ids[0]).toBe(traceId({ organizationId: 'org1', projectId: 'proj1', objectKey: KEY, position: 1, raw: lines[0]! }));
    expect(ids[n - 1]).toBe(traceId({ organizationId: 'org1', projectId: 'proj1', objectKey: KEY, position: n, raw: lines[n - 1]! }));
    expect(new Set(ids).size).toBe(n);
  });

  it('offloads a trace too big to keep inline (deflated), and keeps the small ones inline', async () => {
    const { deps, storage, traces } = setupIngest({ chunkSize: 64 * 1024 });
    // Text that does not deflate, so the record stays over the inline budget.
    const text = Array.from({ length: 70_000 }, (_, i) => ((i * 2654435761) >>> 0).toString(36)).join(' ');
    const big = `{"input":"${text}","n":123456789012345678901234567890}`;
    storage.put(KEY, `${JSON.stringify({ input: 'small' })}\n${big}\n`);
    const out = await ingestObject(deps, refFor(storage, KEY));
    expect(out.status).toBe('completed');
    const [small, large] = [...traces.items.values()].sort((a, b) => a.position - b.position);
    expect(small!.payloadKey).toBeNull();
    expect(large!.payloadKey).toBe(`payloads/org1/proj1/${large!.id}.json`);
    const body = storage.payloads.get(large!.payloadKey!)!;
    expect(body).toContain(large!.document);
    expect(body).toContain('"n":123456789012345678901234567890}');
    expect(JSON.parse(body).input).toBe(text);
    expect(small!.packed).not.toBeNull();
    expect(large!.packed).toBeNull();
  });
});

describe('ingestObject: leases, ownership and retries', () => {
  it('looks up owners on a non-fresh lease and leaves traces of another upload alone', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    const shared = [JSON.stringify({ input: 'same 1' }), JSON.stringify({ input: 'same 2' })];
    storage.put(KEY, `${shared.join('\n')}\n${JSON.stringify({ input: 'old 3' })}\n`);
    const first = await ingestObject(deps, refFor(storage, KEY));
    expect(first.status).toBe('completed');
    expect(traces.ownerLookups).toBe(0);
    if (first.status !== 'completed') return;

    // A re-upload of the same key: lines 1-2 identical, line 3 changed, line 4 new.
    storage.put(KEY, `${shared.join('\n')}\n${JSON.stringify({ input: 'new 3' })}\n${JSON.stringify({ input: 'new 4' })}\n`);
    const second = await ingestObject(deps, refFor(storage, KEY));
    expect(second.status).toBe('completed');
    if (second.status !== 'completed') return;
    expect(second.upload.uploadId).not.toBe(first.upload.uploadId);
    expect(traces.ownerLookups).toBeGreaterThan(0);
    expect(second.summary.traces).toBe(4);
    expect(second.summary.newTraces).toBe(2);
    expect(second.summary.newBySource).toEqual({ upload: 2 });

    const byPosition = (p: number) => [...traces.items.values()].filter((t) => t.position === p);
    // The shared lines still belong to the first upload, untouched.
    expect(byPosition(1).map((t) => t.uploadId)).toEqual([first.upload.uploadId]);
    expect(byPosition(2).map((t) => t.uploadId)).toEqual([first.upload.uploadId]);
    expect(
      byPosition(3)
        .map((t) => t.uploadId)
        .sort(),
    ).toEqual([first.upload.uploadId, second.upload.uploadId].sort());
    expect(byPosition(4).map((t) => t.uploadId)).toEqual([second.upload.uploadId]);
    expect(uploads.counters.get('org1/proj1')!.traces).toBe(5);
    // Both uploads' id lists hold all of their lines.
    expect(uploads.idChunks.get(`${second.upload.uploadId}#0`)).toHaveLength(4);
  });

  it('on a writer failure: releases the lease, records the failure as pending and throws a retryable error', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(100));
    traces.failOnBatch = 2;
    const ref = refFor(storage, KEY);
    const err = await ingestObject(deps, ref).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RetryableIngestError);
    expect((err as Error).message).toContain('ValidationException');
    expect((err as Error).cause).toBeInstanceOf(Error);

    const [stored] = [...uploads.uploads.values()];
    expect(stored!.status).toBe('pending');
    expect(stored!.lastError).toContain('ValidationException');
    expect(uploads.leaseOf(stored!).owner).toBeUndefined();
    expect(uploads.completions).toBe(0);

    // The retry completes; traces the failed attempt wrote belong to this same upload and count as new.
    traces.failOnBatch = null;
    const written = traces.items.size;
    expect(written).toBeGreaterThan(0);
    const retry = await ingestObject(deps, ref);
    expect(retry.status).toBe('completed');
    if (retry.status !== 'completed') return;
    expect(traces.ownerLookups).toBeGreaterThan(0); // not fresh any more
    expect(retry.summary.newTraces).toBe(100);
    expect(uploads.counters.get('org1/proj1')!.traces).toBe(100);
    expect(uploads.uploads.get(stored!.uploadId)!.attempts).toBe(2);
  });

  it('after a failed write, waits for every write still in flight: nothing lands once the attempt has ended', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(400));
    traces.failOnBatch = 1;
    traces.delayMs = 30;
    await expect(ingestObject({ ...deps, writeConcurrency: 8 }, refFor(storage, KEY))).rejects.toBeInstanceOf(RetryableIngestError);
    const [stored] = [...uploads.uploads.values()];
    expect(uploads.leaseOf(stored!).owner).toBeUndefined();
    const atEnd = traces.items.size;
    await sleep(200);
    expect(traces.items.size).toBe(atEnd);
  });

  it('an aborted attempt (the worker is stopping) ends at the next batch, releases the lease and stays retryable', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(400));
    traces.delayMs = 10;
    const stopping = new AbortController();
    const attempt = ingestObject({ ...deps, signal: stopping.signal }, refFor(storage, KEY));
    setTimeout(() => stopping.abort(), 25);
    await expect(attempt).rejects.toThrow(/stopping/);
    const [stored] = [...uploads.uploads.values()];
    expect(stored!.status).toBe('pending');
    expect(uploads.leaseOf(stored!).owner).toBeUndefined();
    expect(traces.items.size).toBeLessThan(400);
    const retry = await ingestObject(deps, refFor(storage, KEY));
    expect(retry.status).toBe('completed');
    expect(traces.items.size).toBe(400);
  });

  it('on a writer failure in the final attempt: marks the upload failed', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(30));
    traces.failOnBatch = 1;
    await expect(ingestObject(deps, refFor(storage, KEY), { finalAttempt: true })).rejects.toBeInstanceOf(RetryableIngestError);
    const [stored] = [...uploads.uploads.values()];
    expect(stored!.status).toBe('failed');
    expect(stored!.reason).toContain('ValidationException');
    expect(uploads.leaseOf(stored!).owner).toBeUndefined();

    // Failed for good: a later delivery does not read the object again.
    const opens = storage.opens;
    traces.failOnBatch = null;
    const again = await ingestObject(deps, refFor(storage, KEY));
    expect(again.status).toBe('already-done');
    expect(storage.opens).toBe(opens);
  });

  it('throws a retryable error without touching the object while another worker holds the lease', async () => {
    const { deps, storage, uploads } = setupIngest();
    storage.put(KEY, jsonl(3));
    const ref = refFor(storage, KEY);
    const upload = await uploads.ensureUpload({
      uploadId: deriveUploadId({ organizationId: 'org1', projectId: 'proj1', objectKey: KEY, version: storage.objects.get(KEY)!.eTag }),
      organizationId: 'org1',
      projectId: 'proj1',
      bucket: BUCKET,
      objectKey: KEY,
      filename: 'traces.jsonl',
      source: 'upload',
      version: storage.objects.get(KEY)!.eTag,
      size: null,
      createdAt: '2024-05-01T12:00:00.000Z',
    });
    const heldUntil = Date.now() + 60_000;
    await uploads.acquireLease(upload, 'other-worker', heldUntil - 60_000, 60_000);

    const err = await ingestObject(deps, ref).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(RetryableIngestError);
    expect(err!.message).toContain(`${KEY} is being ingested by another worker (lease held until ${new Date(heldUntil).toISOString()})`);
    expect(storage.opens).toBe(0);
    // The other worker's lease and the upload's state are left alone.
    expect(uploads.leaseOf(upload).owner).toBe('other-worker');
    expect(uploads.uploads.get(upload.uploadId)!.status).toBe('pending');
    expect(uploads.uploads.get(upload.uploadId)!.attempts).toBe(0);
  });

  it('takes over a lease that has expired', async () => {
    const { deps, storage, uploads } = setupIngest();
    storage.put(KEY, jsonl(3));
    const first = await ingestObject(deps, refFor(storage, KEY));
    if (first.status !== 'completed') throw new Error('expected completed');
    // Simulate a new version while a dead worker's lease lapsed long ago.
    storage.put(KEY, jsonl(4, 'v2'));
    const lease = uploads.leaseOf(first.upload);
    lease.owner = 'dead-worker';
    lease.until = Date.now() - 1;
    const out = await ingestObject(deps, refFor(storage, KEY));
    expect(out.status).toBe('completed');
  });

  it('answers already-done for a completed upload without reading the object', async () => {
    const { deps, storage, uploads } = setupIngest();
    storage.put(KEY, jsonl(3));
    const ref = refFor(storage, KEY);
    const first = await ingestObject(deps, ref);
    expect(first.status).toBe('completed');
    const opens = storage.opens;
    const again = await ingestObject(deps, ref);
    expect(again.status).toBe('already-done');
    if (again.status === 'already-done') expect(again.upload.status).toBe('completed');
    expect(storage.opens).toBe(opens);
    expect(uploads.completions).toBe(1);
    expect(uploads.counters.get('org1/proj1')!.traces).toBe(3);
  });

  it('fails the attempt when the lease is lost while writing', async () => {
    const { deps, storage, uploads, traces } = setupIngest();
    storage.put(KEY, jsonl(200));
    traces.delayMs = 40;
    deps.writeConcurrency = 1;
    deps.leaseMs = 150; // heartbeat every 50 ms
    const realRenew = uploads.renewLease.bind(uploads);
    // Another worker steals the key as soon as the first renewal happens.
    uploads.renewLease = async (u, _owner, nowMs, leaseMs) => {
      uploads.leaseOf(u).owner = 'thief';
      return realRenew(u, _owner, nowMs, leaseMs);
    };
    const err = await ingestObject(deps, refFor(storage, KEY)).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(RetryableIngestError);
    expect(err!.message).toBe('lost the lease on the object');
    expect(uploads.completions).toBe(0);
    // The thief's lease is not released by the loser.
    const [stored] = [...uploads.uploads.values()];
    expect(uploads.leaseOf(stored!).owner).toBe('thief');
    expect(traces.items.size).toBeLessThan(200);
  });
});

describe('ingestObject: progress', () => {
  it('records the counts so far on the upload while reading, at most every progressEveryMs, and never after it completes', async () => {
    const { deps, storage, uploads } = setupIngest({ chunkSize: 512 });
    let clock = 0;
    deps.now = () => (clock += 400); // each look at the clock: 400 ms later
    deps.progressEveryMs = 1_000;
    const text = `${jsonl(200)}{oops\n${jsonl(100, 'b')}`;
    storage.put(KEY, text);
    const out = await ingestObject(deps, refFor(storage, KEY));
    expect(out.status).toBe('completed');
    const progress = uploads.progress;
    expect(progress.length).toBeGreaterThan(1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.records).toBeGreaterThanOrEqual(progress[i - 1]!.records);
    expect(progress.at(-1)!.records).toBeLessThanOrEqual(301);
    expect(progress.some((p) => p.errorCount === 1 && p.traces === p.records - 1)).toBe(true);
    expect(progress.length).toBeLessThan(clock / 1_000 + 1); // modest: one write per progressEveryMs at most
    expect(uploads.byObjectKey(KEY)).toMatchObject({ status: 'completed', records: 301, traces: 300, errorCount: 1 });
  });
});
