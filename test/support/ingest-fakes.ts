/**
 * In-memory fakes of the ingest ports (functions/domain/ports.ts), behaving
 * like the S3 and DynamoDB adapters, for unit tests of the ingest use case and
 * its handlers.
 */
import { createHash } from 'node:crypto';
import type { IngestDeps } from '../../functions/domain/ingest/ingest-object.js';
import {
  newUploadRecord,
  type IngestProgress,
  type LeaseResult,
  type NewUpload,
  type ObjectHead,
  type ObjectRef,
  type ObjectStorage,
  type OpenedObject,
  type StoredTrace,
  type TenantDirectory,
  type TraceWriter,
  type UploadRecord,
  type UploadStore,
  type UploadSummary,
} from '../../functions/domain/ports.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const BUCKET = 'bucket';

export class FakeStorage implements ObjectStorage {
  readonly objects = new Map<string, { bytes: Buffer; eTag: string; versionId?: string }>();
  readonly payloads = new Map<string, string>();
  opens = 0;
  heads = 0;
  constructor(private readonly chunkSize = 4096) {}

  /** Stores an object; answers its (unquoted) ETag, the content's MD5 unless given. */
  put(key: string, content: string | Buffer, eTag?: string): string {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const tag = eTag ?? createHash('md5').update(bytes).digest('hex');
    this.objects.set(key, { bytes, eTag: tag });
    return tag;
  }

  async head(ref: ObjectRef): Promise<ObjectHead | null> {
    this.heads++;
    const o = this.objects.get(ref.key);
    return o ? { size: o.bytes.length, eTag: `"${o.eTag}"`, versionId: o.versionId } : null;
  }

  async open(ref: ObjectRef & { eTag: string }): Promise<OpenedObject | 'gone'> {
    this.opens++;
    const o = this.objects.get(ref.key);
    // Like GetObject with If-Match: a replaced object is as good as gone.
    if (!o || o.eTag !== ref.eTag) return 'gone';
    const { bytes } = o;
    const chunkSize = this.chunkSize;
    return {
      size: bytes.length,
      body: (async function* () {
        for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
      })(),
    };
  }

  async putPayload(key: string, body: string): Promise<void> {
    this.payloads.set(key, body);
  }
}

export class FakeUploadStore implements UploadStore {
  readonly uploads = new Map<string, UploadRecord>();
  readonly leases = new Map<string, { owner?: string; until?: number; starts: number }>();
  readonly idChunks = new Map<string, string[]>();
  readonly counters = new Map<string, { traces: number; bySource: Record<string, number> }>();
  completions = 0;

  private objectOf(u: UploadRecord) {
    const k = `${u.organizationId}/${u.projectId}/${u.objectKey}`;
    let o = this.leases.get(k);
    if (!o) this.leases.set(k, (o = { starts: 0 }));
    return o;
  }

  leaseOf(u: UploadRecord) {
    return this.objectOf(u);
  }

  /** The latest upload created for an object key, as stored. */
  byObjectKey(objectKey: string): UploadRecord | undefined {
    return [...this.uploads.values()].filter((r) => r.objectKey === objectKey).at(-1);
  }

  async ensureUpload(u: NewUpload): Promise<UploadRecord> {
    const existing = this.uploads.get(u.uploadId);
    if (existing) return { ...existing };
    const record = newUploadRecord(u);
    this.uploads.set(u.uploadId, record);
    return { ...record };
  }

  private update(u: UploadRecord, change: Partial<UploadRecord>): void {
    const r = this.uploads.get(u.uploadId);
    if (!r || r.status === 'completed') return; // status changes never touch a completed upload
    Object.assign(r, change);
  }

  async refuse(u: UploadRecord, reason: string): Promise<void> {
    this.update(u, { status: 'failed', reason, completedAt: new Date().toISOString() });
  }

  async acquireLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<LeaseResult> {
    const o = this.objectOf(u);
    if (o.until === undefined || o.until < nowMs || o.owner === owner) {
      const previousStarts = o.starts;
      o.owner = owner;
      o.until = nowMs + leaseMs;
      o.starts++;
      return { acquired: true, fresh: previousStarts === 0 };
    }
    return { acquired: false, heldUntil: o.until };
  }

