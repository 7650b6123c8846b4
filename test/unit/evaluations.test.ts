import { describe, expect, it } from 'vitest';
import {
  createEvaluation,
  deriveEvalStatus,
  mergeLastEvaluations,
  nextTraceState,
  TraceNotFoundError,
  type CommitResult,
  type Evaluation,
  type EvaluationStore,
  type EvaluationSummary,
  type NextTraceEvaluationState,
  type TraceEvaluationState,
} from '../../functions/domain/evaluations.js';
import { handler as createHandler } from '../../functions/handlers/createEvaluation.js';
import { handler as listHandler } from '../../functions/handlers/listEvaluations.js';
import { ListEvaluationsQuery } from '../../functions/shared/requests.js';
import type { HttpEvent } from '../../functions/shared/http.js';
import { httpEvent } from '../../local/events.js';

const tenant = { organizationId: 'org-1', projectId: 'proj-1' };

function summary(n: number, passed: boolean | null, createdAt = `2024-05-01T00:00:${String(n).padStart(2, '0')}.000Z`): EvaluationSummary {
  return { evaluationId: `e${String(n).padStart(3, '0')}`, judgeId: `j${n}`, judgeName: `judge ${n}`, judgeVersion: 1, createdAt, passed };
}

describe('deriveEvalStatus', () => {
  it.each<[string, (boolean | null)[], string | null]>([
    ['never evaluated', [], null],
    ['one pass', [true], 'pass'],
    ['all pass', [true, true, true, true, true], 'pass'],
    ['one fail', [false], 'fail'],
    ['a fail among passes', [true, false, true], 'fail'],
    ['one pending', [null], 'pending'],
    ['pending wins over a fail', [false, null, true], 'pending'],
    ['pending wins over passes', [true, true, null], 'pending'],
    ['all fail', [false, false], 'fail'],
  ])('%s → %s', (_name, verdicts, expected) => {
    expect(deriveEvalStatus(verdicts.map((passed, i) => summary(i, passed)))).toBe(expected);
  });
});

describe('mergeLastEvaluations', () => {
  it('keeps the latest five, newest first', () => {
    let last: EvaluationSummary[] = [];
    for (let n = 1; n <= 8; n++) last = mergeLastEvaluations(last, summary(n, true));
    expect(last.map((e) => e.evaluationId)).toEqual(['e008', 'e007', 'e006', 'e005', 'e004']);
  });

  it('puts a late arrival where its time belongs, or drops it when it is older than the five', () => {
    const five = [5, 4, 3, 2, 1].map((n) => summary(n * 10, true));
    const middle = mergeLastEvaluations(five, summary(25, false));
    expect(middle.map((e) => e.evaluationId)).toEqual(['e050', 'e040', 'e030', 'e025', 'e020']);
    expect(mergeLastEvaluations(five, summary(5, false))).toEqual(five);
  });

  it('orders evaluations of the same millisecond by id, and never repeats one', () => {
    const at = '2024-05-01T00:00:00.000Z';
    const merged = mergeLastEvaluations([summary(1, true, at), summary(3, true, at)], summary(2, true, at));
    expect(merged.map((e) => e.evaluationId)).toEqual(['e003', 'e002', 'e001']);
    expect(mergeLastEvaluations(merged, summary(2, true, at))).toEqual(merged);
  });

  it('moves the count, the version and the status with each evaluation', () => {
    const base: TraceEvaluationState = { count: 7, last: [summary(1, true)], version: 7, ...placed };
    const e = evaluation({ id: 'e002', passed: null, createdAt: '2024-05-01T00:00:02.000Z' });
    expect(nextTraceState(base, e)).toMatchObject({ count: 8, version: 8, status: 'pending' });
    expect(nextTraceState(base, e).last.map((s) => s.evaluationId)).toEqual(['e002', 'e001']);
  });
});

/** Where a trace sorts and its source: what the store keeps with the state (the domain passes it through). */
const placed = { judgeIds: [] as string[], source: 'upload', order: '2024-05-01T00:00:00.000Z#u#0000000001' };

