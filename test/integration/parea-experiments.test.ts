/**
 * Parea's experiments, feedback, get_trace_logs and LangChain runs, on a real local stack.
 *
 * The TypeScript SDK's requests are replayed byte for byte from test/fixtures/parea-ts-sdk/ (what
 * the SDK, built from its public source and unmodified, sent to a local stack: the experiment
 * runner, listExperiments, getExperimentStats, recordFeedback, getTraceLogs and its LangChain
 * tracer); only the uuids the recording's server answered are replaced by this server's, as the
 * SDK would have sent them. The Python SDK's requests are replayed the same way from
 * test/fixtures/parea-py-sdk/ (its source, unmodified, run on Debian's Python packages: the
 * experiment runner, @trace, record_feedback, get_trace_log(s); see that folder's README for the
 * import-only stubs of packages Debian lacks, which nothing here calls and which change nothing
 * sent). The bodies written from its source (attrs `asdict` of parea/schemas/models.py) stay, for
 * what the recording does not cover (retried creates, filters, a Python LangChain run: LangChain
 * is not packaged for Debian, so its tracer could not be run).
 */
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { tenantStore } from '../../functions/shared/services.js';
import { parseTraceLogForest } from '../../functions/domain/wire.js';
import { rawRequest } from '../support/raw-http.js';
import { replay as replayOn, sdkFixture, sendRaw, type Recorded } from '../support/sdk-replay.js';
import { useTestStack } from '../support/stack.js';

interface Header {
  recorded: { experiment_uuid: string; project_uuid: string; printed_summary?: Record<string, string> };
}
const fixture = (name: string) => sdkFixture<Header>('parea-ts-sdk', name);

const stack = useTestStack({ notifications: false });
type Json = any;

const target = () => ({ apiUrl: stack.info.apiUrl, apiKey: stack.info.apiKey });
const send = (
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) => sendRaw(target(), method, path, body, headers);
const parea = (method: string, path: string, body?: unknown) =>
  send(method, `/api/parea/v1${path}`, body === undefined ? undefined : JSON.stringify(body));

/** Replays recorded requests in order; `map` holds recorded → answered uuids, learned from the answers. */
const replay = (requests: Recorded[], map: Map<string, string>) => replayOn(target(), requests, map);

/** The TS SDK's calculateAvgStdForExperiment (src/experiment/utils.ts), which prints the summary. */
function printedSummary(stats: { parent_trace_stats: Json[] }, datasetLevel: Json[]): Record<string, string> {
  const avg = (values: number[], digits = 2) =>
    values.length === 0 ? 'N/A' : (values.reduce((a, b) => a + b, 0) / values.length).toFixed(digits);
  const t = stats.parent_trace_stats;
  const out: Record<string, string> = {
    latency: avg(t.map((s) => s.latency || 0)),
    input_tokens: avg(t.map((s) => s.input_tokens || 0)),
    output_tokens: avg(t.map((s) => s.output_tokens || 0)),
    total_tokens: avg(t.map((s) => s.total_tokens || 0)),
    cost: avg(
      t.map((s) => s.cost || 0),
      5,
    ),
  };
  const byName: Record<string, number[]> = {};
  for (const s of t) for (const sc of s.scores ?? []) (byName[sc.name] ??= []).push(sc.score);
  for (const [n, v] of Object.entries(byName)) out[n] = avg(v);
  for (const d of datasetLevel) out[d.name] = d.score.toFixed(2);
  return out;
}

/** What the Python SDK's cattrs structure of ExperimentWithPinnedStatsSchema needs. */
function expectPythonExperiment(e: Json) {
  for (const k of ['name', 'uuid', 'created_at', 'run_name', 'project_uuid']) expect(typeof e[k], k).toBe('string');
  expect(['pending', 'running', 'completed', 'failed']).toContain(e.status);
  expect(typeof e.is_public).toBe('boolean');
  for (const p of e.pinned_stats) {
    expect(typeof p.var1).toBe('string');
    expect([
      'mean',
      'median',
      'variance',
      'standard_deviation',
      'min',
      'max',
      'mse',
      'mae',
      'correlation',
      'spearman_correlation',
      'accuracy',
      'custom',
    ]).toContain(p.operation);
    expect(typeof p.value).toBe('number');
  }
}