  async renewLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    const o = this.objectOf(u);
    if (o.owner !== owner) return false;
    o.until = nowMs + leaseMs;
    return true;
  }

  async releaseLease(u: UploadRecord, owner: string): Promise<void> {
    const o = this.objectOf(u);
    if (o.owner !== owner) return;
    delete o.owner;
    delete o.until;
  }

  async markProcessing(u: UploadRecord, startedAt: string): Promise<void> {
    const r = this.uploads.get(u.uploadId);
    this.update(u, { status: 'processing', startedAt, attempts: (r?.attempts ?? 0) + 1 });
  }

  async recordFailure(u: UploadRecord, reason: string, final: boolean): Promise<void> {
    this.update(
      u,
      final
        ? { status: 'failed', lastError: reason, reason, completedAt: new Date().toISOString() }
        : { status: 'pending', lastError: reason },
    );
  }

  /** Every progress write, in order. */
  readonly progress: Array<IngestProgress & { uploadId: string }> = [];

  async recordProgress(u: UploadRecord, p: IngestProgress): Promise<void> {
    const r = this.uploads.get(u.uploadId);
    if (r?.status !== 'processing') return;
    this.progress.push({ uploadId: u.uploadId, ...p });
    Object.assign(r, p);
  }

  async putIdChunk(u: UploadRecord, index: number, ids: string[]): Promise<void> {
    this.idChunks.set(`${u.uploadId}#${index}`, [...ids]);
  }

  async traceIds(u: UploadRecord, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
    const uploadId = u.uploadId;
    const ids: string[] = [];
    for (let i = 0; this.idChunks.has(`${uploadId}#${i}`) && ids.length < limit; i++) ids.push(...this.idChunks.get(`${uploadId}#${i}`)!);
    return ids.slice(0, limit);
  }

  async complete(u: UploadRecord, owner: string, s: UploadSummary): Promise<'completed' | 'already-completed'> {
    if (this.objectOf(u).owner !== owner) throw new Error('lost the lease on the object before completing');
    const r = this.uploads.get(u.uploadId)!;
    if (r.status === 'completed') return 'already-completed';
    this.completions++;
    Object.assign(r, {
      status: 'completed',
      records: s.records,
      traces: s.traces,
      newTraces: s.newTraces,
      errorCount: s.errorCount,
      errors: s.errors,
      idChunks: s.idChunks,
      startedAt: s.startedAt,
      completedAt: s.completedAt,
      durationMs: s.durationMs,
      reason: null,
      lastError: null,
    } satisfies Partial<UploadRecord>);
    const ck = `${u.organizationId}/${u.projectId}`;
    const c = this.counters.get(ck) ?? { traces: 0, bySource: {} };
    c.traces += s.newTraces;
    for (const [src, n] of Object.entries(s.newBySource)) c.bySource[src] = (c.bySource[src] ?? 0) + n;
    this.counters.set(ck, c);
    return 'completed';
  }

  async getUpload(organizationId: string, projectId: string, uploadId: string): Promise<UploadRecord | null> {
    const r = this.uploads.get(uploadId);
    return r && r.organizationId === organizationId && r.projectId === projectId ? { ...r } : null;
  }
}

export class FakeTraceWriter implements TraceWriter {
  readonly items = new Map<string, StoredTrace>();
  readonly batchSizes: number[] = [];
  ownerLookups = 0;
  /** Set to make the n-th writeBatch call (1-based) fail. */
  failOnBatch: number | null = null;
  /** Set to make every writeBatch call whose traces it matches fail. */
  failWhen: ((traces: StoredTrace[]) => boolean) | null = null;
  /** What a failing writeBatch call throws. */
  failMessage = 'BatchWriteItem failed after 10 attempts: ValidationException';
  delayMs = 0;

  async owners(_organizationId: string, _projectId: string, ids: string[]): Promise<Map<string, string>> {
    this.ownerLookups++;
    const found = new Map<string, string>();
    for (const id of ids) {
      const t = this.items.get(id);
      if (t) found.set(id, t.uploadId);
    }
    return found;
  }

  async writeBatch(traces: StoredTrace[]): Promise<void> {
    if (traces.length > 25) throw new Error('BatchWriteItem takes at most 25 items');
    const call = this.batchSizes.push(traces.length);
    if (this.delayMs) await sleep(this.delayMs);
    if (this.failOnBatch === call || this.failWhen?.(traces)) throw new Error(this.failMessage);
    for (const t of traces) this.items.set(t.id, t);
  }
}

export class FakeTenants implements TenantDirectory {
  readonly projects = new Set<string>(['org1/proj1']);
  async projectExists(organizationId: string, projectId: string): Promise<boolean> {
    return this.projects.has(`${organizationId}/${projectId}`);
  }
}

/** A fresh set of fakes and the ingest deps over them; only org1/proj1 exists. */
export function setupIngest(opts: { chunkSize?: number } = {}) {
  const storage = new FakeStorage(opts.chunkSize);
  const uploads = new FakeUploadStore();
  const traces = new FakeTraceWriter();
  const tenants = new FakeTenants();
  const deps: IngestDeps = { storage, uploads, traces, tenants, writeConcurrency: 4 };
  return { storage, uploads, traces, tenants, deps };
}

/** The event's view of an object just stored in the fake bucket. */
export function refFor(storage: FakeStorage, key: string): ObjectRef {
  const o = storage.objects.get(key)!;
  return { bucket: BUCKET, key, eTag: `"${o.eTag}"`, size: o.bytes.length, eventTime: '2024-05-01T12:00:00.000Z' };
}

/** `n` JSON Lines records, each a distinct input tagged with `tag`. */
export function jsonl(n: number, tag = 'a'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `${JSON.stringify({ input: `q${i}-${tag}`, output: `answer ${i}` })}\n`;
  return s;
}