function evaluation(over: Partial<Evaluation>): Evaluation {
  return {
    id: 'e',
    organizationId: tenant.organizationId,
    projectId: tenant.projectId,
    traceId: 't1',
    judgeId: 'j',
    judgeName: 'j',
    judgeVersion: 1,
    status: 'pending',
    passed: null,
    score: null,
    reasoning: null,
    createdAt: '2024-05-01T00:00:00.000Z',
    ...over,
  };
}

/** An in-memory store whose commits can be made to conflict a number of times first. */
class MemoryStore implements EvaluationStore {
  traces = new Map<string, TraceEvaluationState & { status?: string }>();
  evaluations = new Map<string, Evaluation>();
  conflicts = 0;
  commits = 0;

  async readTraceState(_t: typeof tenant, traceId: string) {
    const s = this.traces.get(traceId);
    return s
      ? { count: s.count, last: [...s.last], version: s.version, judgeIds: [...s.judgeIds], source: s.source, order: s.order }
      : null;
  }
  async commit(e: Evaluation, current: TraceEvaluationState, next: NextTraceEvaluationState): Promise<CommitResult> {
    const expectedVersion = current.version;
    this.commits++;
    const s = this.traces.get(e.traceId);
    if (!s) return 'no-trace';
    if (this.conflicts > 0) {
      this.conflicts--;
      // Someone else's evaluation landed in between.
      s.version++;
      return 'conflict';
    }
    if (s.version !== expectedVersion) return 'conflict';
    this.traces.set(e.traceId, {
      ...s,
      count: next.count,
      last: next.last,
      version: next.version,
      status: next.status,
      judgeIds: [...new Set([...s.judgeIds, e.judgeId])],
    });
    this.evaluations.set(e.id, e);
    return 'committed';
  }
  async get() {
    return null;
  }
  async list() {
    return { items: [], total: 0 };
  }
}

describe('createEvaluation', () => {
  const fixed = { now: () => new Date('2024-05-01T12:00:00.000Z'), backoff: async () => {} };

  it('fills the defaults: pending without a verdict, judge name = judge id, version 1', async () => {
    const store = new MemoryStore();
    store.traces.set('t1', { count: 0, last: [], version: 0, ...placed });
    const e = await createEvaluation({ store, ...fixed, newId: () => 'e1' }, tenant, { traceId: 't1', judgeId: 'judge-a' });
    expect(e).toMatchObject({
      id: 'e1',
      judgeName: 'judge-a',
      judgeVersion: 1,
      status: 'pending',
      passed: null,
      score: null,
      reasoning: null,
    });
    expect(e.createdAt).toBe('2024-05-01T12:00:00.000Z');
    expect(store.traces.get('t1')).toMatchObject({ count: 1, version: 1, status: 'pending' });
  });

  it('is finished (success) with a verdict, whether it passed or not', async () => {
    const store = new MemoryStore();
    store.traces.set('t1', { count: 0, last: [], version: 0, ...placed });
    const e = await createEvaluation({ store, ...fixed }, tenant, {
      traceId: 't1',
      judgeId: 'j',
      judgeName: 'J',
      judgeVersion: 0,
      passed: false,
      score: 0.25,
      reasoning: 'no',
    });
    expect(e).toMatchObject({ status: 'success', passed: false, judgeName: 'J', judgeVersion: 0, score: 0.25, reasoning: 'no' });
    expect(store.traces.get('t1')?.status).toBe('fail');
  });

  it('reads again and retries after a conflict, and loses nothing', async () => {
    const store = new MemoryStore();
    store.traces.set('t1', { count: 3, last: [], version: 3, ...placed });
    store.conflicts = 4;
    await createEvaluation({ store, ...fixed }, tenant, { traceId: 't1', judgeId: 'j', passed: true });
    expect(store.commits).toBe(5);
    expect(store.traces.get('t1')).toMatchObject({ count: 4, version: 8 });
  });

  it('throws TraceNotFoundError for a trace the project does not have', async () => {
    await expect(
      createEvaluation({ store: new MemoryStore(), ...fixed }, tenant, { traceId: 'nope', judgeId: 'j' }),
    ).rejects.toBeInstanceOf(TraceNotFoundError);
  });

  it('gives up after maxAttempts conflicts', async () => {
    const store = new MemoryStore();
    store.traces.set('t1', { count: 0, last: [], version: 0, ...placed });
    store.conflicts = 100;
    await expect(createEvaluation({ store, ...fixed, maxAttempts: 3 }, tenant, { traceId: 't1', judgeId: 'j' })).rejects.toThrow(
      /after 3 attempts/,
    );
  });
});

