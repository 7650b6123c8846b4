/**
 * The retention sweep on the local stack: old traces go through the delete
 * path (counters, sources, hourly counters, evaluations, offloaded payloads),
 * recent ones stay, and a second run finds nothing. Trace-log roots past their
 * horizon go through the span delete's transaction, so get_trace_logs' totals
 * (the root index's counters) equal what is left.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../functions/adapters/clients.js';
import { logRootIndex } from '../../functions/adapters/dynamo/keys.js';
import { DynamoSpanStore, spanKeys } from '../../functions/adapters/dynamo/span-store.js';
import { DynamoTraceLogRoots } from '../../functions/adapters/dynamo/trace-log-roots.js';
import { ROOT_SPAN_BACKSTOP_DAYS } from '../../functions/domain/expiry.js';
import { recordTraceLog } from '../../functions/domain/parea/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { sweepExpired } from '../../functions/domain/retention.js';
import { retentionDeps } from '../../functions/shared/services.js';
import {
  getItem,
  ingestAt as ingestFileAt,
  projectCounter,
  projectTraces,
  startTestStack,
  type StoredTraceItem,
  type TestStack,
} from '../support/stack.js';
import { incompressibleText } from '../support/prng.js';
import { callApi } from '../support/api.js';

const DAY = 86_400_000;
let stack: TestStack;
let base: string;
const now = Date.now();
const oldAt = now - 40 * DAY;
const recentAt = now - 60_000;
let before: StoredTraceItem[];
let evaluationId: string;

async function ingestAt(filename: string, body: string, at: number) {
  await ingestFileAt(stack, `${stack.info.dropPrefix}retention/${filename}`, body, at);
}

const api = (method: string, path: string, body?: unknown) => callApi(stack, method, `${base}${path}`, body);

const nameOf = (t: StoredTraceItem) => (t.doc ? (JSON.parse(t.doc) as { name: string }).name : 'old-big');
const byName = (items: StoredTraceItem[], name: string) => items.find((t) => nameOf(t) === name)!;

async function payloadExists(key: string): Promise<boolean> {
  try {
    await stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

beforeAll(async () => {
  stack = await startTestStack({ notifications: false });
  base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
  const lines = (records: object[]) => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
  await ingestAt(
    'old.jsonl',
    lines([
      { name: 'old-plain', input: 'old', source: 'old-only' },
      { name: 'old-big', input: 'old big', source: 'shared', blob: incompressibleText(600_000) },
      { name: 'old-evaluated', input: 'old evaluated', source: 'shared' },
    ]),
    oldAt,
  );
  await ingestAt(
    'recent.jsonl',
    lines([
      { name: 'recent-one', input: 'recent', source: 'shared' },
      { name: 'recent-two', input: 'recent two', source: 'recent-only' },
    ]),
    recentAt,
  );
  before = await projectTraces(stack);
  const res = await api('POST', '/trace-evaluations', { trace_id: byName(before, 'old-evaluated').id, judge_id: 'judge-1', passed: true });
  expect(res.status, res.text).toBe(201);
  evaluationId = (res.body as { id: string }).id;
}, 90_000);

afterAll(async () => {
  await stack?.cleanup();
});

describe('retention sweep', () => {
  it('deletes the traces older than retentionDays through the delete path, and keeps the rest', async () => {
    expect(before).toHaveLength(5);
    const old = ['old-plain', 'old-big', 'old-evaluated'].map((n) => byName(before, n));
    const recent = ['recent-one', 'recent-two'].map((n) => byName(before, n));
    const bigPayload = byName(before, 'old-big').payload_key!;
    expect(bigPayload).toMatch(/^payloads\//);
    expect(await payloadExists(bigPayload)).toBe(true);
    expect((await api('GET', `/trace-evaluations/${evaluationId}`)).status).toBe(200);
    const oldHour = keys.hourCounter(stack.info.organizationId, stack.info.projectId, old[0]!.created_at);
    const recentHour = keys.hourCounter(stack.info.organizationId, stack.info.projectId, recent[0]!.created_at);
    expect(await getItem(stack, oldHour)).toMatchObject({ traces: 3 });

    const result = await sweepExpired(retentionDeps(), { retentionDays: 30, now: new Date(now) });
    expect(result).toMatchObject({ deleted: 3, complete: true });
    expect(result.projects).toBeGreaterThanOrEqual(1);

    for (const t of old) expect((await api('GET', `/traces/${t.id}`)).status, nameOf(t)).toBe(404);
    for (const t of recent) expect((await api('GET', `/traces/${t.id}`)).status, nameOf(t)).toBe(200);
    expect(await payloadExists(bigPayload)).toBe(false);
    expect((await api('GET', `/trace-evaluations/${evaluationId}`)).status).toBe(404);

    // Counters equal what remains: the project's, per source (emptied sources pruned), and per hour.
    const remaining = await projectTraces(stack);
    expect(remaining.map(nameOf).sort()).toEqual(['recent-one', 'recent-two']);
    const counter = await projectCounter(stack);
    expect(counter?.traces).toBe(2);
    expect(Object.fromEntries(Object.entries(counter?.by_source ?? {}).filter(([, n]) => n !== 0))).toEqual({
      shared: 1,
      'recent-only': 1,
    });
    expect([...(counter?.sources ?? [])].sort()).toEqual(['recent-only', 'shared']);
    const sources = (await api('GET', '/traces/sources')).body as { sources: string[] };
    expect(sources.sources).toEqual(['recent-only', 'shared']);
    const oldCounter = (await getItem(stack, oldHour)) as { traces: number; by_source: Record<string, number> };
    expect(oldCounter.traces).toBe(0);
    expect(Object.values(oldCounter.by_source).every((n) => n === 0)).toBe(true);
    expect(await getItem(stack, recentHour)).toMatchObject({ traces: 2, by_source: { shared: 1, 'recent-only': 1 } });
    const list = (await api('GET', '/traces')).body as { total_count: number };
    expect(list.total_count).toBe(2);
    const lastWeek = (await api('GET', '/traces?time_range=7d')).body as { total_count: number };
    expect(lastWeek.total_count).toBe(2);

    // A second run deletes nothing.
    expect(await sweepExpired(retentionDeps(), { retentionDays: 30, now: new Date(now) })).toMatchObject({ deleted: 0, complete: true });
    expect(await projectTraces(stack)).toHaveLength(2);
  }, 60_000);

  it('retires trace-log roots past their horizon with their root-index counters: get_trace_logs lists and counts what is left', async () => {
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    // Spans stored 35 days ago (horizon 5 days ago) and a minute ago, under a 30-day retention.
    const storedAt = (ms: number) => ({
      store: new DynamoSpanStore(documentClient(), stack.table, { retentionDays: 30, clock: () => ms }),
    });
    const old = storedAt(now - 35 * DAY);
    const recent = storedAt(now - 60_000);
    const span = (id: string, root: string, at: number, status = 'success') => ({
      trace_id: id,
      root_trace_id: root,
      parent_trace_id: root,
      trace_name: id,
      start_timestamp: new Date(at).toISOString(),
      end_timestamp: new Date(at + 1000).toISOString(),
      status,
    });
    await recordTraceLog(old, tenant, span('old-a', 'old-a', now - 35 * DAY));
    await recordTraceLog(old, tenant, span('old-a-child', 'old-a', now - 35 * DAY + 10));
    await recordTraceLog(old, tenant, span('old-b', 'old-b', now - 35 * DAY, 'error'));
    await recordTraceLog(recent, tenant, span('new-c', 'new-c', now - 60_000));
    await recordTraceLog(recent, tenant, span('new-c-child', 'new-c', now - 59_000));
    // old-b's span gone already, as its TTL backstop would remove it: its member and counts are left behind.
    await documentClient().send(
      new DeleteCommand({ TableName: stack.table, Key: spanKeys.span(tenant.organizationId, tenant.projectId, 'old-b') }),
    );

    const s = 1000;
    const root = (await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'old-a')))!;
    expect(root.retire_at).toBe(Math.floor((now - 5 * DAY) / s));
    expect(root.expires_at).toBe(Math.floor((now - 5 * DAY) / s) + ROOT_SPAN_BACKSTOP_DAYS * 86_400);
    expect((await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'old-a-child')))!.expires_at).toBe(
      Math.floor((now - 5 * DAY) / s),
    );
    const member = (await getItem(stack, logRootIndex.member(tenant.organizationId, tenant.projectId, 'old-a')))!;
    expect(member.expires_at).toBeUndefined();

    const list = async (body: object = {}) => {
      const res = await callApi(stack, 'POST', '/api/parea/v1/get_trace_logs', { page_size: 100, ...body });
      expect(res.status, res.text).toBe(200);
      return res.body as { total: number; total_exact: boolean; results: { trace_id: string }[] };
    };
    const roots = new DynamoTraceLogRoots(documentClient(), stack.table);
    // Before the sweep: the counters count all three roots (old-b's tree has no span to show).
    expect((await list()).results.map((r) => r.trace_id).sort()).toEqual(['new-c', 'old-a']);
    expect(await roots.count(tenant, {})).toBe(3);
    // Past its horizon but before its backstop, the root still reads; its child (TTL at the horizon) does not.
    expect((await callApi(stack, 'GET', '/api/parea/v1/trace_log/old-a')).status).toBe(200);
    expect((await callApi(stack, 'GET', '/api/parea/v1/trace_log/old-a-child')).status).toBe(404);

    const result = await sweepExpired(retentionDeps(), { retentionDays: 30, now: new Date(now) });
    expect(result).toMatchObject({ roots: 2, complete: true });

    const after = await list();
    expect(after.results.map((r) => r.trace_id)).toEqual(['new-c']);
    expect(after).toMatchObject({ total: 1, total_exact: true });
    expect((await list({ status: 'error' })).total).toBe(0);
    expect((await list({ time_range: '1y' })).total).toBe(1);
    // The counters themselves, not only the page's floor: all time, by status, by hour.
    expect(await roots.count(tenant, {})).toBe(1);
    expect(await roots.count(tenant, { status: 'error' })).toBe(0);
    expect(await roots.count(tenant, { status: 'success' })).toBe(1);
    expect(await roots.count(tenant, { since: '2000-01-01T00:00:00.000000Z' })).toBe(1);
    for (const id of ['old-a', 'old-b'])
      expect(await getItem(stack, logRootIndex.member(tenant.organizationId, tenant.projectId, id)), id).toBeUndefined();
    expect(await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'old-a'))).toBeUndefined();
    expect((await callApi(stack, 'GET', '/api/parea/v1/trace_log/old-a')).status).toBe(404);
    expect((await callApi(stack, 'GET', '/api/parea/v1/trace_log/new-c')).status).toBe(200);

    // A second run retires nothing; a root posted again after its retirement is new, counted once.
    expect(await sweepExpired(retentionDeps(), { retentionDays: 30, now: new Date(now) })).toMatchObject({ roots: 0, complete: true });
    await recordTraceLog(recent, tenant, span('old-a', 'old-a', now - 30_000));
    expect((await list()).total).toBe(2);
    expect(await roots.count(tenant, {})).toBe(2);

    // A root whose span went without its root-index writes (the TTL backstop), posted again before a sweep:
    // the member it left is retired with its count, the new one counted, so the total stays exact.
    await recordTraceLog(recent, tenant, span('lost', 'lost', now - 20_000));
    await documentClient().send(
      new DeleteCommand({ TableName: stack.table, Key: spanKeys.span(tenant.organizationId, tenant.projectId, 'lost') }),
    );
    expect(await roots.count(tenant, {})).toBe(3);
    expect((await callApi(stack, 'POST', '/api/parea/v1/trace_log', span('lost', 'lost', now - 10_000, 'error'))).status).toBe(200);
    expect(await roots.count(tenant, {})).toBe(3);
    expect(await roots.count(tenant, { status: 'error' })).toBe(1);
    expect(await roots.count(tenant, { status: 'success' })).toBe(2);
    expect((await list()).results.map((r) => r.trace_id).sort()).toEqual(['lost', 'new-c', 'old-a']);
  }, 60_000);
});
