import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { IngestDeps } from '../../functions/domain/ingest/ingest-object.js';
import { encodeEventKey } from '../../functions/domain/object-key.js';
import type {
  LeaseResult,
  ObjectHead,
  ObjectRef,
  ObjectStorage,
  OpenedObject,
  StoredTrace,
  TenantDirectory,
  TraceWriter,
  UploadRecord,
  UploadStore,
  UploadSummary,
} from '../../functions/domain/ports.js';
import { makeSqsIngestHandler } from '../../functions/handlers/ingest.js';

// Small in-memory fakes of the ingest ports (the adapters' behaviour, none of their storage).

class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, Buffer>();
  async head(ref: ObjectRef): Promise<ObjectHead | null> {
    const b = this.objects.get(ref.key);
    return b ? { size: b.length, eTag: `"etag-${b.length}"` } : null;
  }
  async open(ref: ObjectRef & { eTag: string }): Promise<OpenedObject | 'gone'> {
    const b = this.objects.get(ref.key);
    if (!b) return 'gone';
    return { size: b.length, body: (async function* () { yield b; })() };
  }
  async putPayload(): Promise<void> {}
}

class MemoryUploads implements UploadStore {
  readonly byKey = new Map<string, UploadRecord>();
  private readonly leases = new Map<string, { owner?: string; until?: number; starts: number }>();
  private lease(u: UploadRecord) {
    let l = this.leases.get(u.objectKey);
    if (!l) this.leases.set(u.objectKey, (l = { starts: 0 }));
    return l;
  }
  private set(u: UploadRecord, change: Partial<UploadRecord>) {
    const r = this.byKey.get(u.objectKey)!;
    if (r.status !== 'completed') Object.assign(r, change);
  }
  async ensureUpload(u: Parameters<UploadStore['ensureUpload']>[0]): Promise<UploadRecord> {
    const existing = this.byKey.get(u.objectKey);
    if (existing?.uploadId === u.uploadId) return { ...existing };
    const r: UploadRecord = {
      ...u, status: 'pending', attempts: 0, records: 0, traces: 0, newTraces: 0, errorCount: 0, errors: [], idChunks: 0,
      reason: null, lastError: null, startedAt: null, completedAt: null, durationMs: null,
    };
    this.byKey.set(u.objectKey, r);
    return { ...r };
  }
  async refuse(u: UploadRecord, reason: string) { this.set(u, { status: 'failed', reason }); }
  async acquireLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<LeaseResult> {
    const l = this.lease(u);
    if (l.until !== undefined && l.until >= nowMs && l.owner !== owner) return { acquired: false, heldUntil: l.until };
    const fresh = l.starts === 0;
    Object.assign(l, { owner, until: nowMs + leaseMs, starts: l.starts + 1 });
    return { acquired: true, fresh };
  }
  async renewLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number) {
    const l = this.lease(u);
    if (l.owner !== owner) return false;
    l.until = nowMs + leaseMs;
    return true;
  }
  async releaseLease(u: UploadRecord, owner: string) {
    const l = this.lease(u);
    if (l.owner === owner) { delete l.owner; delete l.until; }
  }
  async markProcessing(u: UploadRecord, startedAt: string) { this.set(u, { status: 'processing', startedAt }); }
  async recordFailure(u: UploadRecord, reason: string, final: boolean) {
    this.set(u, final ? { status: 'failed', reason, lastError: reason } : { status: 'pending', lastError: reason });
  }
  async putIdChunk(): Promise<void> {}
  async complete(u: UploadRecord, owner: string, s: UploadSummary): Promise<'completed' | 'already-completed'> {
    if (this.lease(u).owner !== owner) throw new Error('lost the lease on the object before completing');
    const r = this.byKey.get(u.objectKey)!;
    if (r.status === 'completed') return 'already-completed';
    Object.assign(r, { status: 'completed', records: s.records, traces: s.traces, newTraces: s.newTraces, errorCount: s.errorCount });
    return 'completed';
  }
  async getUpload(): Promise<UploadRecord | null> { return null; }
}

/** Stores traces; refuses those of files whose name starts with "bad". */
class MemoryTraces implements TraceWriter {
  readonly ids = new Map<string, string>();
  async owners(_o: string, _p: string, ids: string[]) {
    return new Map(ids.flatMap((id) => (this.ids.has(id) ? [[id, this.ids.get(id)!] as const] : [])));
  }
  async writeBatch(traces: StoredTrace[]) {
    if (traces.some((t) => t.filename.startsWith('bad'))) throw new Error('ValidationException: item too large');
    for (const t of traces) this.ids.set(t.id, t.uploadId);
  }
}

