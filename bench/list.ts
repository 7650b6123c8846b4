import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { itemDocument } from '../functions/adapters/dynamo/search-work.js';
import type { SearchDocument } from '../functions/domain/search/search-index.js';
import { searchIndex } from '../functions/shared/search-services.js';
import { dynamoClient } from '../functions/adapters/clients.js';
import { keys } from '../functions/adapters/dynamo/keys.js';
import { DynamoTraceWriter, traceItem } from '../functions/adapters/dynamo/trace-writer.js';
import { BATCH_WRITE_SIZE } from '../functions/domain/limits.js';
import { createApiKey } from '../functions/domain/tenancy.js';
import { buildTrace, storedTrace } from '../functions/domain/trace.js';
import { config } from '../functions/shared/config.js';
import { evaluationDeps, tenantStore } from '../functions/shared/services.js';
import { createEvaluation } from '../functions/domain/evaluations.js';
import type { LocalStack } from '../local/stack.js';
import { record } from './generate.js';
import { median, round } from './stats.js';

const SOURCES = ['s3', 'upload', 'sdk'];
const DAY = 86_400_000;

/** A project holding `n` traces spread over 30 days and three sources, written straight to the table. */
async function seedProject(n: number, name: string) {
  const tenant = await createApiKey(tenantStore(), { organization: `bench-${name}`, project: 'p' });
  const writer = new DynamoTraceWriter(dynamoClient(), config().TABLE_NAME);
  const now = Date.now();
  const bySource: Record<string, number> = {};
  const ids: string[] = [];
  const docs: SearchDocument[] = [];
  let next = 0;
  const make = (i: number) => {
    const source = SOURCES[i % SOURCES.length]!;
    bySource[source] = (bySource[source] ?? 0) + 1;
    const createdAt = new Date(now - Math.floor((((i * 7919) % n) / n) * 30 * DAY)).toISOString();
    const raw = JSON.stringify({ ...JSON.parse(record(i)), source });
    const draft = buildTrace(
      {
        organizationId: tenant.organizationId,
        projectId: tenant.projectId,
        objectKey: `drop/x/y/file-${i % 50}.jsonl`,
        filename: `file-${i % 50}.jsonl`,
        defaultSource: 's3',
        createdAt,
        uploadId: `u${i % 50}`,
      },
      { kind: 'record', position: i + 1, raw, value: JSON.parse(raw) as Record<string, unknown> },
    );
    ids[i] = draft.id;
    const item = traceItem(storedTrace(draft).stored);
    docs[i] = itemDocument(tenant, unmarshall(item));
    return { PutRequest: { Item: item } };
  };
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const from = next;
        next += BATCH_WRITE_SIZE;
        const batch = [];
        for (let i = from; i < Math.min(n, from + BATCH_WRITE_SIZE); i++) batch.push(make(i));
        await writer.writeRequests(batch);
      }
    }),
  );
  // What ingest's completions would have counted.
  await dynamoClient().send(
    new PutItemCommand({
      TableName: config().TABLE_NAME,
      Item: marshall({
        ...keys.counter(tenant.organizationId, tenant.projectId),
        type: 'counter',
        traces: n,
        by_source: bySource,
        sources: new Set(SOURCES),
      }),
    }),
  );
  // The search index as the indexer leaves it once it has caught up (the bench writes no uploads for it to index).
  const index = searchIndex();
  if (index) {
    for (let i = 0; i < n; i += 20_000) await index.append(tenant, docs.slice(i, i + 20_000));
    await index.maintain(tenant);
  }
  // The same number of evaluated traces in every project (spread over it): a status or judge
  // filter then matches as many traces at 1k as at 100k, and only the project's size differs.
  for (let k = 0; k < EVALUATED; k++) {
    await createEvaluation(evaluationDeps(), tenant, {
      traceId: ids[Math.floor((k * n) / EVALUATED)]!,
      judgeId: 'bench-judge',
      passed: true,
    });
  }
  return { ...tenant, rareWord: JSON.parse(record(Math.floor(n / 2))).metadata.request_id as string };
}

/** Traces evaluated in each project (by one judge, passed). */
const EVALUATED = 200;

async function timeGet(url: string, key: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < runs + 2; r++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { 'x-api-key': key, accept: 'application/json' } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    if (r >= 2) times.push(performance.now() - t); // the first two warm the route
  }
  return median(times);
}

