/**
 * The search index's work in the table (the SearchWork and SearchSource ports):
 *
 *   search work   pk SQ#<org>#<project>#<shard>   sk U#<uploadId>   (an upload to index: its completion transaction puts it)
 *                                                 sk R#<traceId>    (a trace to refresh: its delete's, or its OTel update's, transaction puts it)
 *                 gsi1pk SQW#<shard>  gsi1sk <org>#<project>#<sk>   (a sparse index of every project's work, for the indexer to find)
 *   search lease  pk SQ#<org>#<project>  sk LEASE                   (one indexer per project)
 *
 * A project's work is spread over SEARCH_WORK_SHARDS partitions by upload or trace id, so a burst
 * of deletes or OTel updates never takes one partition's 1,000 writes a second; the sparse index
 * over SEARCH_WORK_INDEX_SHARDS. Every item carries a token: the indexer drops an item only if its
 * token is the one it read, so work recorded again meanwhile is done again.
 *
 * SearchSource reads the traces by key, consistently (an upload that has just completed is read
 * whole; an index entry is never built from a stale item).
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SearchDocument, SearchSource, SearchWork, SearchWorkItem } from '../../domain/search/search-index.js';
import type { Tenant } from '../../domain/tenancy.js';
import { renderInput } from '../../domain/render-input.js';
import { searchText, unpackText } from '../../domain/trace.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { createdAtOf, keys, shardOf } from './keys.js';
import { queryPages } from './query.js';
import { acquireLease, releaseLease, renewLease, type LeaseItem } from './lease.js';
import { readIdChunks } from './upload-ids.js';
import { packedDocument, storedInput } from './trace-writer.js';

export const SEARCH_WORK_SHARDS = 8;
export const SEARCH_WORK_INDEX_SHARDS = 16;

const tag = (n: number) => String(n).padStart(2, '0');

export const searchKeys = {
  work: (org: string, project: string, sk: string) => ({ pk: `SQ#${org}#${project}#${tag(shardOf(sk, SEARCH_WORK_SHARDS))}`, sk }),
  workPartition: (org: string, project: string, shard: number) => `SQ#${org}#${project}#${tag(shard)}`,
  lease: (org: string, project: string) => ({ pk: `SQ#${org}#${project}`, sk: 'LEASE' }),
  workIndex: (shard: number) => `SQW#${tag(shard)}`,
};

function workItem(org: string, project: string, sk: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ...searchKeys.work(org, project, sk),
    type: 'search-work',
    organization_id: org,
    project_id: project,
    token: randomUUID(),
    at: new Date().toISOString(),
    gsi1pk: searchKeys.workIndex(shardOf(`${org}#${project}#${sk}`, SEARCH_WORK_INDEX_SHARDS)),
    gsi1sk: `${org}#${project}#${sk}`,
    ...extra,
  };
}

/** The work item an upload's completion transaction puts (document-client form). */
export function uploadWorkItem(u: {
  organizationId: string;
  projectId: string;
  uploadId: string;
  createdAt: string;
}): Record<string, unknown> {
  return workItem(u.organizationId, u.projectId, `U#${u.uploadId}`, { kind: 'upload', upload_id: u.uploadId, created_at: u.createdAt });
}

/** The work item a trace's delete (or OTel update) transaction puts (document-client form). */
export function traceWorkItem(tenant: Tenant, traceId: string): Record<string, unknown> {
  return workItem(tenant.organizationId, tenant.projectId, `R#${traceId}`, { kind: 'trace', trace_id: traceId });
}

function fromItem(i: Record<string, unknown>): SearchWorkItem | null {
  const token = String(i.token ?? '');
  if (i.kind === 'upload' && typeof i.upload_id === 'string')
    return { kind: 'upload', uploadId: i.upload_id, createdAt: String(i.created_at ?? ''), token };
  if (i.kind === 'trace' && typeof i.trace_id === 'string') return { kind: 'trace', traceId: i.trace_id, token };
  return null;
}

export class DynamoSearchWork implements SearchWork {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async pending(tenant: Tenant): Promise<SearchWorkItem[]> {
    const { organizationId: org, projectId: project } = tenant;
    const shards = await Promise.all(
      Array.from({ length: SEARCH_WORK_SHARDS }, async (_, s) => {
        const out: Array<{ at: string; item: SearchWorkItem }> = [];
        for await (const page of queryPages(this.doc, {
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': searchKeys.workPartition(org, project, s) },
          ConsistentRead: true,
        })) {
          for (const i of page) {
            const item = fromItem(i);
            if (item) out.push({ at: String(i.at ?? ''), item });
          }
        }
        return out;
      }),
    );
    return shards
      .flat()
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .map((x) => x.item);
  }

