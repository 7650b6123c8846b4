import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  newUploadRecord,
  type IngestProgress,
  type LeaseResult,
  type NewUpload,
  type UploadRecord,
  type UploadStore,
  type UploadSummary,
} from '../../domain/ports.js';
import { filenameSortKey, keys, shardOf, TRACE_SHARDS, traceIndex } from './keys.js';
import { putIdChunk, readIdChunks } from './upload-ids.js';
import { EXPIRY_GRACE_DAYS, expiresAt, isExpired } from '../../domain/expiry.js';
import { uploadWorkItem } from './search-work.js';
import { acquireLease, leaseCheck, leaseHeldUntil, releaseLease, renewLease, type LeaseItem } from './lease.js';

/** Distinct sources counted per transaction (keeps each update expression small). */
const SOURCES_PER_TRANSACTION = 40;

export interface UploadStoreOptions {
  /** The traces' retention in days: upload state expires (DynamoDB TTL) EXPIRY_GRACE_DAYS after its traces; absent: kept. */
  retentionDays?: number | undefined;
  /** With a search index: the completion transaction also records the upload's traces as work for the indexer. */
  searchWork?: boolean;
}

export class DynamoUploadStore implements UploadStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly options: UploadStoreOptions = {},
  ) {}

  /** The TTL of everything an upload created at `createdAt` writes: its record, id chunks, markers, filename-order item. */
  private expiry(createdAt: string): Record<string, number> {
    const t = expiresAt(this.options.retentionDays, Date.parse(createdAt) || Date.now(), EXPIRY_GRACE_DAYS);
    return t === undefined ? {} : { expires_at: t };
  }

  async ensureUpload(u: NewUpload): Promise<UploadRecord> {
    const record = newUploadRecord(u);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...keys.upload(u.organizationId, u.projectId, u.uploadId),
            type: 'upload',
            ...toItem(record),
            ...this.expiry(u.createdAt),
          },
          // An expired record DynamoDB has not removed yet counts as absent.
          ConditionExpression: 'attribute_not_exists(pk) OR expires_at <= :now',
          ExpressionAttributeValues: { ':now': Math.floor(Date.now() / 1000) },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const existing = await this.getUpload(u.organizationId, u.projectId, u.uploadId);
      if (existing) return existing;
      throw err;
    }
    // The object's latest upload, for "create by filename"; an older event never overwrites a newer one.
    const objectExpiry = this.expiry(new Date().toISOString()).expires_at;
    await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.object(u.organizationId, u.projectId, u.objectKey),
          UpdateExpression: `SET object_key = :k, filename = :f, latest_upload_id = :u, latest_upload_at = :t${objectExpiry !== undefined ? ', expires_at = :exp' : ''}`,
          ConditionExpression: 'attribute_not_exists(latest_upload_at) OR latest_upload_at <= :t',
          ExpressionAttributeValues: {
            ':k': u.objectKey,
            ':f': u.filename,
            ':u': u.uploadId,
            ':t': u.createdAt,
            ...(objectExpiry !== undefined ? { ':exp': objectExpiry } : {}),
          },
        }),
      )
      .catch((err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
    return record;
  }

  async getUpload(organizationId: string, projectId: string, uploadId: string): Promise<UploadRecord | null> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.upload(organizationId, projectId, uploadId), ConsistentRead: true }),
    );
    return out.Item && !isExpired(out.Item.expires_at) ? fromItem(out.Item) : null;
  }

  async refuse(u: UploadRecord, reason: string): Promise<void> {
    await this.setStatus(u, 'SET #status = :failed, reason = :reason, completed_at = :now', {
      ':failed': 'failed',
      ':reason': reason,
      ':now': new Date().toISOString(),
    });
  }

  async markProcessing(u: UploadRecord, startedAt: string): Promise<void> {
    await this.setStatus(u, 'SET #status = :processing, started_at = :at ADD attempts :one', {
      ':processing': 'processing',
      ':at': startedAt,
      ':one': 1,
    });
  }

  async recordFailure(u: UploadRecord, reason: string, final: boolean): Promise<void> {
    await this.setStatus(
      u,
      final ? 'SET #status = :s, last_error = :e, reason = :e, completed_at = :now' : 'SET #status = :s, last_error = :e',
      final ? { ':s': 'failed', ':e': reason, ':now': new Date().toISOString() } : { ':s': 'pending', ':e': reason },
    );
  }

  /** Status changes never touch a completed upload. */
  private async setStatus(u: UploadRecord, update: string, values: Record<string, unknown>): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.upload(u.organizationId, u.projectId, u.uploadId),
          UpdateExpression: update,
          ConditionExpression: 'attribute_exists(pk) AND #status <> :completed',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ...values, ':completed': 'completed' },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async acquireLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<LeaseResult> {
    // The lease item outlives every trace of the key by the grace (its `starts` tells a fresh key from one ingested before).
    const expiry = this.expiry(new Date(nowMs).toISOString()).expires_at;
    const item = this.objectLease(u);
    const before = await acquireLease(item, owner, nowMs, leaseMs, {
      set: { object_key: u.objectKey, ...(expiry !== undefined ? { expires_at: expiry } : {}) },
      add: { starts: 1 },
    });
    if (before) return { acquired: true, fresh: Number(before.starts ?? 0) === 0 };
    return { acquired: false, heldUntil: await leaseHeldUntil(item, nowMs) };
  }

  async renewLease(u: UploadRecord, owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    return renewLease(this.objectLease(u), owner, nowMs, leaseMs);
  }

  async releaseLease(u: UploadRecord, owner: string): Promise<void> {
    await releaseLease(this.objectLease(u), owner);
  }

  /** An object's ingest lease: on the object's item. */
  private objectLease(u: UploadRecord): LeaseItem {
    return { doc: this.doc, table: this.table, key: keys.object(u.organizationId, u.projectId, u.objectKey) };
  }

  async recordProgress(u: UploadRecord, p: IngestProgress): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.upload(u.organizationId, u.projectId, u.uploadId),
          UpdateExpression: 'SET records = :r, traces = :t, error_count = :e',
          ConditionExpression: '#status = :processing',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':r': p.records, ':t': p.traces, ':e': p.errorCount, ':processing': 'processing' },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async putIdChunk(u: UploadRecord, index: number, ids: string[]): Promise<void> {
    await putIdChunk(this.doc, this.table, u.organizationId, u.projectId, u.uploadId, index, ids, this.expiry(u.createdAt).expires_at);
  }

  /**
   * Completes the upload and moves the project's counters by its new traces,
   * exactly once: the last transaction flips the upload to completed under a
   * condition; when a file has many distinct sources, the groups before it are
   * each guarded by a marker item. Every transaction also checks the lease.
   */
  async complete(u: UploadRecord, owner: string, s: UploadSummary): Promise<'completed' | 'already-completed'> {
    const counterKey = keys.counter(u.organizationId, u.projectId);
    // Every trace of an upload shares its creation time, so one hour bucket takes all of them.
    const hourKey = keys.hourCounter(u.organizationId, u.projectId, u.createdAt);
    const leaseHeld = leaseCheck(this.objectLease(u), owner);
    // The counter items and their maps exist before any nested path is set.
    for (const Key of [counterKey, hourKey]) {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key,
          UpdateExpression: 'SET by_source = if_not_exists(by_source, :empty), traces = if_not_exists(traces, :zero), #type = :type',
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: { ':empty': {}, ':zero': 0, ':type': 'counter' },
        }),
      );
    }
    const sources = Object.entries(s.newBySource).filter(([, n]) => n > 0);
    const groups: [string, number][][] = [];
    for (let i = 0; i < sources.length; i += SOURCES_PER_TRANSACTION) groups.push(sources.slice(i, i + SOURCES_PER_TRANSACTION));
    if (groups.length === 0) groups.push([]);

    for (let g = 0; g < groups.length - 1; g++) {
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              leaseHeld,
              {
                Put: {
                  TableName: this.table,
                  Item: {
                    ...keys.uploadCounted(u.organizationId, u.projectId, u.uploadId, g),
                    type: 'upload-counted',
                    ...this.expiry(u.createdAt),
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              { Update: { TableName: this.table, Key: counterKey, ...counterUpdate(groups[g]!, 0) } },
              { Update: { TableName: this.table, Key: hourKey, ...counterUpdate(groups[g]!, 0) } },
            ],
          }),
        );
      } catch (err) {
        if (!cancelledBy(err, 1)) throw err; // marker exists: this group was counted before
      }
    }

    const last = groups[groups.length - 1]!;
    const total = s.newTraces;
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            leaseHeld,
            {
              Update: {
                TableName: this.table,
                Key: keys.upload(u.organizationId, u.projectId, u.uploadId),
                UpdateExpression:
                  'SET #status = :completed, records = :records, traces = :traces, new_traces = :new, error_count = :ec, errors = :errors, ' +
                  'id_chunks = :chunks, started_at = :started, completed_at = :done, duration_ms = :ms, reason = :null, last_error = :null',
                ConditionExpression: 'attribute_exists(pk) AND #status <> :completed',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':completed': 'completed',
                  ':records': s.records,
                  ':traces': s.traces,
                  ':new': total,
                  ':ec': s.errorCount,
                  ':errors': s.errors,
                  ':chunks': s.idChunks,
                  ':started': s.startedAt,
                  ':done': s.completedAt,
                  ':ms': s.durationMs,
                  ':null': null,
                },
              },
            },
            ...(total > 0
              ? [
                  {
                    Update: {
                      TableName: this.table,
                      Key: counterKey,
                      ...counterUpdate(
                        last,
                        total,
                        sources.map(([src]) => src),
                      ),
                    },
                  },
                ]
              : []),
            // The hour also counts the upload's bad lines (for the viewer's charts), in this same exactly-once transaction.
            ...(total > 0 || s.errorCount > 0
              ? [{ Update: { TableName: this.table, Key: hourKey, ...counterUpdate(last, total, [], s.errorCount) } }]
              : []),
            ...(s.traces > 0
              ? [{ Put: { TableName: this.table, Item: { ...uploadByFilenameItem(u, s), ...this.expiry(u.createdAt) } } }]
              : []),
            // Exactly once with the completion: the indexer builds the upload's entries from this (search-work.ts).
            ...(s.traces > 0 && this.options.searchWork ? [{ Put: { TableName: this.table, Item: uploadWorkItem(u) } }] : []),
          ],
        }),
      );
      return 'completed';
    } catch (err) {
      if (cancelledBy(err, 1)) return 'already-completed';
      if (cancelledBy(err, 0)) throw new Error('lost the lease on the object before completing', { cause: err });
      throw err;
    }
  }

  /** The upload's good trace ids in file order (from its id chunks); at most `limit`. */
  async traceIds(u: UploadRecord, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
    return readIdChunks(this.doc, this.table, u.organizationId, u.projectId, u.uploadId, u.idChunks, limit);
  }
}

