/**
 * Stratix trace evaluations beyond create/get: results (the client's get_results and
 * wait_for_completion), the list's outcome, time_range, search and sort filters with their
 * totals and cursors, and the catalogue routes that are not served. On a real local stack; the
 * shapes are those of LayerLens/stratix-python (models/trace_evaluation.py, resources/trace_evaluations).
 * The client itself (unmodified, on Debian's pydantic 1.10 and httpx) was recorded against a local
 * stack: test/fixtures/stratix-py-client/ holds what it sent, replayed here byte for byte.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createEvaluation } from '../../functions/domain/evaluations.js';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { evaluationDeps, tenantStore } from '../../functions/shared/services.js';
import { replay, sdkFixture, type Recorded, type ReplayAnswer } from '../support/sdk-replay.js';
import { dropAndSettle, projectTraces, useTestStack } from '../support/stack.js';

const stack = useTestStack();
let traces: string[];
type Json = any;

const base = () => `${stack.info.apiUrl}/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
async function call(method: string, path: string, body?: unknown, apiKey = stack.info.apiKey) {
  const res = await fetch(`${base()}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Json) : undefined };
}
const list = (q: string) => call('GET', `/trace-evaluations${q}`);

beforeAll(async () => {
  await dropAndSettle(
    stack,
    `${stack.info.dropPrefix}te/traces.jsonl`,
    Array.from({ length: 4 }, (_, i) => JSON.stringify({ input: `question ${i}` })).join('\n'),
  );
  traces = (await projectTraces(stack)).map((t) => t.id);
}, 60_000);

/** What the client's TraceEvaluationResult model requires (pydantic: every field typed, none null). */
function expectResultModel(r: Json) {
  for (const k of ['id', 'trace_evaluation_id', 'trace_id', 'judge_id', 'reasoning', 'model', 'created_at'])
    expect(typeof r[k], k).toBe('string');
  for (const k of ['score', 'total_cost', 'turns', 'latency_ms', 'prompt_tokens', 'completion_tokens'])
    expect(typeof r[k], k).toBe('number');
  for (const k of ['turns', 'latency_ms', 'prompt_tokens', 'completion_tokens']) expect(Number.isInteger(r[k]), k).toBe(true);
  expect(typeof r.passed).toBe('boolean');
  expect(Array.isArray(r.steps)).toBe(true);
}

