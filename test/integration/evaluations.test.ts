import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { evaluationKeys } from '../../functions/adapters/dynamo/evaluation-store.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { tenantStore } from '../../functions/shared/services.js';
import { dropAndSettle, getItem, projectCounter, projectTraces, useTestStack, type StoredTraceItem } from '../support/stack.js';
import { incompressibleText } from '../support/prng.js';
import { setTimeout as sleep } from 'node:timers/promises';

const stack = useTestStack();
let other: { apiKey: string; organizationId: string; projectId: string };
/** Traces by the `name` field of their record. */
const byName = new Map<string, StoredTraceItem>();

interface EvaluationJson {
  id: string;
  trace_id: string;
  judge_id: string;
  judge_name: string;
  judge_version: number;
  status: string;
  passed: boolean | null;
  score: number | null;
  reasoning: string | null;
  created_at: string;
  organization_id: string;
  project_id: string;
}
interface TraceEvalAttributes {
  evaluations_count?: number;
  last_evaluations?: Array<{
    evaluation_id: string;
    judge_id: string;
    judge_name: string;
    judge_version: number;
    created_at: string;
    passed: boolean | null;
  }>;
  eval_status?: string;
  judge_ids?: Set<string>;
}

beforeAll(async () => {
  const lines = [
    { name: 't1', input: 'one', source: 'solo' },
    { name: 't2', input: 'two', source: 'pair' },
    { name: 't3', input: 'three', source: 'pair' },
    { name: 't4', input: 'four' },
    { name: 'big', input: 'big', source: 'big', blob: incompressibleText(600 * 1024) },
  ];
  await dropAndSettle(stack, `${stack.info.dropPrefix}evals/traces.jsonl`, lines.map((l) => JSON.stringify(l)).join('\n'));
  for (const t of await projectTraces(stack)) {
    const doc = t.doc ? (JSON.parse(t.doc) as { name: string }) : { name: 'big' };
    byName.set(doc.name, t);
  }
  other = await createApiKey(tenantStore(), { organization: 'other', project: 'p' });
}, 60_000);