/**
 * A completed upload's place in the filename order, with what walking its traces needs
 * (sort_by=filename): its id chunks, or its ids inline (`ids`, for a one-trace "upload" such as
 * an OTel trace).
 */
export function uploadByFilenameItem(
  u: Pick<UploadRecord, 'organizationId' | 'projectId' | 'uploadId' | 'filename' | 'createdAt'>,
  s: Pick<UploadSummary, 'traces' | 'idChunks'>,
  ids?: string[],
): Record<string, unknown> {
  return {
    ...(ids ? { ids: ids.join(',') } : {}),
    ...keys.uploadByFilename(u.organizationId, u.projectId, u.uploadId),
    type: 'upload-filename',
    upload_id: u.uploadId,
    filename: u.filename,
    created_at: u.createdAt,
    traces: s.traces,
    id_chunks: s.idChunks,
    gsi1pk: traceIndex.uploadsByFilename(u.organizationId, u.projectId, shardOf(u.uploadId, TRACE_SHARDS)),
    gsi1sk: filenameSortKey(u.filename, u.createdAt, u.uploadId),
  };
}

function counterUpdate(group: [string, number][], total: number, allSources: string[] = [], badLines = 0) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':zero': 0 };
  const sets: string[] = [];
  group.forEach(([source, n], i) => {
    names[`#s${i}`] = source;
    values[`:n${i}`] = n;
    sets.push(`by_source.#s${i} = if_not_exists(by_source.#s${i}, :zero) + :n${i}`);
  });
  const adds: string[] = [];
  if (total > 0) {
    adds.push('traces :total');
    values[':total'] = total;
  }
  if (badLines > 0) {
    adds.push('bad_lines :bad');
    values[':bad'] = badLines;
  }
  if (allSources.length > 0) {
    adds.push('sources :sources');
    values[':sources'] = new Set(allSources);
  }
  const expr = [sets.length ? `SET ${sets.join(', ')}` : '', adds.length ? `ADD ${adds.join(', ')}` : ''].filter(Boolean).join(' ');
  // DynamoDB refuses an unused value: an ADD alone (bad lines of an upload with no new trace) needs no :zero.
  if (expr && sets.length === 0) delete values[':zero'];
  return {
    UpdateExpression: expr || 'SET traces = if_not_exists(traces, :zero)',
    ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
    ExpressionAttributeValues: values,
  };
}