const run = fixture('experiment-run.jsonl');
const more = fixture('feedback-listing-langchain.jsonl');
const uuids = new Map<string, string>();

describe("the TypeScript SDK's experiment runner, replayed", () => {
  let finished: Json;
  it('creates the experiment, stores its spans, finishes it: the stats give the summary the SDK printed', async () => {
    const project = await send('POST', run.requests[0]!.path!, run.requests[0]!.body, run.requests[0]!.headers);
    uuids.set(run.header.recorded.project_uuid, project.json.uuid);
    const [, create] = [
      project,
      await replay(
        [run.requests[2]!].map((r) => ({ ...r, body: r.body.split(run.header.recorded.project_uuid).join(project.json.uuid) })),
        new Map(),
      ),
    ];
    const created = create[0]!.json;
    expect(created).toMatchObject({
      name: 'greetings',
      run_name: 'run-1',
      metadata: { purpose: 'sdk-replay' },
      status: 'running',
      uuid: expect.any(String),
      created_at: expect.any(String),
    });
    uuids.set(run.header.recorded.experiment_uuid, created.uuid);
    const answers = await replay(run.requests.slice(3), uuids);
    finished = answers[answers.length - 2]!.json;
    expect(printedSummary(finished, finished.dataset_level_stats)).toEqual(run.header.recorded.printed_summary);
    expect(finished.parent_trace_stats).toHaveLength(3);
    // listExperiments({experiment_name_filter}): the experiment with its pinned stats.
    const listed = answers[answers.length - 1]!.json;
    expect(listed).toHaveLength(1);
    expectPythonExperiment(listed[0]);
    expect(listed[0]).toMatchObject({ uuid: created.uuid, status: 'completed', num_samples: 3, project_uuid: stack.info.projectId });
    expect(listed[0].pinned_stats).toContainEqual({ var1: 'exactMatch', operation: 'mean', value: 0.666666667 });
    expect(listed[0].pinned_stats).toContainEqual({ var1: 'n_logs', operation: 'custom', value: 3 });
  });

  it('serves the same trees from trace_logs, and the pinned stats from GET stats', async () => {
    const uuid = uuids.get(run.header.recorded.experiment_uuid)!;
    const trees = (await parea('POST', `/experiment/${uuid}/trace_logs`, {})).json;
    parseTraceLogForest(trees);
    expect(trees.map((t: Json) => [t.trace_name, t.status, t.children_logs.map((c: Json) => c.trace_name)])).toEqual([
      ['greeting', 'success', ['call_model']],
      ['greeting', 'success', ['call_model']],
      ['greeting', 'success', ['call_model']],
    ]);
    // Per tree: the root's latency and scores, the child's tokens and cost.
    const byId = new Map(trees.map((t: Json) => [t.trace_id, t]));
    for (const s of finished.parent_trace_stats) {
      const t: Json = byId.get(s.trace_id);
      expect(s).toEqual({
        trace_id: t.trace_id,
        latency: t.latency,
        input_tokens: t.children_logs[0].input_tokens,
        output_tokens: 5,
        total_tokens: t.children_logs[0].total_tokens,
        cost: expect.closeTo(t.children_logs[0].cost, 12),
        scores: t.scores,
      });
    }
    const stats = await parea('GET', `/experiment/${uuid}/stats`);
    expect(stats.json).toEqual(finished);
  });
});