export interface ListFigures {
  [k: string]: number;
}

export async function listBench(stack: LocalStack, runs: number, log: (s: string) => void): Promise<ListFigures> {
  const sizes = [1_000, 100_000] as const;
  const tenants: Record<number, { apiKey: string; organizationId: string; projectId: string; rareWord: string }> = {};
  for (const n of sizes) {
    const t = performance.now();
    tenants[n] = await seedProject(n, String(n));
    log(`seeded ${n} traces in ${round((performance.now() - t) / 1000, 1)} s`);
  }
  const figures: ListFigures = {};
  for (const n of sizes) {
    const { apiKey, organizationId, projectId } = tenants[n]!;
    const base = `${stack.info.apiUrl}/api/v1/organizations/${organizationId}/projects/${projectId}/traces`;
    // A cursor 90% of the way through the project (followed with large pages).
    let cursor: string | null = null;
    let seen = 0;
    const step = n >= 10_000 ? 500 : 100;
    while (seen < n * 0.9) {
      const res = await fetch(`${base}?page_size=${step}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
        headers: { 'x-api-key': apiKey },
      });
      const body = (await res.json()) as { count: number; next_cursor: string | null };
      seen += body.count;
      cursor = body.next_cursor;
    }
    const tag = n === 1_000 ? '1k' : '100k';
    figures[`list_first_page_${tag}_ms`] = round(await timeGet(`${base}?page_size=100`, apiKey, runs));
    figures[`list_filtered_page_${tag}_ms`] = round(await timeGet(`${base}?page_size=100&source=s3&time_range=7d`, apiKey, runs));
    figures[`list_page_50_${tag}_ms`] = round(await timeGet(`${base}?page=50&page_size=100`, apiKey, Math.max(3, Math.floor(runs / 3))));
    figures[`list_cursor_deep_${tag}_ms`] = round(
      await timeGet(`${base}?page_size=100&cursor=${encodeURIComponent(cursor!)}`, apiKey, runs),
    );
    figures[`status_${tag}_ms`] = round(await timeGet(`${base}?page_size=100&status=pass`, apiKey, runs));
    figures[`judge_${tag}_ms`] = round(await timeGet(`${base}?page_size=100&judge_id=bench-judge`, apiKey, runs));
    // A common word (a sixth of the records hold it), a word one record holds, and none.
    figures[`search_${tag}_ms`] = round(await timeGet(`${base}?page_size=100&search=capital`, apiKey, runs));
    figures[`search_rare_${tag}_ms`] = round(
      await timeGet(`${base}?page_size=100&search=${tenants[n]!.rareWord}`, apiKey, Math.max(3, Math.floor(runs / 4))),
    );
    figures[`search_absent_${tag}_ms`] = round(
      await timeGet(`${base}?page_size=100&search=zzqx-absent`, apiKey, Math.max(3, Math.floor(runs / 4))),
    );
    log(
      `${tag}: first ${figures[`list_first_page_${tag}_ms`]} ms, filtered ${figures[`list_filtered_page_${tag}_ms`]} ms, page 50 ${figures[`list_page_50_${tag}_ms`]} ms, deep cursor ${figures[`list_cursor_deep_${tag}_ms`]} ms, status ${figures[`status_${tag}_ms`]} ms, judge ${figures[`judge_${tag}_ms`]} ms, search ${figures[`search_${tag}_ms`]} / rare ${figures[`search_rare_${tag}_ms`]} / absent ${figures[`search_absent_${tag}_ms`]} ms`,
    );
  }
  figures.list_first_page_100k_vs_1k = round(figures.list_first_page_100k_ms! / figures.list_first_page_1k_ms!, 3);
  figures.list_filtered_page_100k_vs_1k = round(figures.list_filtered_page_100k_ms! / figures.list_filtered_page_1k_ms!, 3);
  figures.list_page_50_100k_vs_1k = round(figures.list_page_50_100k_ms! / figures.list_page_50_1k_ms!, 3);
  figures.list_cursor_deep_100k_vs_1k = round(figures.list_cursor_deep_100k_ms! / figures.list_cursor_deep_1k_ms!, 3);
  for (const f of ['status', 'judge', 'search', 'search_rare', 'search_absent'])
    figures[`${f}_100k_vs_1k`] = round(figures[`${f}_100k_ms`]! / figures[`${f}_1k_ms`]!, 3);
  return figures;
}