const id = (name: string) => byName.get(name)!.id;
const base = (org = stack.info.organizationId, project = stack.info.projectId) =>
  `${stack.info.apiUrl}/api/v1/organizations/${org}/projects/${project}`;

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, apiKey = stack.info.apiKey, root = base()) {
  const res = await fetch(`${root}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, accept: 'application/json', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as T };
}

const createEval = (body: Record<string, unknown>, apiKey?: string, root?: string) =>
  call<EvaluationJson>('POST', '/trace-evaluations', body, apiKey, root);
const traceAttrs = async (traceId: string) =>
  (await getItem(stack, keys.trace(stack.info.organizationId, stack.info.projectId, traceId))) as
    | (TraceEvalAttributes & Record<string, unknown>)
    | undefined;
const list = (query: string, apiKey?: string, root?: string) =>
  call<{ trace_evaluations: EvaluationJson[]; count: number; total: number }>('GET', `/trace-evaluations${query}`, undefined, apiKey, root);
const tick = () => sleep(3);

/** Every evaluation created, newest first (created_at, then id). */
const created: EvaluationJson[] = [];
const newestFirst = (a: EvaluationJson, b: EvaluationJson) =>
  a.created_at !== b.created_at ? (a.created_at < b.created_at ? 1 : -1) : a.id < b.id ? 1 : -1;
function remember(e: EvaluationJson) {
  created.push(e);
  created.sort(newestFirst);
}

describe('trace evaluations', () => {
  it('ingested the fixture: five traces, one offloaded', () => {
    expect([...byName.keys()].sort()).toEqual(['big', 't1', 't2', 't3', 't4']);
    expect(byName.get('big')!.payload_key).toMatch(/^payloads\//);
  });

  it('creates pending and finished evaluations and keeps the trace summary right', async () => {
    const t1 = id('t1');
    const first = await createEval({ trace_id: t1, judge_id: 'judge-a', passed: true, score: 0.9, reasoning: 'fine' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      id: expect.any(String),
      trace_id: t1,
      judge_id: 'judge-a',
      judge_name: 'judge-a',
      judge_version: 1,
      status: 'success',
      passed: true,
      score: 0.9,
      reasoning: 'fine',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      organization_id: stack.info.organizationId,
      project_id: stack.info.projectId,
    });
    remember(first.body);
    expect(await traceAttrs(t1)).toMatchObject({ evaluations_count: 1, eval_status: 'pass', judge_ids: new Set(['judge-a']) });

    await tick();
    const pending = await createEval({ trace_id: t1, judge_id: 'judge-b', judge_name: 'Judge B', judge_version: 3 });
    expect(pending.status).toBe(201);
    expect(pending.body).toMatchObject({
      status: 'pending',
      passed: null,
      score: null,
      reasoning: null,
      judge_name: 'Judge B',
      judge_version: 3,
    });
    remember(pending.body);
    expect((await traceAttrs(t1))?.eval_status).toBe('pending');

    await tick();
    remember((await createEval({ trace_id: t1, judge_id: 'judge-a', passed: false })).body);
    expect((await traceAttrs(t1))?.eval_status).toBe('pending'); // the pending one is still among the latest five

    for (let i = 0; i < 4; i++) {
      await tick();
      const r = await createEval({ trace_id: t1, judge_id: 'judge-c', passed: true, score: i });
      expect(r.status).toBe(201);
      remember(r.body);
    }
    const attrs = await traceAttrs(t1);
    expect(attrs?.evaluations_count).toBe(7);
    // The pending one fell out of the latest five; the failed one is still in.
    expect(attrs?.eval_status).toBe('fail');
    expect(attrs?.judge_ids).toEqual(new Set(['judge-a', 'judge-b', 'judge-c']));
    const ofT1 = created.filter((e) => e.trace_id === t1);
    expect(attrs?.last_evaluations).toEqual(
      ofT1.slice(0, 5).map((e) => ({
        evaluation_id: e.id,
        judge_id: e.judge_id,
        judge_name: e.judge_name,
        judge_version: e.judge_version,
        created_at: e.created_at,
        passed: e.passed,
      })),
    );
  });

  it('loses none of 10 concurrent creates on one trace', async () => {
    const t2 = id('t2');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createEval({ trace_id: t2, judge_id: `judge-${i % 3}`, passed: i % 2 === 0 })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
    for (const r of results) remember(r.body);
    const attrs = await traceAttrs(t2);
    expect(attrs?.evaluations_count).toBe(10);
    expect(attrs?.judge_ids).toEqual(new Set(['judge-0', 'judge-1', 'judge-2']));
    const newest = results
      .map((r) => r.body)
      .sort(newestFirst)
      .slice(0, 5);
    expect(attrs?.last_evaluations?.map((e) => e.evaluation_id)).toEqual(newest.map((e) => e.id));
    expect(attrs?.eval_status).toBe(newest.some((e) => e.passed === false) ? 'fail' : 'pass');
    expect((await list(`?trace_id=${t2}`)).body.total).toBe(10);
  });

  it('gets one evaluation, and 404s an unknown one', async () => {
    const e = created[3]!;
    const got = await call<EvaluationJson>('GET', `/trace-evaluations/${e.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(e);
    const missing = await call('GET', '/trace-evaluations/00000000-0000-8000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('lists newest first, with each filter, paging and totals', async () => {
    const all = await list('');
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ trace_evaluations: created, count: created.length, total: created.length });

    const page2 = await list('?page=2&page_size=3');
    expect(page2.body).toEqual({ trace_evaluations: created.slice(3, 6), count: 3, total: created.length });
    const camel = await list('?page=2&pageSize=3');
    expect(camel.body).toEqual(page2.body);
    const beyond = await list('?page=100&page_size=500');
    expect(beyond.body).toEqual({ trace_evaluations: [], count: 0, total: created.length });

    const t1 = id('t1');
    const ofT1 = created.filter((e) => e.trace_id === t1);
    expect((await list(`?trace_id=${t1}`)).body).toEqual({ trace_evaluations: ofT1, count: 7, total: 7 });
    expect((await list(`?traceId=${t1}&page_size=2&page=4`)).body).toEqual({ trace_evaluations: ofT1.slice(6), count: 1, total: 7 });

    const ofA = created.filter((e) => e.judge_id === 'judge-a');
    expect((await list('?judge_id=judge-a')).body).toEqual({ trace_evaluations: ofA, count: ofA.length, total: ofA.length });
    const ofJ1 = created.filter((e) => e.judge_id === 'judge-1');
    expect((await list('?judgeId=judge-1&page_size=2')).body).toEqual({
      trace_evaluations: ofJ1.slice(0, 2),
      count: 2,
      total: ofJ1.length,
    });

    const both = created.filter((e) => e.trace_id === t1 && e.judge_id === 'judge-c');
    expect((await list(`?trace_id=${t1}&judge_id=judge-c&page=2&page_size=3`)).body).toEqual({
      trace_evaluations: both.slice(3),
      count: 1,
      total: 4,
    });
    expect((await list(`?trace_id=${t1}&judge_id=judge-0`)).body).toEqual({ trace_evaluations: [], count: 0, total: 0 });

    expect((await list('?page_size=501')).status).toBe(400);
    expect((await list('?page=0')).status).toBe(400);
  });

  it('404s an evaluation of a trace that does not exist', async () => {
    const r = await createEval({ trace_id: 'no-such-trace', judge_id: 'j' });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: { code: 'not_found' } });
    expect((await createEval({ judge_id: 'j' })).status).toBe(400);
  });
});