describe('results', () => {
  it('is a 404 while pending, the posted result once the judge answers; wait_for_completion sees it on its next poll', async () => {
    const e = (await call('POST', '/trace-evaluations', { trace_id: traces[0], judge_id: 'judge-r' })).json;
    const pending = await call('GET', `/trace-evaluations/${e.id}/results`);
    expect(pending.status).toBe(404);
    expect(pending.json.error).toMatchObject({ code: 'not_found', message: expect.stringMatching(/no result yet/) });
    expect((await call('GET', `/traces?status=pending`)).json.traces.map((t: Json) => t.id)).toContain(traces[0]);

    const posted = await call('POST', `/trace-evaluations/${e.id}/results`, {
      passed: true,
      score: 0.8,
      reasoning: 'cites its source',
      model: 'gpt-4o',
      steps: [{ tool: 'read', args: { span: 1 }, result: 'ok' }],
      turns: 2,
      latency_ms: 1200,
      prompt_tokens: 300,
      completion_tokens: 40,
      total_cost: 0.0021,
    });
    expect(posted.status).toBe(201);
    // The client polls get() until a terminal status, then get_results().
    expect((await call('GET', `/trace-evaluations/${e.id}`)).json.status).toBe('success');
    const result = (await call('GET', `/trace-evaluations/${e.id}/results`)).json;
    expectResultModel(result);
    expect(result).toMatchObject({
      trace_evaluation_id: e.id,
      trace_id: traces[0],
      judge_id: 'judge-r',
      score: 0.8,
      passed: true,
      reasoning: 'cites its source',
      model: 'gpt-4o',
      turns: 2,
      latency_ms: 1200,
      prompt_tokens: 300,
      completion_tokens: 40,
      total_cost: 0.0021,
    });
    expect(result.steps).toEqual([{ tool: 'read', args: { span: 1 }, result: 'ok' }]);
    // The trace's status and its filter moved with it.
    const trace = (await call('GET', `/traces?status=pass`)).json;
    expect(trace.traces.map((t: Json) => t.id)).toContain(traces[0]);
    expect(trace.traces.find((t: Json) => t.id === traces[0]).last_evaluations[0]).toMatchObject({ judge_id: 'judge-r', passed: true });
    expect((await call('GET', `/traces?status=pending`)).json.total_count).toBe(0);
    // The same result again (a retry) is fine; another one is a conflict.
    expect(
      (await call('POST', `/trace-evaluations/${e.id}/results`, { passed: true, score: 0.8, reasoning: 'cites its source' })).status,
    ).toBe(201);
    const other = await call('POST', `/trace-evaluations/${e.id}/results`, { passed: false });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('conflict');
  });

  it('answers a verdict given at create with zeros where the judge said nothing; refuses bad bodies and unknown ids', async () => {
    const e = (await call('POST', '/trace-evaluations', { trace_id: traces[1], judge_id: 'judge-r', passed: false })).json;
    const result = (await call('GET', `/trace-evaluations/${e.id}/results`)).json;
    expectResultModel(result);
    expect(result).toMatchObject({ passed: false, score: 0, reasoning: '', model: '', turns: 0, latency_ms: 0, created_at: e.created_at });
    expect((await call('POST', `/trace-evaluations/${e.id}/results`, { score: 1 })).status).toBe(400);
    expect((await call('POST', `/trace-evaluations/${e.id}/results`, { passed: true, turns: -1 })).status).toBe(400);
    expect((await call('POST', '/trace-evaluations/no-such/results', { passed: true })).status).toBe(404);
    expect((await call('GET', '/trace-evaluations/no-such/results')).status).toBe(404);
    const stranger = await createApiKey(tenantStore(), { organization: 'te-other', project: 'p' });
    expect((await call('GET', `/trace-evaluations/${e.id}/results`, undefined, stranger.apiKey)).json.error.code).toBe('not_found');
  });
});

