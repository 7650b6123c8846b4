/**
 * Search through the whole local stack, on the real engine and DynamoDB Local: an upload's traces
 * are found at once (the unindexed tail) and then from the index, never twice; deletes (one, and by
 * the retention sweep) are never found again, also when they race the indexer; a retried upload and
 * an indexer SIGKILLed mid-build leave every entry there exactly once; OTel traces are indexed and
 * refreshed as their spans arrive; tenants stay apart.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoSearchWork, searchKeys } from '../../functions/adapters/dynamo/search-work.js';
import { migrateTable, schemaVersion, SCHEMA_VERSION } from '../../functions/adapters/dynamo/migration.js';
import { newDocumentClient } from '../../functions/adapters/clients.js';
import { indexProject } from '../../functions/domain/search/indexer.js';
import { sweepExpired } from '../../functions/domain/retention.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { indexerDeps, searchIndex } from '../../functions/shared/search-services.js';
import { retentionDeps, tenantStore } from '../../functions/shared/services.js';
import { childOf, exporterFor, mustExport, recordSpans } from '../support/otlp.js';
import { ingestAt, useTestStack } from '../support/stack.js';
import { IndexedSearch } from '../../functions/adapters/dynamo/search-list.js';
import { DynamoTraceStore } from '../../functions/adapters/dynamo/trace-store.js';
import { uploadWorkItem } from '../../functions/adapters/dynamo/search-work.js';
import { S3PayloadReader } from '../../functions/adapters/s3/payload-reader.js';
import { s3Client } from '../../functions/adapters/s3/s3-sdk.js';
import type { SearchIndex } from '../../functions/domain/ports.js';
import { setTimeout as sleep } from 'node:timers/promises';

// The indexer runs when the tests drain it: each state (tail, index) is seen for sure.
const stack = useTestStack({ notifications: false, searchIndexerIntervalMs: 0 });
let P: string;
const DAY = 86_400_000;

interface Answer {
  traces: Array<{ id: string; input: string | null; upload_id: string }>;
  total_count: number;
  total_count_exact: boolean;
  next_cursor: string | null;
}

async function search(text: string, extra = '&page_size=500', key = stack.info.apiKey, base = P): Promise<Answer> {
  const res = await fetch(`${stack.info.apiUrl}${base}/traces?search=${encodeURIComponent(text)}${extra}`, {
    headers: { 'x-api-key': key },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Answer;
}

const tenant = () => ({ organizationId: stack.info.organizationId, projectId: stack.info.projectId });
const documents = async () => (await searchIndex()!.status(tenant())).documents;
const work = () => new DynamoSearchWork(newDocumentClient(stack.dynamo), stack.table).pending(tenant());

function lines(n: number, word: string, from = 0): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ input: `${word} record${from + i}`, output: `answer ${from + i}` })).join(
    '\n',
  );
}

beforeAll(async () => {
  P = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
}, 60_000);

describe('an upload, from the tail to the index', () => {
  it('is found at once, with an exact total, then from the index; its work is done once', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/first.jsonl`, lines(40, 'zebrafish'), Date.now() - 60_000);
    expect(await work()).toHaveLength(1);
    expect(await documents()).toBe(0);
    const tail = await search('ZEBRA');
    expect(tail.total_count).toBe(40);
    expect(tail.total_count_exact).toBe(true);
    expect(tail.traces.map((t) => t.input)).toContain('zebrafish record7');
    expect((await search('record7')).total_count).toBe(1);
    await stack.searchIndexed();
    expect(await work()).toEqual([]);
    expect(await documents()).toBe(40);
    const indexed = await search('ZEBRA');
    expect(indexed.traces.map((t) => t.id)).toEqual(tail.traces.map((t) => t.id));
    expect(indexed.total_count).toBe(40);
    // The same object again is already done: no new work, no second entry.
    await ingestAt(stack, `${stack.info.dropPrefix}s/first.jsonl`, lines(40, 'zebrafish'), Date.now() - 60_000).catch(() => {});
    await stack.searchIndexed();
    expect(await documents()).toBe(40);
  }, 60_000);
});

describe('deletes', () => {
  const del = async (id: string) => {
    const res = await fetch(`${stack.info.apiUrl}${P}/traces/${id}`, { method: 'DELETE', headers: { 'x-api-key': stack.info.apiKey } });
    expect(res.status).toBeLessThan(300);
  };

  it('a deleted trace is gone from search at once, and after the indexer, and its entry with it', async () => {
    const before = await search('zebrafish');
    const victim = before.traces.find((t) => t.input === 'zebrafish record3')!;
    const before3 = (await search('record3')).total_count;
    await del(victim.id);
    const now = await search('zebrafish');
    expect(now.total_count).toBe(39);
    expect(now.traces.map((t) => t.id)).not.toContain(victim.id);
    expect((await search('record3')).total_count).toBe(before3 - 1);
    await stack.searchIndexed();
    expect((await search('zebrafish')).total_count).toBe(39);
    expect(await documents()).toBe(39);
  });

  it('a trace deleted before its upload is indexed is never indexed', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/second.jsonl`, lines(10, 'narwhal'), Date.now() - 50_000);
    const tail = await search('narwhal');
    expect(tail.total_count).toBe(10);
    await del(tail.traces[0]!.id);
    expect((await search('narwhal')).total_count).toBe(9);
    await stack.searchIndexed();
    expect((await search('narwhal')).total_count).toBe(9);
    expect(await documents()).toBe(39 + 9);
  });

  it('a delete that races the indexer (after it read the traces, before its commit) is not lost', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/third.jsonl`, lines(5, 'okapi'), Date.now() - 40_000);
    const victim = (await search('okapi')).traces[0]!;
    const deps = indexerDeps();
    // The indexer reads the upload's traces, then the delete lands, then the indexer commits them.
    const racing = {
      ...deps,
      source: {
        ...deps.source,
        uploadDocuments: async (t: Parameters<typeof deps.source.uploadDocuments>[0], u: string) => {
          const docs = await deps.source.uploadDocuments(t, u);
          await del(victim.id);
          return docs;
        },
        documents: (t: Parameters<typeof deps.source.documents>[0], ids: readonly string[]) => deps.source.documents(t, ids),
      },
    };
    await indexProject(racing, tenant());
    expect((await search('okapi')).total_count).toBe(4);
    expect((await search('okapi')).traces.map((t) => t.id)).not.toContain(victim.id);
    await stack.searchIndexed();
    expect((await search('okapi')).total_count).toBe(4);
    expect(await documents()).toBe(39 + 9 + 4);
  });

  it('the retention sweep deletes old traces for good', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/ancient.jsonl`, lines(6, 'trilobite'), Date.now() - 40 * DAY);
    await stack.searchIndexed();
    expect((await search('trilobite')).total_count).toBe(6);
    const result = await sweepExpired(retentionDeps(), { retentionDays: 30, now: new Date() });
    expect(result.deleted).toBe(6);
    expect((await search('trilobite')).total_count).toBe(0);
    await stack.searchIndexed();
    expect((await search('trilobite')).total_count).toBe(0);
    expect(await documents()).toBe(39 + 9 + 4);
  });
});

describe('crashes and concurrency', () => {
  it('an indexer SIGKILLed mid-build leaves the work; the next run indexes every trace exactly once', async () => {
    const n = 2000;
    await ingestAt(stack, `${stack.info.dropPrefix}s/big.jsonl`, lines(n, 'axolotl'), Date.now() - 30_000);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(import.meta.dirname, '../support/search-indexer-child.ts'),
          stack.info.organizationId,
          stack.info.projectId,
          '1500',
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: process.env,
        },
      );
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        // Killed as it commits: mid-commit, or just after it and before the work is dropped.
        if (text.includes('committing')) setTimeout(() => child.kill('SIGKILL'), 20);
      });
      child.on('exit', () => resolve(text));
      child.on('error', reject);
    });
    expect(out).not.toContain('done');
    // Until the dead indexer's lease runs out another waits; then it does the work.
    expect((await search('axolotl', '&page_size=1')).total_count).toBe(n);
    await sleep(1_600);
    await stack.searchIndexed();
    expect(await work()).toEqual([]);
    expect(await documents()).toBe(39 + 9 + 4 + n);
    const page = await search('axolotl', '&page_size=1');
    expect(page.total_count).toBe(n);
    expect((await search('record1234 axolotl')).total_count).toBe(1);
  }, 120_000);

  it('two indexers at once: one holds the project, the other leaves it to it', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/pair.jsonl`, lines(20, 'quokka'), Date.now() - 20_000);
    const [a, b] = await Promise.all([indexProject(indexerDeps(), tenant()), indexProject(indexerDeps(), tenant())]);
    expect([a.acquired, b.acquired].sort()).toEqual([false, true]);
    await stack.searchIndexed();
    expect((await search('quokka')).total_count).toBe(20);
    expect(await documents()).toBe(39 + 9 + 4 + 2000 + 20);
  });
});

describe('OTel traces and tenants', () => {
  it('an OTel trace is found as its spans arrive, from the tail and the index, and refreshed when more come', async () => {
    const exporter = exporterFor('json', stack.info.apiUrl, stack.info.apiKey);
    const first = await recordSpans({ 'service.name': 'otel-search' }, (tracer) => {
      tracer.startSpan('agent run', { attributes: { 'input.value': 'pangolin question' } }).end();
    });
    await mustExport(exporter, first);
    const found = await search('pangolin');
    expect(found.total_count).toBe(1);
    await stack.searchIndexed();
    expect((await search('pangolin')).traces.map((t) => t.id)).toEqual(found.traces.map((t) => t.id));
    // A later span of the same OTel trace (a child of the first), in an export of its own.
    const more = await recordSpans({ 'service.name': 'otel-search' }, (tracer) => {
      childOf(tracer, trace.wrapSpanContext(first[0]!.spanContext()), 'tool call', { 'input.value': 'wombat lookup' }).end();
    });
    await mustExport(exporter, more);
    expect((await search('wombat')).traces.map((t) => t.id)).toEqual(found.traces.map((t) => t.id));
    await stack.searchIndexed();
    expect((await search('wombat pangolin')).total_count).toBe(1);
    expect((await search('pangolin')).total_count).toBe(1);
  });

  it('traces stored before the search index (schema 2) are queued by the migration and found from the index', async () => {
    const old = await createApiKey(tenantStore(), { organization: 'search-before', project: 'p' });
    const oldTenant = { organizationId: old.organizationId, projectId: old.projectId };
    const base = `/api/v1/organizations/${old.organizationId}/projects/${old.projectId}`;
    await ingestAt(stack, `drop/${old.organizationId}/${old.projectId}/before.jsonl`, lines(12, 'axolotl'), Date.now() - 60_000);
    const spans = await recordSpans({ 'service.name': 'otel-before' }, (tracer) => {
      tracer.startSpan('agent run', { attributes: { 'input.value': 'axolotl otel question' } }).end();
    });
    await mustExport(exporterFor('json', stack.info.apiUrl, old.apiKey), spans);
    // As a table written before the index: no work recorded, none indexed, schema 2.
    const doc = newDocumentClient(stack.dynamo);
    const oldWork = new DynamoSearchWork(doc, stack.table);
    for (const w of await oldWork.pending(oldTenant)) {
      const key = w.kind === 'upload' ? `U#${w.uploadId}` : `R#${w.traceId}`;
      await doc.send(new DeleteCommand({ TableName: stack.table, Key: searchKeys.work(old.organizationId, old.projectId, key) }));
    }
    await doc.send(new PutCommand({ TableName: stack.table, Item: { pk: 'META', sk: 'SCHEMA', type: 'meta', version: 2 } }));
    await stack.searchIndexed();
    expect((await searchIndex()!.status(oldTenant)).documents).toBe(0);

    const report = await migrateTable(stack.dynamo, doc, stack.table);
    expect(report.searchWork).toBeGreaterThanOrEqual(2);
    expect(await schemaVersion(doc, stack.table)).toBe(SCHEMA_VERSION);
    expect((await oldWork.pending(oldTenant)).map((w) => w.kind).sort()).toEqual(['trace', 'upload']);
    const before = await documents();
    await stack.searchIndexed();
    expect((await searchIndex()!.status(oldTenant)).documents).toBe(13);
    // Uploads already in the index were queued again and skipped: nothing doubled.
    expect(await documents()).toBe(before);
    expect((await search('axolotl', '&page_size=50', old.apiKey, base)).total_count).toBe(13);
    expect(await oldWork.pending(oldTenant)).toEqual([]);
  }, 60_000);

  it("another project's search sees none of these", async () => {
    const other = await createApiKey(tenantStore(), { organization: 'search-other', project: 'p' });
    const base = `/api/v1/organizations/${other.organizationId}/projects/${other.projectId}`;
    expect((await search('zebrafish', '', other.apiKey, base)).total_count).toBe(0);
    const res = await fetch(`${stack.info.apiUrl}${P}/traces?search=zebrafish`, { headers: { 'x-api-key': other.apiKey } });
    expect(res.status).toBe(404);
  });
});

describe('an upload the indexer commits while a search reads', () => {
  it('is answered once, with an exact total, by the list and by a range (export, delete)', async () => {
    await ingestAt(stack, `${stack.info.dropPrefix}s/racing-numbat.jsonl`, lines(30, 'numbat'), Date.now() - 60_000);
    const [pending] = await work();
    expect(pending?.kind).toBe('upload');
    await stack.searchIndexed();
    expect(await work()).toEqual([]);
    // Its work item back, as if the indexer had committed the upload but not yet removed its work, and an
    // index that says "not yet" the first time it is asked about the upload: the tail takes its traces,
    // then the index answers them too.
    const upload = pending as Extract<typeof pending, { kind: 'upload' }>;
    const doc = newDocumentClient(stack.dynamo);
    await doc.send(
      new PutCommand({
        TableName: stack.table,
        Item: uploadWorkItem({ ...tenant(), uploadId: upload.uploadId, createdAt: upload.createdAt }),
      }),
    );
    const real = searchIndex()!;
    const asked = new Set<string>();
    const racing = new Proxy(real, {
      get(target, name, receiver) {
        if (name !== 'hasUpload') return Reflect.get(target, name, receiver);
        return async (t: Parameters<SearchIndex['hasUpload']>[0], uploadId: string) => {
          if (!asked.has(uploadId)) {
            asked.add(uploadId);
            return false;
          }
          return target.hasUpload(t, uploadId);
        };
      },
    }) as SearchIndex;
    const store = () =>
      new DynamoTraceStore(doc, stack.table, new S3PayloadReader(s3Client(), stack.info.bucket), {
        search: new IndexedSearch(doc, stack.table, racing, new DynamoSearchWork(doc, stack.table)),
      });
    const page = await store().list(tenant(), { page: 1, pageSize: 100, sortBy: 'created_at', sortOrder: 'desc', search: 'numbat' });
    expect(page.traces).toHaveLength(30);
    expect(new Set(page.traces.map((t) => t.id)).size).toBe(30);
    expect(page.totalCount).toBe(30);
    expect(page.totalExact).toBe(true);
    // With a status filter (the walk over the index's hits merged with the tail's).
    asked.clear();
    const walked = await store().list(tenant(), {
      page: 1,
      pageSize: 100,
      sortBy: 'created_at',
      sortOrder: 'desc',
      search: 'numbat',
      status: 'unevaluated',
    });
    expect(new Set(walked.traces.map((t) => t.id)).size).toBe(30);
    expect(walked.totalCount).toBe(30);
    asked.clear();
    const range = await store().range(tenant(), {
      filters: { search: 'numbat' },
      after: null,
      until: new Date().toISOString(),
      limit: 1000,
      deadline: Date.now() + 20_000,
      documents: false,
    });
    expect(range.items.map((i) => i.id).sort()).toEqual(page.traces.map((t) => t.id).sort());
    expect(range.done).toBe(true);
    await doc.send(
      new DeleteCommand({
        TableName: stack.table,
        Key: {
          pk: uploadWorkItem({ ...tenant(), uploadId: upload.uploadId, createdAt: upload.createdAt }).pk,
          sk: uploadWorkItem({ ...tenant(), uploadId: upload.uploadId, createdAt: upload.createdAt }).sk,
        },
      }),
    );
  }, 60_000);
});