describe('the TypeScript SDK: feedback, getTraceLogs, the LangChain tracer, replayed', () => {
  let answers: Awaited<ReturnType<typeof replay>>;
  beforeAll(async () => {
    uuids.set(more.header.recorded.experiment_uuid, uuids.get(run.header.recorded.experiment_uuid)!);
    answers = await replay(more.requests, uuids);
  });

  it('answers listExperiments, getExperimentStats and getExperimentLogs', () => {
    expect(answers[0]!.json.map((e: Json) => e.name)).toEqual(['greetings']);
    expect(answers[2]!.json.parent_trace_stats).toHaveLength(3);
    expect(answers[3]!.json).toHaveLength(3);
  });

  it("records the feedback as the span's feedback_score, filterable", async () => {
    const spanId = JSON.parse(more.requests[4]!.body).trace_id as string;
    const span = (await parea('GET', `/trace_log/${spanId}`)).json;
    expect(span).toMatchObject({ trace_name: 'answer_question', feedback_score: 0.21, status: 'success' });
    const filtered = (
      await parea('POST', '/get_trace_logs', {
        project_name: 'default',
        filter_field: 'feedback_score',
        filter_operator: 'greater_than_or_equal',
        filter_value: '0.2',
      })
    ).json;
    expect(filtered.results.map((t: Json) => t.trace_id)).toEqual([spanId]);
    expect(filtered).toMatchObject({ total: 1, total_pages: 1, total_exact: true });
  });

  it('pages getTraceLogs: a like filter on trace_name, then everything', () => {
    const like = answers[6]!.json;
    expect(like).toMatchObject({ total: 3, page: 1, total_pages: 2, page_size: 2, total_exact: true });
    expect(like.results.map((t: Json) => t.trace_name)).toEqual(['greeting', 'greeting']);
    parseTraceLogForest(like.results);
    const all = answers[7]!.json;
    expect(all).toMatchObject({ total: 4, page: 1, total_pages: 1, page_size: 10 });
    // Newest first: the traced function came after the experiment.
    expect(all.results.map((t: Json) => t.trace_name)).toEqual(['answer_question', 'greeting', 'greeting', 'greeting']);
  });

  it("stores the LangChain tracer's run tree as spans, one tree", async () => {
    const root = JSON.parse(more.requests[8]!.body) as Json;
    const tree = (await parea('GET', `/trace_log/${root.id}`)).json;
    parseTraceLogForest([tree]);
    expect(tree).toMatchObject({
      trace_name: 'RunnableSequence',
      status: 'success',
      depth: 0,
      root_trace_id: root.id,
      inputs: { country: 'France' },
      output: 'Paris is the capital of France.',
    });
    expect(tree.children_logs.map((c: Json) => c.trace_name)).toEqual(['ChatPromptTemplate', 'FakeListChatModel', 'StrOutputParser']);
    const llm = tree.children_logs[1];
    expect(llm.configuration.messages).toEqual([
      { role: 'system', content: 'You answer briefly.' },
      { role: 'user', content: 'What is the capital of France?' },
    ]);
    expect(llm).toMatchObject({ output: 'Paris is the capital of France.', depth: 1, metadata: { langchain_run_type: 'llm' } });
    expect(tree.latency).toBeCloseTo((root.end_time - root.start_time) / 1000, 6);
    // The same run posted again (a retry) changes nothing; it is one more root in the listing.
    await send('POST', '/api/parea/v1/trace_log/langchain', more.requests[8]!.body);
    expect((await parea('POST', '/get_trace_logs', { project_name: 'default' })).json.total).toBe(5);
  });
});

interface PyHeader {
  recorded: { project_uuid: string; experiment_uuid: string; answer_trace_id: string; printed_summary: Record<string, string | number> };
}
const py = sdkFixture<PyHeader>('parea-py-sdk', 'experiment-feedback-listing.jsonl');

/** The Python SDK's calculate_avg_std_for_experiment (parea/experiment/experiment.py) and the dataset-level scores it adds: what run() printed. */
function pythonPrintedSummary(stats: { parent_trace_stats: Json[]; dataset_level_stats: Json[] }): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const attr of ['latency', 'input_tokens', 'output_tokens', 'total_tokens', 'cost']) {
    const values = stats.parent_trace_stats.map((s) => s[attr]).filter((v) => v !== null && v !== undefined) as number[];
    if (values.length) out[attr] = (values.reduce((a, b) => a + b, 0) / values.length).toFixed(attr === 'cost' ? 5 : 2);
  }
  const byName: Record<string, number[]> = {};
  for (const s of stats.parent_trace_stats) for (const sc of s.scores) (byName[sc.name] ??= []).push(sc.score);
  for (const [n, v] of Object.entries(byName)) out[n] = (v.reduce((a, b) => a + b, 0) / v.length).toFixed(2);
  for (const d of stats.dataset_level_stats) out[d.name] = d.score;
  return out;
}