const tenants: TenantDirectory = { projectExists: async (o, p) => o === 'org1' && p === 'proj1' };

function setup(maxReceiveCount = 3) {
  const storage = new MemoryStorage();
  const uploads = new MemoryUploads();
  const traces = new MemoryTraces();
  const deps: IngestDeps = { storage, uploads, traces, tenants };
  const failures: Array<[string, string]> = [];
  const handler = makeSqsIngestHandler({
    deps: () => deps,
    maxReceiveCount: () => maxReceiveCount,
    onMessageFailure: (id, reason) => failures.push([id, reason]),
  });
  return { storage, uploads, traces, handler, failures };
}

function notification(key: string, size: number): string {
  return JSON.stringify({
    Records: [
      {
        eventName: 'ObjectCreated:Put',
        eventTime: '2024-05-01T12:00:00.000Z',
        s3: { bucket: { name: 'bucket' }, object: { key: encodeEventKey(key), size, eTag: `etag-${size}` } },
      },
    ],
  });
}

function message(messageId: string, body: string, receiveCount = 1): SQSRecord {
  return {
    messageId,
    receiptHandle: `${messageId}#${receiveCount}`,
    body,
    attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 'test', ApproximateFirstReceiveTimestamp: '0' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:ingest',
    awsRegion: 'us-east-1',
  };
}

function put(storage: MemoryStorage, key: string, text: string): number {
  const b = Buffer.from(text);
  storage.objects.set(key, b);
  return b.length;
}

const GOOD = 'uploads/org1/proj1/good file.jsonl';
const BAD = 'uploads/org1/proj1/bad.jsonl';

describe('makeSqsIngestHandler', () => {
  it('reports exactly the failing message in batchItemFailures, with its reason', async () => {
    const { storage, uploads, handler, failures } = setup();
    const goodSize = put(storage, GOOD, '{"input":"a"}\n{"input":"b"}\n');
    const badSize = put(storage, BAD, '{"input":"c"}\n');
    const event: SQSEvent = { Records: [message('m-good', notification(GOOD, goodSize)), message('m-bad', notification(BAD, badSize))] };

    const out = await handler(event);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm-bad' }]);
    expect(failures).toEqual([['m-bad', 'ValidationException: item too large']]);
    expect(uploads.byKey.get(GOOD)).toMatchObject({ status: 'completed', traces: 2 });
    // Not the last delivery: the upload waits for the retry.
    expect(uploads.byKey.get(BAD)).toMatchObject({ status: 'pending', lastError: 'ValidationException: item too large' });
  });

  it('passes finalAttempt on the last delivery: the upload is marked failed, not pending', async () => {
    const { storage, uploads, handler } = setup(3);
    const size = put(storage, BAD, '{"input":"c"}\n');

    await handler({ Records: [message('m1', notification(BAD, size), 2)] });
    expect(uploads.byKey.get(BAD)!.status).toBe('pending');

    const out = await handler({ Records: [message('m1', notification(BAD, size), 3)] });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(uploads.byKey.get(BAD)).toMatchObject({ status: 'failed', reason: 'ValidationException: item too large' });
  });

  it('treats a receive count above the maximum as final too', async () => {
    const { storage, uploads, handler } = setup(2);
    const size = put(storage, BAD, '{"input":"c"}\n');
    await handler({ Records: [message('m1', notification(BAD, size), 7)] });
    expect(uploads.byKey.get(BAD)!.status).toBe('failed');
  });

  it('fails only the message whose body is malformed', async () => {
    const { storage, uploads, handler, failures } = setup();
    const size = put(storage, GOOD, '{"input":"a"}\n');
    const out = await handler({
      Records: [message('m-junk', 'this is not json'), message('m-ok', notification(GOOD, size)), message('m-shape', '{"Records":"nope"}')],
    });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm-junk' }, { itemIdentifier: 'm-shape' }]);
    expect(failures.map(([id]) => id)).toEqual(['m-junk', 'm-shape']);
    expect(failures[0]![1]).toBe('message body is not JSON');
    expect(failures[1]![1]).toMatch(/^message body is not an S3 event notification/);
    expect(uploads.byKey.get(GOOD)!.status).toBe('completed');
  });

  it('answers no failures for a batch that all succeeds, including the S3 test event', async () => {
    const { storage, handler, failures, traces } = setup();
    const size = put(storage, GOOD, '{"input":"a"}\n');
    const out = await handler({
      Records: [message('m1', notification(GOOD, size)), message('m2', '{"Service":"Amazon S3","Event":"s3:TestEvent"}')],
    });
    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures).toEqual([]);
    expect(traces.ids.size).toBe(1);
  });
});