describe('list filters', () => {
  const made: Json[] = [];
  beforeAll(async () => {
    // Eight more over two judges and three outcomes, two of them made 10 days ago.
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    for (let i = 0; i < 8; i++) {
      const passed = i % 3 === 0 ? undefined : i % 3 === 1;
      const when = i < 2 ? new Date(Date.now() - 10 * 86_400_000 + i) : new Date(Date.now() + i);
      const e = await createEvaluation({ ...evaluationDeps(), now: () => when }, tenant, {
        traceId: traces[2 + (i % 2)]!,
        judgeId: i % 2 ? 'judge-odd' : 'judge-even',
        judgeName: i % 2 ? 'Odd Judge' : 'Even Judge',
        passed,
        reasoning: i === 5 ? 'Mentions the CAPITAL' : undefined,
      });
      made.push(e);
    }
  });
  const idsOf = (r: Json) => r.json.trace_evaluations.map((e: Json) => e.id);

  it('filters by outcome, judge and both, with totals from the counters', async () => {
    const all = (await list('?page_size=100')).json;
    expect(all.total).toBe(all.trace_evaluations.length);
    for (const outcome of ['pass', 'fail', 'pending'] as const) {
      const want = all.trace_evaluations.filter((e: Json) =>
        outcome === 'pass' ? e.passed === true : outcome === 'fail' ? e.passed === false : e.passed === null,
      );
      const res = await list(`?outcome=${outcome}&page_size=100`);
      expect(idsOf(res), outcome).toEqual(want.map((e: Json) => e.id));
      expect(res.json.total, outcome).toBe(want.length);
    }
    const oddFail = await list('?judge_id=judge-odd&outcome=fail');
    expect(oddFail.json.trace_evaluations.every((e: Json) => e.judge_id === 'judge-odd' && e.passed === false)).toBe(true);
    expect(oddFail.json.total).toBe(made.filter((e) => e.judgeId === 'judge-odd' && e.passed === false).length);
    expect((await list(`?trace_id=${traces[3]}&outcome=pass`)).json.total).toBe(
      made.filter((e) => e.traceId === traces[3] && e.passed === true).length,
    );
  });

  it('time_range, search and sort_order, with cursors through the whole list', async () => {
    const recent = await list('?time_range=7d&page_size=100');
    const old = made.slice(0, 2).map((e) => e.id);
    expect(idsOf(recent).some((id: string) => old.includes(id))).toBe(false);
    expect(recent.json.total).toBe(recent.json.trace_evaluations.length);
    expect((await list('?time_range=30d&page_size=100')).json.total).toBe((await list('?page_size=100')).json.total);
    const found = await list('?search=capital');
    expect(idsOf(found)).toEqual([made[5].id]);
    expect((await list('?search=odd judge&page_size=100')).json.total).toBe(4);
    const desc = idsOf(await list('?page_size=100'));
    expect(idsOf(await list('?sort_by=created_at&sort_order=asc&page_size=100'))).toEqual([...desc].reverse());
    // By cursor, two at a time: the same list, each page costing the same.
    for (const q of ['', '&outcome=pending', '&time_range=7d&sort_order=asc', '&search=judge']) {
      const whole = idsOf(await list(`?page_size=100${q}`));
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await list(`?page_size=2${q}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...idsOf(page));
        cursor = page.headers.get('x-next-cursor');
      } while (cursor);
      expect(seen, q).toEqual(whole);
    }
  });

  it('refuses bad values with a 400 naming the parameter (they were ignored)', async () => {
    for (const [q, name] of [
      ['outcome=bogus', 'outcome'],
      ['time_range=bogus', 'time_range'],
      ['time_range=0d', 'time_range'],
      ['sort_by=score', 'sort_by'],
      ['sort_order=up', 'sort_order'],
      ['timeRange=x', 'time_range'],
      ['cursor=garbage', 'cursor'],
    ]) {
      const res = await list(`?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.error.message, q).toMatch(new RegExp(name === 'cursor' ? 'cursor' : `^${name}: `));
    }
  });
});

interface StratixHeader {
  recorded: {
    organization_id: string;
    project_id: string;
    trace_ids: string[];
    evaluation_ids: string[];
    results: { first: Json; second: Json };
    get_many: Record<string, [number, number, string[], string[]]>;
    after_delete: { sources: string[]; deleted: boolean; traces: [number, number]; get_many: [number, number, string[], string[]] };
  };
}
const recorded = sdkFixture<StratixHeader>('stratix-py-client', 'trace-evaluations.jsonl');

/** What the client's TraceEvaluation model requires; `status` one of TraceEvaluationStatus. */
function expectEvaluationModel(e: Json) {
  for (const k of ['id', 'trace_id', 'judge_id']) expect(typeof e[k], k).toBe('string');
  expect(['pending', 'in_progress', 'success', 'failure']).toContain(e.status);
  for (const k of ['created_at', 'started_at', 'finished_at'])
    expect(e[k] === undefined || e[k] === null || typeof e[k] === 'string', k).toBe(true);
}