/** What cattrs needs of a TraceLogTree, on every node: TraceLog's four ids and start are `instance_of(str)`. */
function expectPythonTree(t: Json) {
  for (const k of ['trace_id', 'parent_trace_id', 'root_trace_id', 'start_timestamp'])
    expect(typeof t[k], `${t.trace_name}.${k}`).toBe('string');
  expect(Array.isArray(t.children_logs)).toBe(true);
  t.children_logs.forEach(expectPythonTree);
}

describe('the Python SDK, replayed (experiment runner, @trace, record_feedback, get_trace_logs)', () => {
  // Its own project, so the listing's totals are the recording's.
  let answers: Awaited<ReturnType<typeof replay>>;
  let key: { apiKey: string; projectId: string };
  const at = (method: string, suffix: string, nth = 0) =>
    answers.filter((_, i) => py.requests[i]!.method === method && py.requests[i]!.path!.endsWith(suffix))[nth]!;
  const pyMap = new Map<string, string>();
  beforeAll(async () => {
    key = await createApiKey(tenantStore(), { organization: 'parea-py', project: 'default' });
    answers = await replayOn({ apiUrl: stack.info.apiUrl, apiKey: key.apiKey }, py.requests, pyMap, (r, a) => {
      if (r.path === '/api/parea/v1/project') pyMap.set(py.header.recorded.project_uuid, a.json.uuid);
      if (r.path === '/api/parea/v1/experiment') pyMap.set(py.header.recorded.experiment_uuid, a.json.uuid);
    });
  });

  it('sends what the fixture holds: every request as the SDK made it, python-httpx with its SDK headers', () => {
    expect(py.requests).toHaveLength(24);
    for (const r of py.requests) {
      expect(r.headers).toMatchObject({
        'user-agent': 'python-httpx/0.23.3',
        'x-sdk-language': 'python',
        'x-sdk-version': '0.2.219',
        'accept-encoding': 'gzip, deflate',
      });
      // httpx's json= (json.dumps, default separators): a content type only with a body.
      expect(r.headers['content-type']).toBe(r.method === 'GET' ? undefined : 'application/json');
    }
  });

  it('creates the project and the experiment as the models read them, then finishes it: the stats give the summary run() printed', () => {
    const project = at('POST', '/project').json;
    expect(project).toMatchObject({ uuid: key.projectId, created_at: expect.any(String), name: 'default' });
    expect(typeof project.was_created).toBe('boolean');
    const created = at('POST', '/experiment').json;
    expect(created).toMatchObject({
      name: 'greetings',
      uuid: expect.any(String),
      created_at: expect.any(String),
      metadata: { purpose: 'sdk-replay' },
    });
    const finished = at('POST', '/finished').json;
    expect(finished.parent_trace_stats).toHaveLength(3);
    for (const s of finished.parent_trace_stats) {
      expect(typeof s.trace_id).toBe('string');
      for (const k of ['latency', 'input_tokens', 'output_tokens', 'total_tokens', 'cost']) expect(typeof s[k], k).toBe('number');
      expect(s.scores.map((sc: Json) => sc.name)).toEqual(['exact_match', 'length']);
    }
    expect(pythonPrintedSummary(finished)).toEqual(py.header.recorded.printed_summary);
    expect(at('GET', '/stats').json).toEqual(finished);
  });

  it('lists it (list_experiments, get_experiment) with its pinned stats, and serves its trees', () => {
    const uuid = pyMap.get(py.header.recorded.experiment_uuid)!;
    const listed = at('POST', '/experiments', 0).json;
    expect(listed).toHaveLength(1);
    expectPythonExperiment(listed[0]);
    expect(listed[0]).toMatchObject({
      uuid,
      name: 'greetings',
      run_name: 'run-1',
      status: 'completed',
      num_samples: 3,
      project_uuid: key.projectId,
    });
    expect(listed[0].pinned_stats).toContainEqual({ var1: 'exact_match', operation: 'mean', value: 0.666666667 });
    expect(listed[0].pinned_stats).toContainEqual({ var1: 'n_logs', operation: 'custom', value: 3 });
    expect(at('POST', '/experiments', 1).json).toEqual(listed);
    const trees = at('POST', `/experiment/${py.header.recorded.experiment_uuid}/trace_logs`).json;
    parseTraceLogForest(trees);
    trees.forEach(expectPythonTree);
    // The eval functions are traced too (the SDK wraps each in trace()): children of the sample's root.
    expect(
      trees.map((t: Json) => [t.trace_name, t.status, t.experiment_uuid, t.children_logs.map((c: Json) => c.trace_name).sort()]),
    ).toEqual(Array.from({ length: 3 }, () => ['greeting', 'success', uuid, ['call_model', 'exact_match', 'length']]));
  });

  it("records the feedback on the traced function's span; get_trace_log reads it back", () => {
    const tree = at('GET', `/trace_log/${py.header.recorded.answer_trace_id}`).json;
    expectPythonTree(tree);
    expect(tree).toMatchObject({
      trace_name: 'answer_question',
      feedback_score: 0.21,
      status: 'success',
      tags: ['sdk-replay'],
      metadata: { source: 'python', feedback_name: 'thumbs', feedback_comment: 'meh' },
      inputs: { question: 'What is six times seven?' },
      output: '42',
    });
  });

  it('answers get_trace_logs (QueryParams) as PaginatedTraceLogsResponse: a like filter in pages, then the last hour by status', () => {
    const like = at('POST', '/get_trace_logs', 0).json;
    expect(like).toMatchObject({ total: 3, page: 1, total_pages: 2, page_size: 2 });
    expect(like.results.map((t: Json) => t.trace_name)).toEqual(['greeting', 'greeting']);
    like.results.forEach(expectPythonTree);
    // time_range "1h" is on the roots' own start, which the recording set: the roots it answers
    // are those that started within the hour before this run (all four right after recording, none later).
    const roots = py.requests
      .filter((r) => r.path === '/api/parea/v1/trace_log')
      .map((r) => JSON.parse(r.body) as Json)
      .filter((sp) => sp.trace_id === sp.root_trace_id);
    expect(roots.map((r) => r.trace_name).sort()).toEqual(['answer_question', 'greeting', 'greeting', 'greeting']);
    const byStart = [...roots]
      .sort((a, b) => Date.parse(b.start_timestamp) - Date.parse(a.start_timestamp))
      .map((r) => r.trace_id as string);
    const startedSince = (ms: number) =>
      roots.filter((r) => Date.parse(r.start_timestamp) >= Date.now() - ms).map((r) => r.trace_id as string);
    const hour = at('POST', '/get_trace_logs', 1).json;
    const listed = hour.results.map((t: Json) => t.trace_id as string);
    expect(hour).toMatchObject({ page: 1, page_size: 20, total: listed.length });
    // A minute's leeway either side of the hour (the replay ran a little before this check).
    expect(listed).toEqual(expect.arrayContaining(startedSince(3_600_000 - 60_000)));
    expect(startedSince(3_600_000 + 60_000)).toEqual(expect.arrayContaining(listed));
    expect(listed).toEqual(byStart.filter((id) => listed.includes(id)));
  });

  it('lists every root tree newest first: the traced function came after the experiment', async () => {
    const all = await sendRaw(
      { apiUrl: stack.info.apiUrl, apiKey: key.apiKey },
      'POST',
      '/api/parea/v1/get_trace_logs',
      '{"project_name": "default", "status": "success"}',
      { 'content-type': 'application/json' },
    );
    expect(all.json).toMatchObject({ total: 4, page: 1, total_pages: 1, page_size: 20 });
    expect(all.json.results.map((t: Json) => t.trace_name)).toEqual(['answer_question', 'greeting', 'greeting', 'greeting']);
    all.json.results.forEach(expectPythonTree);
  });
});