describe('another tenant', () => {
  it("cannot create, get or list evaluations, or delete traces, through the first tenant's path", async () => {
    const t1 = id('t1');
    expect((await createEval({ trace_id: t1, judge_id: 'x', passed: true }, other.apiKey)).status).toBe(404);
    expect((await call('GET', `/trace-evaluations/${created[0]!.id}`, undefined, other.apiKey)).status).toBe(404);
    expect((await list('', other.apiKey)).status).toBe(404);
    expect((await call('DELETE', `/traces/${t1}`, undefined, other.apiKey)).status).toBe(404);
    expect((await call('GET', '/traces/sources', undefined, other.apiKey)).status).toBe(404);
    expect((await traceAttrs(t1))?.evaluations_count).toBe(7);
  });

  it("sees none of the first tenant's traces or evaluations through its own path", async () => {
    const own = base(other.organizationId, other.projectId);
    const t1 = id('t1');
    expect((await createEval({ trace_id: t1, judge_id: 'x' }, other.apiKey, own)).status).toBe(404);
    expect((await call('GET', `/trace-evaluations/${created[0]!.id}`, undefined, other.apiKey, own)).status).toBe(404);
    expect((await list(`?trace_id=${t1}`, other.apiKey, own)).body).toEqual({ trace_evaluations: [], count: 0, total: 0 });
    expect((await call('DELETE', `/traces/${t1}`, undefined, other.apiKey, own)).status).toBe(404);
    expect(await traceAttrs(t1)).toBeDefined();
    expect((await call('GET', '/traces/sources', undefined, other.apiKey, own)).body).toEqual({ sources: [] });
    expect((await traceAttrs(t1))?.evaluations_count).toBe(7);
  });
});

describe('deleting traces', () => {
  const sources = async () => (await call<{ sources: string[] }>('GET', '/traces/sources')).body;

  it("lists the project's sources, sorted", async () => {
    expect(await sources()).toEqual({ sources: ['big', 'pair', 's3', 'solo'] });
  });

  it('deletes a trace with its evaluations, moves the counters exactly once, and drops a source with its last trace', async () => {
    const t1 = id('t1');
    const before = (await projectCounter(stack))!;
    const evalIds = created.filter((e) => e.trace_id === t1).map((e) => e.id);
    expect(evalIds).toHaveLength(7);

    const res = await call('DELETE', `/traces/${t1}`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(await traceAttrs(t1)).toBeUndefined();
    for (const e of evalIds) {
      expect(await getItem(stack, evaluationKeys.item(stack.info.organizationId, stack.info.projectId, e))).toBeUndefined();
    }
    expect((await call('GET', `/trace-evaluations/${evalIds[0]}`)).status).toBe(404);
    expect((await list(`?trace_id=${t1}`)).body.total).toBe(0);
    // The other trace's evaluations are untouched.
    expect((await list(`?trace_id=${id('t2')}`)).body.total).toBe(10);

    const after = (await projectCounter(stack))!;
    expect(after.traces).toBe(before.traces - 1);
    expect(after.by_source).toEqual(Object.fromEntries(Object.entries(before.by_source).filter(([s]) => s !== 'solo')));
    expect([...(after.sources ?? [])].sort()).toEqual(['big', 'pair', 's3']);
    expect(await sources()).toEqual({ sources: ['big', 'pair', 's3'] });

    const again = await call('DELETE', `/traces/${t1}`);
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ error: { code: 'not_found' } });
    expect(await projectCounter(stack)).toEqual(after);
  });

  it('keeps a source while other traces of it remain', async () => {
    expect((await call('DELETE', `/traces/${id('t2')}`)).status).toBe(204);
    expect((await projectCounter(stack))!.by_source.pair).toBe(1);
    expect(await sources()).toEqual({ sources: ['big', 'pair', 's3'] });
    expect((await list(`?trace_id=${id('t2')}`)).body.total).toBe(0);
    expect((await call('DELETE', `/traces/${id('t3')}`)).status).toBe(204);
    expect(await sources()).toEqual({ sources: ['big', 's3'] });
  });

  it('subtracts once when the same trace is deleted concurrently', async () => {
    const before = (await projectCounter(stack))!;
    const results = await Promise.all(Array.from({ length: 4 }, () => call('DELETE', `/traces/${id('t4')}`)));
    expect(results.map((r) => r.status).sort()).toEqual([204, 404, 404, 404]);
    const after = (await projectCounter(stack))!;
    expect(after.traces).toBe(before.traces - 1);
    expect(before.by_source.s3).toBe(1);
    expect(after.by_source.s3).toBeUndefined();
    expect(await sources()).toEqual({ sources: ['big'] });
  });

  it("removes an offloaded trace's document from S3", async () => {
    const big = byName.get('big')!;
    await stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: big.payload_key! }));
    expect((await call('DELETE', `/traces/${big.id}`)).status).toBe(204);
    await expect(stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: big.payload_key! }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    expect(await sources()).toEqual({ sources: [] });
    expect(await projectTraces(stack)).toEqual([]);
    expect(await projectCounter(stack)).toMatchObject({ traces: 0, by_source: {} });
  });
});