  async done(tenant: Tenant, items: readonly SearchWorkItem[]): Promise<void> {
    const { organizationId: org, projectId: project } = tenant;
    const queue = [...items];
    const worker = async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const sk = item.kind === 'upload' ? `U#${item.uploadId}` : `R#${item.traceId}`;
        try {
          await this.doc.send(
            new DeleteCommand({
              TableName: this.table,
              Key: searchKeys.work(org, project, sk),
              ConditionExpression: '#token = :token',
              ExpressionAttributeNames: { '#token': 'token' },
              ExpressionAttributeValues: { ':token': item.token },
            }),
          );
        } catch (err) {
          // Recorded again since it was read (or already gone): it stays for the next run.
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
  }

  /** Distinct projects in the sparse index, one small Query per project (each skips past the one before). */
  async projectsWithWork(limit: number): Promise<Tenant[]> {
    const found = new Map<string, Tenant>();
    for (let s = 0; s < SEARCH_WORK_INDEX_SHARDS && found.size < limit; s++) {
      let after: string | undefined;
      while (found.size < limit) {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: 'gsi1',
            KeyConditionExpression: after === undefined ? 'gsi1pk = :p' : 'gsi1pk = :p AND gsi1sk > :after',
            ExpressionAttributeValues: { ':p': searchKeys.workIndex(s), ...(after !== undefined ? { ':after': after } : {}) },
            Limit: 1,
          }),
        );
        const i = out.Items?.[0];
        if (!i) break;
        const tenant = { organizationId: String(i.organization_id), projectId: String(i.project_id) };
        found.set(`${tenant.organizationId}\u0000${tenant.projectId}`, tenant);
        after = `${tenant.organizationId}#${tenant.projectId}#\uffff`;
      }
    }
    return [...found.values()];
  }

  async acquire(tenant: Tenant, owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    return (await acquireLease(this.projectLease(tenant), owner, nowMs, leaseMs, { set: { type: 'search-lease' } })) !== null;
  }

  async renew(tenant: Tenant, owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    return renewLease(this.projectLease(tenant), owner, nowMs, leaseMs);
  }

  async release(tenant: Tenant, owner: string): Promise<void> {
    await releaseLease(this.projectLease(tenant), owner);
  }

  /** One indexer per project: the project's search lease item. */
  private projectLease(tenant: Tenant): LeaseItem {
    return { doc: this.doc, table: this.table, key: searchKeys.lease(tenant.organizationId, tenant.projectId) };
  }
}

type Item = Record<string, unknown>;

/** What search matches in a stored trace item: the same text `searchText` made when it was written. */
export function itemSearchText(item: Item): string {
  const packed = packedDocument(item);
  if (packed !== null) {
    const value = JSON.parse(unpackText(packed)) as Record<string, unknown>;
    const kept = storedInput(item);
    return searchText(String(item.filename), kept !== undefined ? kept : renderInput(value), value);
  }
  if (item.search_z instanceof Uint8Array) return unpackText(item.search_z);
  return String(item.filename ?? '').toLowerCase();
}

/** A stored trace item as the index's document. */
export function itemDocument(tenant: Tenant, item: Item): SearchDocument {
  const prefix = keys.trace(tenant.organizationId, tenant.projectId, '').pk;
  const ok = String(item.ok);
  return {
    id: String(item.pk).slice(prefix.length),
    uploadId: String(item.upload_id),
    sortKey: ok,
    createdAt: createdAtOf(ok),
    source: String(item.source),
    filename: String(item.filename),
    text: itemSearchText(item),
  };
}

/** What a document is made of (itemSearchText, itemDocument): the rest of the item is not read. */
const READ_ATTRIBUTES = ['pk', 'type', 'ok', 'upload_id', 'source', 'filename', 'input', 'doc_z', 'doc_zb', 'search_z', 'otel_version'];
const READ_NAMES = Object.fromEntries(READ_ATTRIBUTES.map((a, i) => [`#r${i}`, a]));
const READ_PROJECTION = Object.keys(READ_NAMES).join(', ');

/** The traces to index, read by key and consistently from the table. */
export class DynamoSearchSource implements SearchSource {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly concurrency = 8,
  ) {}

  async uploadDocuments(tenant: Tenant, uploadId: string): Promise<SearchDocument[]> {
    const { organizationId: org, projectId: project } = tenant;
    const upload = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.upload(org, project, uploadId),
        ProjectionExpression: 'id_chunks',
        ConsistentRead: true,
      }),
    );
    const chunks = Number(upload.Item?.id_chunks ?? 0);
    const ids = await readIdChunks(this.doc, this.table, org, project, uploadId, chunks);
    const items = await this.read(tenant, ids);
    // A trace an identical earlier upload wrote is that upload's entry, not this one's.
    return items.filter((i) => i.upload_id === uploadId).map((i) => itemDocument(tenant, i));
  }

  async documents(tenant: Tenant, ids: readonly string[]): Promise<SearchDocument[]> {
    return (await this.read(tenant, ids)).filter((i) => i.otel_version !== undefined).map((i) => itemDocument(tenant, i));
  }

  /** The trace items of these ids that exist, consistently, 100 keys a call, a few calls at once. */
  private async read(tenant: Tenant, ids: readonly string[]): Promise<Item[]> {
    const batches: Record<string, unknown>[][] = [];
    for (let i = 0; i < ids.length; i += 100)
      batches.push(ids.slice(i, i + 100).map((id) => keys.trace(tenant.organizationId, tenant.projectId, id)));
    const out: Item[] = [];
    const worker = async () => {
      for (let batch = batches.shift(); batch !== undefined; batch = batches.shift()) {
        let pending = batch;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt >= 10) throw new Error('BatchGetItem left keys unprocessed after 10 attempts');
          if (attempt > 0) await sleep(backoffMs(attempt));
          try {
            const res = await this.doc.send(
              new BatchGetCommand({
                RequestItems: {
                  [this.table]: {
                    Keys: pending,
                    ConsistentRead: true,
                    ProjectionExpression: READ_PROJECTION,
                    ExpressionAttributeNames: READ_NAMES,
                  },
                },
              }),
            );
            for (const item of res.Responses?.[this.table] ?? []) if (item.type === 'trace') out.push(item);
            pending = res.UnprocessedKeys?.[this.table]?.Keys ?? [];
          } catch (err) {
            if (!isRetryable(err)) throw err;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    return out;
  }
}