describe("the Python SDK's bodies (from its source)", () => {
  const span = (id: string, root: string, extra: Record<string, unknown> = {}) => ({
    configuration: null,
    inputs: { q: 'x' },
    output: 'y',
    target: null,
    latency: 0.5,
    time_to_first_token: null,
    input_tokens: 0,
    output_tokens: 0,
    total_tokens: 0,
    cost: null,
    scores: [],
    trace_id: id,
    parent_trace_id: root,
    root_trace_id: root,
    start_timestamp: '2026-12-01T10:00:00.000000+00:00',
    organization_id: null,
    project_uuid: 'whatever',
    error: null,
    status: null,
    deployment_id: null,
    cache_hit: false,
    output_for_eval_metrics: null,
    evaluation_metric_names: [],
    apply_eval_frac: 1.0,
    log_sample_rate: 1.0,
    feedback_score: null,
    trace_name: id,
    children: [],
    end_timestamp: '2026-12-01T10:00:00.500000+00:00',
    end_user_identifier: null,
    session_id: null,
    metadata: null,
    tags: [],
    experiment_uuid: null,
    images: [],
    comments: null,
    annotations: null,
    depth: 0,
    execution_order: 0,
    ...extra,
  });

  it('runs an experiment: create (retry-safe), spans, finish, list by uuid', async () => {
    const body = { name: 'py-exp', run_name: 'py-run', metadata: null, project_uuid: stack.info.projectId };
    const created = (await parea('POST', '/experiment', body)).json;
    // A retried create (tenacity retries on a timeout) answers the same experiment.
    expect((await parea('POST', '/experiment', body)).json.uuid).toBe(created.uuid);
    const taken = await parea('POST', '/experiment', { ...body, metadata: { other: 'run' } });
    expect(taken.status).toBe(400);
    expect(taken.json.error.code).toBe('run_name_taken');
    await parea(
      'POST',
      '/trace_log',
      span('py-child', 'py-root', {
        parent_trace_id: 'py-root',
        depth: 1,
        execution_order: 1,
        input_tokens: 10,
        output_tokens: 4,
        total_tokens: 14,
        cost: 0.002,
        experiment_uuid: created.uuid,
      }),
    );
    await parea(
      'POST',
      '/trace_log',
      span('py-root', 'py-root', { experiment_uuid: created.uuid, scores: [{ name: 'ok', score: 1, reason: 'fine' }] }),
    );
    const stats = await parea('POST', `/experiment/${created.uuid}/finished`, { status: 'completed', dataset_level_stats: [] });
    expect(stats.json).toEqual({
      parent_trace_stats: [
        {
          trace_id: 'py-root',
          latency: 0.5,
          input_tokens: 10,
          output_tokens: 4,
          total_tokens: 14,
          cost: 0.002,
          scores: [{ name: 'ok', score: 1, reason: 'fine' }],
        },
      ],
      dataset_level_stats: [],
    });
    const listed = (
      await parea('POST', '/experiments', {
        project_name: null,
        metadata_filter: null,
        experiment_name_filter: null,
        run_name_filter: null,
        experiment_uuids: [created.uuid],
      })
    ).json;
    expect(listed).toHaveLength(1);
    expectPythonExperiment(listed[0]);
    expect(listed[0]).toMatchObject({ uuid: created.uuid, metadata: null, num_samples: 1, status: 'completed' });
    // Filters: run name, metadata, experiment name; newest first.
    expect((await parea('POST', '/experiments', { run_name_filter: 'py-run' })).json.map((e: Json) => e.uuid)).toEqual([created.uuid]);
    expect((await parea('POST', '/experiments', { metadata_filter: { purpose: 'sdk-replay' } })).json.map((e: Json) => e.name)).toEqual([
      'greetings',
    ]);
    expect((await parea('POST', '/experiments', {})).json.map((e: Json) => e.name)).toEqual(['py-exp', 'greetings']);
    const paged = await send('POST', '/api/parea/v1/experiments?limit=1', '{}');
    expect(paged.json.map((e: Json) => e.name)).toEqual(['py-exp']);
    const next = await send('POST', `/api/parea/v1/experiments?limit=1&cursor=${paged.headers.get('x-next-cursor')}`, '{}');
    expect(next.json.map((e: Json) => e.name)).toEqual(['greetings']);
    expect(next.headers.get('x-next-cursor')).toBeNull();
  });

  it('takes feedback (asdict of FeedbackRequest) and get_trace_logs (asdict of QueryParams)', async () => {
    const fb = await parea('POST', '/feedback', { score: 0.5, trace_id: 'py-root', name: 'thumbs', target: null, comment: 'good' });
    expect(fb.status, fb.text).toBe(200);
    expect((await parea('GET', '/trace_log/py-root')).json).toMatchObject({
      feedback_score: 0.5,
      metadata: { feedback_name: 'thumbs', feedback_comment: 'good' },
    });
    for (const bad of [{ score: 1.5, trace_id: 'py-root' }, { score: 0.5 }, { score: 'x', trace_id: 'py-root' }])
      expect((await parea('POST', '/feedback', bad)).status).toBe(400);
    const q = {
      project_name: 'default',
      filter_field: 'trace_name',
      filter_key: null,
      filter_operator: 'equals',
      filter_value: 'py-root',
      page: 1,
      page_size: 20,
      time_range: 'na',
      status: null,
    };
    const page = (await parea('POST', '/get_trace_logs', q)).json;
    expect(page).toMatchObject({ total: 1, page: 1, total_pages: 1, page_size: 20 });
    expect(page.results[0]).toMatchObject({ trace_id: 'py-root', children_logs: [{ trace_id: 'py-child' }] });
  });

  it("stores a Python tracer's run (naive UTC times, the _parea fields) in the Parea trace it ran in", async () => {
    const run = {
      id: 'lc-py-1',
      name: 'LLMChain',
      run_type: 'chain',
      start_time: '2026-12-01T10:00:01.000000',
      end_time: '2026-12-01T10:00:02.250000',
      parent_run_id: null,
      inputs: { question: 'why?' },
      outputs: { text: 'because' },
      error: null,
      extra: { metadata: { k: 1 } },
      tags: ['t'],
      execution_order: 1,
      trace_id: 'lc-py-1',
      child_runs: [
        {
          id: 'lc-py-2',
          name: 'ChatOpenAI',
          run_type: 'llm',
          start_time: '2026-12-01T10:00:01.100000',
          end_time: '2026-12-01T10:00:02.000000',
          parent_run_id: 'lc-py-1',
          inputs: { prompts: ['Human: why?'] },
          outputs: {
            generations: [[{ text: 'because' }]],
            llm_output: { token_usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }, model_name: 'gpt-4o' },
          },
          extra: { invocation_params: { model_name: 'gpt-4o', temperature: 0.2 } },
          execution_order: 2,
          child_runs: [],
        },
      ],
      _parea_root_trace_id: 'py-root',
      _parea_parent_trace_id: 'py-root',
      _session_id: 's1',
      _tags: ['parea'],
      _metadata: { user: 'u' },
      _end_user_identifier: null,
      _deployment_id: null,
      _log_sample_rate: 1.0,
      project_uuid: 'whatever',
    };
    expect((await parea('POST', '/trace_log/langchain', run)).status).toBe(200);
    const tree = (await parea('GET', '/trace_log/py-root')).json;
    const chain = tree.children_logs.find((c: Json) => c.trace_id === 'lc-py-1');
    expect(chain).toMatchObject({
      parent_trace_id: 'py-root',
      root_trace_id: 'py-root',
      depth: 1,
      output: 'because',
      session_id: 's1',
      latency: 1.25,
      start_timestamp: '2026-12-01T10:00:01.000000Z',
      metadata: { user: 'u', k: '1' },
    });
    expect(chain.tags).toEqual(['parea', 't']);
    expect(chain.children_logs[0]).toMatchObject({
      trace_name: 'ChatOpenAI',
      input_tokens: 3,
      output_tokens: 1,
      total_tokens: 4,
      configuration: { model: 'gpt-4o', model_params: { temp: 0.2 }, messages: [{ role: 'user', content: 'Human: why?' }] },
    });
    for (const bad of [[], { name: 'no id' }, { id: 'x', child_runs: [{ name: 'no id' }] }])
      expect((await parea('POST', '/trace_log/langchain', bad)).status).toBe(400);
  });
});