/** True when a transaction was cancelled because the condition of item `index` failed. */
function cancelledBy(err: unknown, index: number): boolean {
  return err instanceof TransactionCanceledException && err.CancellationReasons?.[index]?.Code === 'ConditionalCheckFailed';
}

function toItem(r: UploadRecord): Record<string, unknown> {
  return {
    upload_id: r.uploadId,
    organization_id: r.organizationId,
    project_id: r.projectId,
    bucket: r.bucket,
    object_key: r.objectKey,
    filename: r.filename,
    source: r.source,
    version: r.version,
    size: r.size,
    status: r.status,
    created_at: r.createdAt,
    attempts: r.attempts,
    records: r.records,
    traces: r.traces,
    new_traces: r.newTraces,
    error_count: r.errorCount,
    errors: r.errors,
    id_chunks: r.idChunks,
    reason: r.reason,
    last_error: r.lastError,
    started_at: r.startedAt,
    completed_at: r.completedAt,
    duration_ms: r.durationMs,
  };
}

export function fromItem(i: Record<string, unknown>): UploadRecord {
  const str = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : null);
  const num = (k: string) => (typeof i[k] === 'number' ? (i[k] as number) : 0);
  return {
    uploadId: str('upload_id') ?? '',
    organizationId: str('organization_id') ?? '',
    projectId: str('project_id') ?? '',
    bucket: str('bucket') ?? '',
    objectKey: str('object_key') ?? '',
    filename: str('filename') ?? '',
    source: str('source') ?? '',
    version: str('version') ?? '',
    size: typeof i.size === 'number' ? i.size : null,
    status: (str('status') ?? 'pending') as UploadRecord['status'],
    createdAt: str('created_at') ?? '',
    attempts: num('attempts'),
    records: num('records'),
    traces: num('traces'),
    newTraces: num('new_traces'),
    errorCount: num('error_count'),
    errors: Array.isArray(i.errors) ? (i.errors as UploadRecord['errors']) : [],
    idChunks: num('id_chunks'),
    reason: str('reason'),
    lastError: str('last_error'),
    startedAt: str('started_at'),
    completedAt: str('completed_at'),
    durationMs: typeof i.duration_ms === 'number' ? i.duration_ms : null,
  };
}