/** A request of the tenant to the evaluation routes, `over` replacing parts of it. */
function evaluationEvent(over: Partial<HttpEvent>): HttpEvent {
  const base = httpEvent({
    method: 'POST',
    path: '/',
    routeKey: 'POST /trace-evaluations',
    headers: { 'content-type': 'application/json' },
    pathParameters: { organizationId: tenant.organizationId, projectId: tenant.projectId },
    authorizer: { ...tenant },
    requestId: 'r',
  });
  return { ...base, ...over };
}

async function post(body: unknown) {
  const out = await createHandler(evaluationEvent({ body: JSON.stringify(body) }));
  return { status: out.statusCode, body: JSON.parse(String(out.body)) as { error: { code: string; message: string } } };
}

describe('create input validation: each bad field is a 400 naming it', () => {
  const ok = { trace_id: 't1', judge_id: 'j1' };
  it.each<[string, Record<string, unknown>]>([
    ['trace_id', { judge_id: 'j1' }],
    ['trace_id', { ...ok, trace_id: '' }],
    ['trace_id', { ...ok, trace_id: 7 }],
    ['trace_id', { ...ok, trace_id: 'x'.repeat(257) }],
    ['judge_id', { trace_id: 't1' }],
    ['judge_id', { ...ok, judge_id: '   ' }],
    ['judge_id', { ...ok, judge_id: ['j'] }],
    ['judge_name', { ...ok, judge_name: 5 }],
    ['judge_name', { ...ok, judge_name: '' }],
    ['judge_version', { ...ok, judge_version: -1 }],
    ['judge_version', { ...ok, judge_version: 1.5 }],
    ['judge_version', { ...ok, judge_version: '2' }],
    ['passed', { ...ok, passed: 'yes' }],
    ['passed', { ...ok, passed: 1 }],
    ['score', { ...ok, score: '0.5' }],
    ['score', { ...ok, score: 1e300 }],
    ['reasoning', { ...ok, reasoning: 42 }],
    ['reasoning', { ...ok, reasoning: 'é'.repeat(32 * 1024 + 1) }],
  ])('%s: %j', async (field, body) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_body');
    expect(res.body.error.message).toMatch(new RegExp(`^${field}: `));
  });

  it('refuses a body that is not an object, and bad JSON', async () => {
    expect((await post([ok])).status).toBe(400);
    const bad = await createHandler(evaluationEvent({ body: '{"trace_id":' }));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(String(bad.body)).error.code).toBe('invalid_json');
  });

  it("answers 404 for another tenant's path before looking at the body", async () => {
    const out = await createHandler(evaluationEvent({ pathParameters: { organizationId: 'other', projectId: 'proj-1' }, body: '{}' }));
    expect(out.statusCode).toBe(404);
  });
});

describe('list query validation', () => {
  it('defaults page 1 and page_size 100, and takes camelCase spellings', () => {
    expect(ListEvaluationsQuery.parse({})).toEqual({ page: 1, page_size: 100 });
    expect(ListEvaluationsQuery.parse({ traceId: 't', judgeId: 'j', pageSize: '5', page: '2' })).toEqual({
      trace_id: 't',
      judge_id: 'j',
      page: 2,
      page_size: 5,
    });
    expect(ListEvaluationsQuery.parse({ page_size: '7', pageSize: '9' })).toEqual({ page: 1, page_size: 7 });
    expect(ListEvaluationsQuery.parse({ trace_id: '', page: '' })).toEqual({ page: 1, page_size: 100 });
  });

  it.each<[string, Record<string, string>]>([
    ['page', { page: '0' }],
    ['page', { page: 'abc' }],
    ['page', { page: '1.5' }],
    ['page_size', { page_size: '0' }],
    ['page_size', { page_size: '501' }],
    ['page_size', { pageSize: '1000' }],
  ])('%s: %j is a 400 naming it', async (field, query) => {
    const out = await listHandler(evaluationEvent({ queryStringParameters: query }));
    expect(out.statusCode).toBe(400);
    expect(JSON.parse(String(out.body)).error.message).toMatch(new RegExp(`^${field}: `));
  });
});
