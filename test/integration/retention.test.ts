/**
 * The retention sweep on the local stack: old traces go through the delete
 * path (counters, sources, hourly counters, evaluations, offloaded payloads),
 * recent ones stay, and a second run finds nothing.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { sweepExpired } from '../../functions/domain/retention.js';
import { retentionDeps } from '../../functions/shared/services.js';
import { getItem, ingestAt as ingestFileAt, projectCounter, projectTraces, startTestStack, type StoredTraceItem, type TestStack } from '../support/stack.js';
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
    expect(Object.fromEntries(Object.entries(counter?.by_source ?? {}).filter(([, n]) => n !== 0))).toEqual({ shared: 1, 'recent-only': 1 });
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
});