describe('get_trace_logs: filters, ranges, pages, totals', () => {
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  beforeAll(async () => {
    // A separate project, so the totals are this block's own.
    const post = (s: Record<string, unknown>) =>
      send('POST', '/api/parea/v1/trace_log', JSON.stringify(s), { 'content-type': 'application/json' });
    for (let i = 0; i < 12; i++) {
      const id = `gl-${String(i).padStart(2, '0')}`;
      await post({
        trace_id: id,
        root_trace_id: id,
        trace_name: i % 3 === 0 ? 'fails' : 'works',
        start_timestamp: at(i < 6 ? i * 5 : 60 * 24 * (i - 4)),
        ...(i % 3 === 0 ? { status: 'error' } : {}),
      });
      await post({
        trace_id: `${id}-c`,
        root_trace_id: id,
        parent_trace_id: id,
        trace_name: 'child',
        start_timestamp: at(i < 6 ? i * 5 : 60 * 24 * (i - 4)),
      });
    }
  });
  const list = (q: Record<string, unknown>) =>
    send('POST', '/api/parea/v1/get_trace_logs', JSON.stringify({ project_name: 'default', ...q }), {
      'content-type': 'application/json',
      'accept-encoding': 'gzip',
    });
  const ids = (page: Json) => page.results.map((t: Json) => t.trace_id).filter((id: string) => id.startsWith('gl-'));

  it('time ranges and statuses come from the index and its counters, exact', async () => {
    const hour = (await list({ time_range: '1h', page_size: 100 })).json;
    expect(ids(hour)).toEqual(['gl-00', 'gl-01', 'gl-02', 'gl-03', 'gl-04', 'gl-05']);
    // The replayed SDK runs' roots are in the last hour too: the total is every root listed.
    expect(hour.total).toBe(hour.results.length);
    const week = (await list({ time_range: '7d', page_size: 100 })).json;
    expect(ids(week)).toEqual(['gl-00', 'gl-01', 'gl-02', 'gl-03', 'gl-04', 'gl-05', 'gl-06', 'gl-07', 'gl-08', 'gl-09', 'gl-10']);
    expect(week.total).toBe(week.results.length);
    const inHour = hour.total;
    const errors = (await list({ status: 'error', page_size: 2 })).json;
    expect(ids(errors)).toEqual(['gl-00', 'gl-03']);
    expect(errors).toMatchObject({ total: 4, total_pages: 2, total_exact: true });
    expect(ids((await list({ status: 'error', page_size: 2, page: 2 })).json)).toEqual(['gl-06', 'gl-09']);
    expect(ids((await list({ status: 'error', time_range: '1h' })).json)).toEqual(['gl-00', 'gl-03']);
    expect((await list({ status: 'error', time_range: '1h' })).json.total).toBe(2);
    // Oldest first.
    expect(ids((await list({ sort_order: 'asc', page_size: 3 })).json)[0]).toBe('gl-11');
    // A status change moves the root between the status counters.
    await send(
      'PUT',
      '/api/parea/v1/trace_log',
      JSON.stringify({ trace_id: 'gl-01', root_trace_id: 'gl-01', field_name_to_value_map: { status: 'error' } }),
      { 'content-type': 'application/json' },
    );
    expect((await list({ status: 'error', time_range: '1h' })).json.total).toBe(3);
    expect((await list({ time_range: '1h' })).json.total).toBe(inHour);
  });

  it('a span filter matches the root span, counted as it reads', async () => {
    const page = (await list({ filter_field: 'trace_name', filter_operator: 'equals', filter_value: 'fails', page_size: 3 })).json;
    expect(ids(page)).toEqual(['gl-00', 'gl-03', 'gl-06']);
    expect(page).toMatchObject({ total: 4, total_pages: 2, total_exact: true });
    // The children are in the trees, not listed on their own.
    expect(page.results[0].children_logs.map((c: Json) => c.trace_name)).toEqual(['child']);
    expect(ids((await list({ filter_field: 'trace_name', filter_operator: 'equals', filter_value: 'child' })).json)).toEqual([]);
  });

  it('refuses bad QueryParams with a 400 naming the field', async () => {
    for (const [q, field] of [
      [{ time_range: '2w' }, 'time_range'],
      [{ page: 0 }, 'page'],
      [{ page_size: 101 }, 'page_size'],
      [{ sort_order: 'up' }, 'sort_order'],
      [{ filter_field: 'latency', filter_operator: 'bogus', filter_value: '1' }, 'filter'],
    ] as const) {
      const res = await list(q);
      expect(res.status, JSON.stringify(q)).toBe(400);
      expect(res.json.error.message).toMatch(field === 'filter' ? /operator/ : new RegExp(`^${field}`));
    }
  });

  it('gzips the page when asked (as both SDKs ask)', async () => {
    const res = await rawRequest(stack.info.apiUrl, {
      method: 'POST',
      path: '/api/parea/v1/get_trace_logs',
      headers: { 'x-api-key': stack.info.apiKey, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: '{"project_name":"default","page_size":100}',
    });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(res.bytes).toString('utf8')).total).toBe(18);
  });
});