describe('the Stratix Python client, replayed (get_results, wait_for_completion, filtered get_many)', () => {
  const { header, requests } = recorded;
  const ids = new Map<string, string>();
  let answers: ReplayAnswer[];
  let tenant: { apiKey: string; organizationId: string; projectId: string };
  const mapped = (id: string) => ids.get(id) ?? id;
  const answered = (pred: (r: Recorded) => boolean) => answers.filter((_, i) => pred(requests[i]!));
  beforeAll(async () => {
    // A project of its own: the totals are the recording's.
    tenant = await createApiKey(tenantStore(), { organization: 'stratix-py', project: 'default' });
    let evaluations = 0;
    answers = await replay({ apiUrl: stack.info.apiUrl, apiKey: tenant.apiKey }, requests, ids, (r, a, i) => {
      const path = r.path ?? '';
      if (path === '/api/v1/organizations') {
        ids.set(header.recorded.organization_id, a.json.data.id);
        ids.set(header.recorded.project_id, a.json.data.projects[0].id);
      } else if (path.endsWith('/traces/upload')) ids.set(requests[i + 1]!.url!, a.json.url);
      else if (r.method === 'POST' && path.endsWith('/traces'))
        header.recorded.trace_ids.forEach((id, n) => {
          ids.set(id, a.json.trace_ids[n]);
        });
      else if (r.method === 'POST' && path.endsWith('/trace-evaluations'))
        ids.set(header.recorded.evaluation_ids[evaluations++]!, a.json.id);
    });
  }, 60_000);

  it('sends what the fixture holds: the client as it is (python-httpx, JSON in and out), the verdicts marked as the script’s', () => {
    expect(requests).toHaveLength(32);
    for (const r of requests.filter((r) => r.path && !r.by))
      expect(r.headers, r.path).toMatchObject({
        'user-agent': 'python-httpx/0.23.3',
        accept: 'application/json',
        'content-type': 'application/json',
      });
    expect(requests.filter((r) => r.by).map((r) => (r.path ?? '').replace(/.*\/trace-evaluations\//, ''))).toEqual(
      header.recorded.evaluation_ids.slice(0, 2).map((id) => `${id}/results`),
    );
    expect(requests.filter((r) => r.url).map((r) => [r.method, r.headers['content-type']])).toEqual([['PUT', 'application/jsonl']]);
  });

  it('constructs, uploads and reads the traces as the client reads them', () => {
    expect(answers[0]!.json.data).toMatchObject({
      id: tenant.organizationId,
      name: 'stratix-py',
      projects: [{ id: tenant.projectId, name: 'default' }],
    });
    const created = answered((r) => r.method === 'POST' && (r.path ?? '').endsWith('/traces'))[0]!.json;
    expect(created.trace_ids).toHaveLength(3);
    const trace = answered((r) => r.method === 'GET' && (r.path ?? '').endsWith(`/traces/${header.recorded.trace_ids[0]}`))[0]!.json;
    expect(trace).toMatchObject({
      id: created.trace_ids[0],
      organization_id: tenant.organizationId,
      project_id: tenant.projectId,
      created_at: expect.any(String),
      filename: 'stratix-traces.jsonl',
      input: 'user: What is the capital of France?',
    });
    const many = answered((r) => r.method === 'GET' && (r.path ?? '').includes('/traces?'))[0]!.json;
    expect(many).toMatchObject({ count: 3, total_count: 3 });
  });

  it('get_sources, then delete (a 204, which the client reads as done): the trace and its evaluation leave the lists', () => {
    const { after_delete: after } = header.recorded;
    expect(answered((r) => (r.path ?? '').endsWith('/traces/sources'))[0]!.json).toEqual({ sources: after.sources });
    const deleted = answered((r) => r.method === 'DELETE');
    expect(deleted.map((a) => a.status)).toEqual([204]);
    expect(after.deleted).toBe(true);
    const traces = answered((r) => r.method === 'GET' && (r.path ?? '').includes('/traces?'))[1]!.json;
    expect([traces.count, traces.total_count]).toEqual(after.traces);
    expect(traces.traces.map((t: Json) => t.id)).not.toContain(mapped(header.recorded.trace_ids[2]!));
    const [count, total, evaluationIds, statuses] = after.get_many;
    const list = answered((r) => r.method === 'GET' && (r.path ?? '').includes('/trace-evaluations?')).at(-1)!.json;
    expect([
      list.count,
      list.total,
      list.trace_evaluations.map((e: Json) => e.id),
      list.trace_evaluations.map((e: Json) => e.status),
    ]).toEqual([count, total, evaluationIds.map(mapped), statuses]);
  });

  it('get_results: a 404 while pending (the client answers None), then the verdict; wait_for_completion stops on the first poll after it', () => {
    const first = header.recorded.evaluation_ids[0]!;
    const created = answered((r) => r.method === 'POST' && (r.path ?? '').endsWith('/trace-evaluations'));
    for (const a of created) expectEvaluationModel(a.json);
    expect(created.map((a) => a.json.status)).toEqual(['pending', 'pending', 'pending']);
    const results = answered((r) => (r.path ?? '').endsWith(`${first}/results`) && r.method === 'GET');
    expect(results.map((a) => a.status)).toEqual([404, 200]);
    expect(results[0]!.json.error.code).toBe('not_found');
    // The polls (get) around the verdict: pending before it, success on the next one.
    const polls = requests.flatMap((r, i) =>
      r.method === 'GET' && (r.path ?? '').endsWith(`/trace-evaluations/${first}`)
        ? [answers[i]!.json.status]
        : r.by && (r.path ?? '').includes(first)
          ? ['verdict']
          : [],
    );
    expect(polls).toEqual(['pending', 'pending', 'verdict', 'success']);
    for (const [got, want] of [
      [results[1]!.json, header.recorded.results.first],
      [
        answered((r) => r.method === 'GET' && (r.path ?? '').endsWith(`${header.recorded.evaluation_ids[1]}/results`))[0]!.json,
        header.recorded.results.second,
      ],
    ]) {
      expectResultModel(got);
      expect(got).toEqual({
        ...want,
        id: `${mapped(want.trace_evaluation_id)}-result`,
        trace_evaluation_id: mapped(want.trace_evaluation_id),
        trace_id: mapped(want.trace_id),
        created_at: got.created_at,
      });
    }
  });

  it('get_many with each filter the client sends answers what it answered when recorded', () => {
    // The last one came after the delete (above).
    const lists = answered((r) => r.method === 'GET' && (r.path ?? '').includes('/trace-evaluations?')).slice(0, -1);
    const names = Object.keys(header.recorded.get_many);
    expect(lists).toHaveLength(names.length);
    lists.forEach((a, n) => {
      const [count, total, evaluationIds, statuses] = header.recorded.get_many[names[n]!]!;
      a.json.trace_evaluations.forEach(expectEvaluationModel);
      expect(
        [a.json.count, a.json.total, a.json.trace_evaluations.map((e: Json) => e.id), a.json.trace_evaluations.map((e: Json) => e.status)],
        names[n],
      ).toEqual([count, total, evaluationIds.map(mapped), statuses]);
    });
  });
});

describe('the evaluator catalogue', () => {
  it('answers 404 not_implemented naming what is not served, after the tenant check', async () => {
    for (const [method, path, what] of [
      ['GET', '/judges', 'judges'],
      ['POST', '/judges', 'judges'],
      ['GET', '/judges/j1', 'judges'],
      ['DELETE', '/judges/j1', 'judges'],
      ['GET', '/models?type=public', 'models'],
      ['GET', '/models/m1', 'models'],
      ['POST', '/custom-models', 'custom models'],
      ['POST', '/trace-evaluations/estimate', 'judge cost estimates'],
    ]) {
      const res = await call(method!, path!, method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(res.status, path).toBe(404);
      expect(res.json.error.code, path).toBe('not_implemented');
      expect(res.json.error.message, path).toMatch(new RegExp(`^${what} \\(the Stratix LLM evaluator catalogue\\) are not served`));
    }
    const stranger = await createApiKey(tenantStore(), { organization: 'te-cat', project: 'p' });
    expect((await call('GET', '/judges', undefined, stranger.apiKey)).json.error.code).toBe('not_found');
  });
});
