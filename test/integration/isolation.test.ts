/**
 * Tenant isolation over the whole route table. Three tenants: two projects of one organization
 * (a key reaches exactly one project) and a project of another organization, each with traces
 * (uploaded and dropped), evaluations, uploads, spans and experiments, with the same file name,
 * experiment name, span id and project name in every tenant. For every route (a route without a
 * case fails the run), each attacker tries the victim's resources: the victim's path with its own
 * key, its own path with the victim's ids, cursors, experiments and files. Nothing is readable,
 * listable, deletable or writable across; afterwards every tenant's data is exactly as it was.
 * Then the S3 side: presigned uploads land only under the caller's own prefix whatever the file
 * name, and a drop into a prefix that is not one project of its organization is ingested nowhere.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { routes, type RouteDef } from '../../functions/routes.js';
import { tenantStore } from '../../functions/shared/services.js';
import { childOf, exporterFor, hexSpanId, hexTraceId, mustExport, recordSpans } from '../support/otlp.js';
import { rawRequest } from '../support/raw-http.js';
import { dropAndSettle, projectCounter, projectTraces, projectUploads, putObject, useTestStack } from '../support/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

type Json = any;

interface Tenant {
  tag: string;
  apiKey: string;
  organizationId: string;
  projectId: string;
  projectName: string;
  /** Its traces, uploads, evaluations and spans, as made in setup. */
  traces: string[];
  sharedUploadIds: string[];
  uploads: string[];
  evaluations: string[];
  spans: string[];
  /** Only this tenant has a file of this name, a source and a judge of these names. */
  onlyFilename: string;
  source: string;
  judge: string;
  listCursor: string;
  experimentCursor: string;
  /** Its Parea experiment (POST /experiment `{name: 'exp-iso', run_name: 'r'}`), with one tree of its own. */
  experimentUuid: string;
}

const SHARED_FILE = 'shared-name.jsonl';
const SHARED_EXPERIMENT = 'exp-shared';
const secretExperiment = (t: Pick<Tenant, 'tag'>) => `exp-${t.tag}-secret`;

const stack = useTestStack();
let a1: Tenant;
let a2: Tenant;
let b: Tenant;
let tenants: Tenant[];

const projectPath = (c: { organizationId: string; projectId: string }) =>
  `/api/v1/organizations/${c.organizationId}/projects/${c.projectId}`;

async function call(
  key: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; text: string; headers: Record<string, unknown> }> {
  const res = await rawRequest(stack.info.apiUrl, {
    method,
    path,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  let parsed: Json;
  try {
    parsed = res.text === '' ? undefined : JSON.parse(res.text);
  } catch {
    parsed = res.text;
  }
  return { status: res.status, body: parsed, text: res.text, headers: res.headers };
}

async function presignAndPut(t: Tenant, filename: string, text: string) {
  const presign = await call(t.apiKey, 'POST', `${projectPath(t)}/traces/upload`, {
    filename,
    type: 'application/jsonl',
    size: Buffer.byteLength(text),
  });
  expect(presign.status, presign.text).toBe(200);
  const put = await fetch(presign.body.url as string, { method: 'PUT', headers: { 'Content-Type': 'application/jsonl' }, body: text });
  expect(put.status).toBe(200);
  await put.arrayBuffer();
  return presign.body as { upload_key: string; url: string };
}

async function uploadFile(t: Tenant, filename: string, text: string): Promise<{ trace_ids: string[]; upload_id: string }> {
  await presignAndPut(t, filename, text);
  const created = await call(t.apiKey, 'POST', `${projectPath(t)}/traces`, { filename });
  expect(created.status, created.text).toBe(200);
  return created.body;
}

function span(id: string, root: string, experiment: string, tag: string) {
  return {
    trace_id: id,
    root_trace_id: root,
    parent_trace_id: root,
    experiment_uuid: experiment,
    trace_name: `${tag} ${id}`,
    start_timestamp: '2026-11-01T10:00:00.000000+00:00',
    status: 'success',
    scores: [{ name: 'accuracy', score: 0.5 }],
    metadata: { owner: tag },
  };
}

/** A tenant with data of every kind, named alike across tenants wherever a name could collide. */
async function makeTenant(tag: string, organization: string, project: string): Promise<Tenant> {
  const key = await createApiKey(tenantStore(), { organization, project });
  const t: Tenant = {
    tag,
    ...key,
    projectName: project,
    traces: [],
    sharedUploadIds: [],
    uploads: [],
    evaluations: [],
    spans: [],
    onlyFilename: `only-${tag}.jsonl`,
    source: `src-${tag}`,
    judge: `judge-${tag}`,
    listCursor: '',
    experimentCursor: '',
    experimentUuid: '',
  };
  const shared = await uploadFile(
    t,
    SHARED_FILE,
    [0, 1, 2].map((i) => `${JSON.stringify({ input: `${tag} secret question ${i}`, source: t.source, owner: tag })}\n`).join(''),
  );
  t.sharedUploadIds = shared.trace_ids;
  // A record with a string trace_id is a span as well as a trace.
  const only = await uploadFile(
    t,
    t.onlyFilename,
    `${JSON.stringify({ input: `${tag} only`, owner: tag })}\n${JSON.stringify(span(`${tag}-file-span`, `${tag}-file-span`, secretExperiment(t), tag))}\n`,
  );
  await dropAndSettle(
    stack,
    `drop/${t.organizationId}/${t.projectId}/d/${tag}.jsonl`,
    `{"input":"${tag} dropped one","owner":"${tag}"}\n{"input":"${tag} dropped two","owner":"${tag}"}\n`,
  );
  t.traces = (await projectTraces(stack, t.organizationId, t.projectId)).map((x) => x.id).sort();
  expect(t.traces).toHaveLength(7);
  t.uploads = [
    shared.upload_id,
    only.upload_id,
    ...(await projectUploads(stack, t.organizationId, t.projectId)).map((u) => String(u.upload_id)),
  ].filter((v, i, all) => all.indexOf(v) === i);
  expect(t.uploads).toHaveLength(3);

  for (const [trace, judge, passed] of [
    [shared.trace_ids[0]!, t.judge, true],
    [shared.trace_ids[0]!, 'judge-shared', undefined],
    [shared.trace_ids[1]!, 'judge-shared', false],
  ] as const) {
    const res = await call(t.apiKey, 'POST', `${projectPath(t)}/trace-evaluations`, {
      trace_id: trace,
      judge_id: judge,
      ...(passed === undefined ? {} : { passed }),
    });
    expect(res.status, res.text).toBe(201);
    t.evaluations.push(res.body.id as string);
  }

  const spans = [
    span(`${tag}-root`, `${tag}-root`, SHARED_EXPERIMENT, tag),
    span(`${tag}-child`, `${tag}-root`, SHARED_EXPERIMENT, tag),
    span('shared-span', 'shared-span', SHARED_EXPERIMENT, tag),
    span(`${tag}-secret-root`, `${tag}-secret-root`, secretExperiment(t), tag),
    span(`${tag}-secret-child`, `${tag}-secret-root`, secretExperiment(t), tag),
  ];
  for (const s of spans) {
    const res = await call(t.apiKey, 'POST', '/api/parea/v1/trace_log', s);
    expect(res.status, res.text).toBe(200);
  }
  const update = await call(t.apiKey, 'PUT', '/api/parea/v1/trace_log', {
    trace_id: `${tag}-child`,
    root_trace_id: `${tag}-root`,
    field_name_to_value_map: { output: `${tag} output` },
  });
  expect(update.status, update.text).toBe(200);
  t.spans = [...spans.map((s) => s.trace_id), `${tag}-file-span`];

  const list = await call(t.apiKey, 'GET', `${projectPath(t)}/traces?page_size=1`);
  t.listCursor = list.body.next_cursor as string;
  expect(t.listCursor).toEqual(expect.any(String));
  const experiment = await call(t.apiKey, 'POST', `/api/parea/v1/experiment/${SHARED_EXPERIMENT}/trace_logs?limit=1`, {});
  t.experimentCursor = experiment.headers['x-next-cursor'] as string;
  expect(t.experimentCursor).toEqual(expect.any(String));
  const created = await call(t.apiKey, 'POST', '/api/parea/v1/experiment', { name: 'exp-iso', run_name: 'r', metadata: { owner: tag } });
  expect(created.status, created.text).toBe(200);
  t.experimentUuid = created.body.uuid as string;
  const inExperiment = await call(t.apiKey, 'POST', '/api/parea/v1/trace_log', {
    ...span(`${tag}-exp-root`, `${tag}-exp-root`, t.experimentUuid, tag),
    start_timestamp: '2026-11-02T10:00:00Z',
  });
  expect(inExperiment.status).toBe(200);
  return t;
}

/** Everything a tenant has, read with its own key (and from the table): compared before and after. */
async function snapshot(t: Tenant) {
  const get = async (path: string, method = 'GET', body?: unknown) => {
    const res = await call(t.apiKey, method, path, body);
    return { status: res.status, body: res.body as unknown };
  };
  const p = projectPath(t);
  // Every read at once (none writes): the snapshot of a tenant is the same, read in any order.
  const reads: Array<[string, Promise<unknown>]> = [
    ['organization', get('/api/v1/organizations')],
    ['list', get(`${p}/traces?page_size=500&sort_order=asc`)],
    ['sources', get(`${p}/traces/sources`)],
    ['evaluations', get(`${p}/trace-evaluations?page_size=500`)],
    [
      'experiments',
      Promise.all([
        get(`/api/parea/v1/experiment/${SHARED_EXPERIMENT}/trace_logs`, 'POST', {}),
        get(`/api/parea/v1/experiment/${secretExperiment(t)}/trace_logs`, 'POST', {}),
      ]),
    ],
    ['counter', projectCounter(stack, t.organizationId, t.projectId)],
    ['pareaExperiments', get('/api/parea/v1/experiments', 'POST', { experiment_name_filter: 'exp-iso' })],
    ['pareaStats', get(`/api/parea/v1/experiment/${t.experimentUuid}/stats`)],
    ['items', projectTraces(stack, t.organizationId, t.projectId).then((items) => items.map((x) => x.id).sort())],
    [
      'uploadItems',
      projectUploads(stack, t.organizationId, t.projectId).then((uploads) =>
        uploads.map((u) => `${String(u.upload_id)} ${String(u.status)} ${String(u.traces)}`).sort(),
      ),
    ],
    ...t.traces.map((id): [string, Promise<unknown>] => [`trace ${id}`, get(`${p}/traces/${id}`)]),
    ...t.evaluations.map((id): [string, Promise<unknown>] => [`evaluation ${id}`, get(`${p}/trace-evaluations/${id}`)]),
    ...t.uploads.map((id): [string, Promise<unknown>] => [`upload ${id}`, get(`${p}/uploads/${id}`)]),
    ...t.spans.map((id): [string, Promise<unknown>] => [`span ${id}`, get(`/api/parea/v1/trace_log/${id}`)]),
  ];
  const values = await Promise.all(reads.map(([, value]) => value));
  return Object.fromEntries(reads.map(([name], i) => [name, values[i]])) as Record<string, unknown>;
}
const before = new Map<string, Awaited<ReturnType<typeof snapshot>>>();

beforeAll(async () => {
  a1 = await makeTenant('a1', 'iso-org-a', 'main');
  a2 = await makeTenant('a2', 'iso-org-a', 'second');
  b = await makeTenant('b', 'iso-org-b', 'main');
  tenants = [a1, a2, b];
  expect(a2.organizationId).toBe(a1.organizationId);
  expect(a2.projectId).not.toBe(a1.projectId);
  await stack.settled();
  for (const t of tenants) before.set(t.tag, await snapshot(t));
}, 180_000);

// ---------------------------------------------------------------------------
// Helpers for the cases
// ---------------------------------------------------------------------------

/** The victim's project path, and the two paths that mix its organization or project with the attacker's. */
function foreignProjects(att: Tenant, vic: Tenant): Array<{ organizationId: string; projectId: string }> {
  const all = [
    { organizationId: vic.organizationId, projectId: vic.projectId },
    { organizationId: att.organizationId, projectId: vic.projectId },
    { organizationId: vic.organizationId, projectId: att.projectId },
  ];
  return all.filter((p) => !(p.organizationId === att.organizationId && p.projectId === att.projectId));
}

/** Polls a job of the tenant's until it ends; answers it completed. */
async function waitJob(t: Tenant, kind: 'exports' | 'deletions', started: Json): Promise<Json> {
  expect(started.id, JSON.stringify(started)).toEqual(expect.any(String));
  for (let i = 0; i < 200; i++) {
    const res = await call(t.apiKey, 'GET', `${projectPath(t)}/${kind}/${String(started.id)}`);
    expect(res.status).toBe(200);
    if (res.body.status === 'completed') return res.body;
    expect(res.body.status).not.toBe('failed');
    await sleep(50);
  }
  throw new Error(`job ${String(started.id)} did not end`);
}

/** The victim's job (started with `body`) is a 404 to the attacker, in the attacker's project and in every foreign one. */
async function foreignJob(att: Tenant, vic: Tenant, kind: 'exports' | 'deletions', body: Json): Promise<void> {
  const victims = await call(vic.apiKey, 'POST', `${projectPath(vic)}/${kind}`, body);
  expect(victims.status).toBe(202);
  const id = String(victims.body.id);
  await expectNotFound(att.apiKey, 'GET', `${projectPath(att)}/${kind}/${id}`);
  for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/${kind}/${id}`);
  await waitJob(vic, kind, victims.body);
}

async function expectNotFound(key: string, method: string, path: string, body?: unknown): Promise<void> {
  const res = await call(key, method, path, body);
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(404);
  expect(res.body.error.code).toBe('not_found');
}

/** Every trace of a list answer belongs to the caller, and none is the victim's. */
function onlyOwn(
  att: Tenant,
  vic: Tenant,
  traces: Array<{ id: string; organization_id: string; project_id: string; data: unknown }>,
): void {
  for (const t of traces) {
    expect(t.organization_id).toBe(att.organizationId);
    expect(t.project_id).toBe(att.projectId);
    expect(vic.traces).not.toContain(t.id);
    expect(JSON.stringify(t.data)).not.toContain(`"owner":"${vic.tag}"`);
  }
}

function* treeNodes(trees: Json[]): Generator<Json> {
  const stack = [...trees];
  while (stack.length) {
    const n = stack.pop();
    yield n;
    stack.push(...(n.children_logs ?? []));
  }
}

/** Every node of an experiment answer is the caller's: stamped with its organization and project, and none of the victim's spans. */
function ownTrees(att: Tenant, vic: Tenant, trees: Json[]): void {
  for (const n of treeNodes(trees)) {
    expect(n.organization_id).toBe(att.organizationId);
    expect(n.project_uuid).toBe(att.projectId);
    expect(n.metadata?.owner, `node ${n.trace_id}`).not.toBe(vic.tag);
  }
}

async function victimSpanUnchanged(vic: Tenant, id: string): Promise<void> {
  const now = await call(vic.apiKey, 'GET', `/api/parea/v1/trace_log/${id}`);
  expect({ status: now.status, body: now.body }).toEqual(before.get(vic.tag)![`span ${id}`]);
}

/** A catalogue route (not served): a foreign project is not found; the caller's own answers not_implemented. */
function catalogueCase(method: string, suffix: string): Case {
  return async (att, vic) => {
    const body = method === 'GET' || method === 'DELETE' ? undefined : { name: vic.judge, trace_ids: vic.traces, judge_id: vic.judge };
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, method, `${projectPath(p)}${suffix}`, body);
    const own = await call(att.apiKey, method, `${projectPath(att)}${suffix}`, body);
    expect(own.status).toBe(404);
    expect(own.body.error.code).toBe('not_implemented');
  };
}

// ---------------------------------------------------------------------------
// One case per route: what an attacker tries with it
// ---------------------------------------------------------------------------

type Case = (att: Tenant, vic: Tenant) => Promise<void>;
const P = '/api/v1/organizations/{organizationId}/projects/{projectId}';
const PAREA = '/api/parea/v1';

/** An open route (auth none) answers every caller alike, key or none, and names no tenant. */
async function openRoute(path: string, att: Tenant, vic: Tenant): Promise<void> {
  const answers = await Promise.all([call(att.apiKey, 'GET', path), call(vic.apiKey, 'GET', path), call('', 'GET', path)]);
  for (const a of answers) expect(a.status, a.text).toBe(200);
  expect(answers[1]!.text).toBe(answers[0]!.text);
  expect(answers[2]!.text).toBe(answers[0]!.text);
  for (const t of [att, vic]) {
    expect(answers[0]!.text).not.toContain(t.organizationId);
    expect(answers[0]!.text).not.toContain(t.projectId);
  }
}

const CASES: Record<string, Case> = {
  'GET /health': (att, vic) => openRoute('/health', att, vic),
  'GET /api/v1/openapi.json': (att, vic) => openRoute('/api/v1/openapi.json', att, vic),

  'GET /api/v1/organizations': async (att) => {
    for (const headers of [{}, { authorization: `Bearer ${att.apiKey}` }] as Array<Record<string, string>>) {
      const res = await call(
        att.apiKey,
        'GET',
        `/api/v1/organizations?organizationId=${a1.organizationId}&projectId=${b.projectId}`,
        undefined,
        headers,
      );
      expect(res.status).toBe(200);
      // Its own organization and only its key's project (a sibling project of the same organization is not listed).
      expect(res.body.data).toEqual({
        id: att.organizationId,
        name: expect.any(String),
        owner_id: null,
        projects: [{ id: att.projectId, name: att.projectName }],
      });
    }
  },

  [`GET ${P}/traces/export`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic))
      await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces/export?source=${encodeURIComponent(vic.source)}`);
    const res = await call(att.apiKey, 'GET', `${projectPath(att)}/traces/export?organization_id=${vic.organizationId}`);
    expect(res.status).toBe(400);
    const own = await call(att.apiKey, 'GET', `${projectPath(att)}/traces/export`);
    expect(own.status, own.text).toBe(200);
    const ids = own.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string; organization_id: string; project_id: string });
    expect(ids.map((t) => t.id).sort()).toEqual([...att.traces].sort());
    for (const t of ids) expect([t.organization_id, t.project_id]).toEqual([att.organizationId, att.projectId]);
    // The victim's source is no filter of the caller's: nothing.
    expect((await call(att.apiKey, 'GET', `${projectPath(att)}/traces/export?source=${encodeURIComponent(vic.source)}`)).text).toBe('');
    // A cursor of the victim's export is refused.
    const first = await fetch(`${stack.info.apiUrl}${projectPath(vic)}/traces/export`, { headers: { 'x-api-key': vic.apiKey } });
    await first.text();
    const cursor = first.headers.get('x-next-cursor');
    if (cursor) expect((await call(att.apiKey, 'GET', `${projectPath(att)}/traces/export?cursor=${cursor}`)).status).toBe(400);
  },

  [`GET ${P}/experiments/{experimentUuid}/export`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic))
      await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/experiments/${SHARED_EXPERIMENT}/export`);
    expect((await call(att.apiKey, 'GET', `${projectPath(att)}/experiments/${secretExperiment(vic)}/export`)).text).toBe('');
    const shared = await call(att.apiKey, 'GET', `${projectPath(att)}/experiments/${SHARED_EXPERIMENT}/export`);
    expect(shared.status).toBe(200);
    for (const line of shared.text.split('\n').filter(Boolean)) {
      // Span ids may be the same in two projects: each line is the caller's own span (stamped with its project).
      const span = JSON.parse(line) as { trace_id: string; organization_id: string; project_uuid: string };
      expect([span.organization_id, span.project_uuid]).toEqual([att.organizationId, att.projectId]);
    }
  },

  [`POST ${P}/exports`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/exports`, {});
    const job = await waitJob(
      att,
      'exports',
      (await call(att.apiKey, 'POST', `${projectPath(att)}/exports`, { experiment_uuid: secretExperiment(vic) })).body,
    );
    expect(job.exported).toBe(0);
    const all = await waitJob(att, 'exports', (await call(att.apiKey, 'POST', `${projectPath(att)}/exports`, {})).body);
    const file = await (await fetch(String(all.download_url))).text();
    expect(
      file
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id)
        .sort(),
    ).toEqual([...att.traces].sort());
  },

  [`GET ${P}/exports/{jobId}`]: (att, vic) => foreignJob(att, vic, 'exports', { source: vic.source }),

  [`POST ${P}/deletions`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic))
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/deletions`, { source: vic.source });
    // The victim's source and experiment match nothing in the caller's project: counted 0, deleted 0, and the victim keeps its data.
    const count = await call(att.apiKey, 'POST', `${projectPath(att)}/deletions`, { source: vic.source, dry_run: true });
    expect(count.body).toEqual({ matching: 0, exact: true });
    const job = await waitJob(
      att,
      'deletions',
      (await call(att.apiKey, 'POST', `${projectPath(att)}/deletions`, { source: vic.source })).body,
    );
    expect(job.deleted).toBe(0);
    const spans = await waitJob(
      att,
      'deletions',
      (await call(att.apiKey, 'POST', `${projectPath(att)}/deletions`, { experiment_uuid: secretExperiment(vic) })).body,
    );
    expect(spans.deleted).toBe(0);
  },

  // A deletion that matches nothing of the victim's own: its job is what the attacker must not see.
  [`GET ${P}/deletions/{jobId}`]: (att, vic) => foreignJob(att, vic, 'deletions', { source: 'no-such-source' }),

  [`GET ${P}/stats`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/stats?time_range=1d`);
    // The victim's ids in the query change nothing; every tenant's traces were made just now, its spans start at 2026-11-01T10.
    const traces = await call(
      att.apiKey,
      'GET',
      `${projectPath(att)}/stats?time_range=1d&organization_id=${vic.organizationId}&project_id=${vic.projectId}`,
    );
    expect(traces.status, traces.text).toBe(200);
    expect(traces.body.totals.traces).toBe(att.traces.length);
    // Exactly the caller's own spans (other cases post more into its project), as its experiments list them, and none of the victim's.
    const spans = await call(att.apiKey, 'GET', `${projectPath(att)}/stats?from=2026-11-01T10:00:00Z&to=2026-11-01T11:00:00Z`);
    expect(spans.status, spans.text).toBe(200);
    const experiments = [...new Set([SHARED_EXPERIMENT, ...tenants.map(secretExperiment)])];
    let own = 0;
    // Spans that started in the window (an OTLP export adds spans of today to the caller's experiments).
    const inWindow = (n: Json) => String(n.start_timestamp).startsWith('2026-11-01T10');
    for (const e of experiments)
      own += [...treeNodes((await call(att.apiKey, 'POST', `/api/parea/v1/experiment/${e}/trace_logs`, {})).body as Json[])].filter(
        inWindow,
      ).length;
    expect(own).toBeGreaterThanOrEqual(att.spans.length);
    expect(spans.body.totals.spans).toBe(own);
  },

  [`POST ${P}/traces/upload`]: async (att, vic) => {
    const body = { filename: 'intrude.jsonl', type: 'application/jsonl', size: 10 };
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/traces/upload`, body);
    // The victim's ids in the body change nothing: the URL is for the caller's own prefix.
    const res = await call(att.apiKey, 'POST', `${projectPath(att)}/traces/upload`, {
      ...body,
      organization_id: vic.organizationId,
      project_id: vic.projectId,
      key: `uploads/${vic.organizationId}/${vic.projectId}/x.jsonl`,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      organization_id: att.organizationId,
      project_id: att.projectId,
      upload_key: `uploads/${att.organizationId}/${att.projectId}/intrude.jsonl`,
    });
    expectUrlUnder(res.body.url as string, res.body.upload_key as string, att);
  },

  [`POST ${P}/traces`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) {
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/traces`, { filename: vic.onlyFilename });
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/traces`, { filename: SHARED_FILE });
    }
    // From its own project, the victim's file does not exist, and the shared name is its own file.
    await expectNotFound(att.apiKey, 'POST', `${projectPath(att)}/traces`, { filename: vic.onlyFilename });
    const own = await call(att.apiKey, 'POST', `${projectPath(att)}/traces`, {
      filename: SHARED_FILE,
      organization_id: vic.organizationId,
      project_id: vic.projectId,
    });
    expect(own.status, own.text).toBe(200);
    expect(own.body.trace_ids).toEqual(att.sharedUploadIds);
    for (const id of own.body.trace_ids as string[]) expect(vic.traces).not.toContain(id);
  },

  [`GET ${P}/traces`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) {
      for (const q of [
        '',
        '?page_size=500',
        `?cursor=${encodeURIComponent(vic.listCursor)}&page_size=1`,
        `?source=${vic.source}`,
        `?search=${vic.tag}`,
      ]) {
        await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces${q}`);
      }
    }
    const own = (q: string) => call(att.apiKey, 'GET', `${projectPath(att)}/traces${q}`);
    // The victim's cursor, with the very query it was issued for.
    const cursor = await own(`?page_size=1&cursor=${encodeURIComponent(vic.listCursor)}`);
    expect(cursor.status, cursor.text).toBe(400);
    expect(cursor.body.error.code).toBe('invalid_cursor');
    const all = await own('?page_size=500');
    expect(all.status).toBe(200);
    expect(all.body.total_count).toBe(att.traces.length);
    onlyOwn(att, vic, all.body.traces);
    for (const q of [
      `?source=${vic.source}`,
      `?search=${vic.tag}%20secret`,
      `?search=${vic.tag}%20dropped`,
      `?judge_id=${vic.judge}`,
      `?judgeId=${vic.judge}&status=pass`,
      `?sort_by=filename&search=only-${vic.tag}`,
    ]) {
      const res = await own(q);
      expect(res.status, `${q}: ${res.text}`).toBe(200);
      expect(res.body.traces, q).toEqual([]);
      expect(res.body.total_count, q).toBe(0);
    }
    for (const q of ['?judge_id=judge-shared', '?source=upload', '?sort_by=filename&sort_order=asc&time_range=1d']) {
      const res = await own(q);
      expect(res.status, `${q}: ${res.text}`).toBe(200);
      onlyOwn(att, vic, res.body.traces);
    }
  },

  [`GET ${P}/traces/sources`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces/sources`);
    const own = await call(att.apiKey, 'GET', `${projectPath(att)}/traces/sources`);
    expect(own.status).toBe(200);
    expect(own.body.sources).toContain(att.source);
    expect(own.body.sources).not.toContain(vic.source);
  },

  [`GET ${P}/traces/{traceId}`]: async (att, vic) => {
    for (const id of vic.traces) {
      for (const p of [...foreignProjects(att, vic), att]) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces/${id}`);
    }
    // Its own trace through the victim's path is not served either.
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces/${att.traces[0]}`);
  },

  [`DELETE ${P}/traces/{traceId}`]: async (att, vic) => {
    for (const id of vic.traces) {
      for (const p of [...foreignProjects(att, vic), att]) await expectNotFound(att.apiKey, 'DELETE', `${projectPath(p)}/traces/${id}`);
    }
    for (const id of vic.traces) expect((await call(vic.apiKey, 'GET', `${projectPath(vic)}/traces/${id}`)).status).toBe(200);
    expect(await projectCounter(stack, vic.organizationId, vic.projectId)).toEqual(before.get(vic.tag)!.counter);
  },

  [`GET ${P}/uploads/{uploadId}`]: async (att, vic) => {
    for (const id of vic.uploads) {
      for (const p of [...foreignProjects(att, vic), att]) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/uploads/${id}`);
    }
  },

  [`POST ${P}/trace-evaluations`]: async (att, vic) => {
    const evaluation = (trace: string) => ({ trace_id: trace, judge_id: 'intruder', passed: false, score: 0, reasoning: 'x' });
    for (const p of foreignProjects(att, vic)) {
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/trace-evaluations`, evaluation(vic.traces[0]!));
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/trace-evaluations`, evaluation(att.traces[0]!));
    }
    for (const id of vic.traces) await expectNotFound(att.apiKey, 'POST', `${projectPath(att)}/trace-evaluations`, evaluation(id));
    const list = await call(vic.apiKey, 'GET', `${projectPath(vic)}/trace-evaluations?judge_id=intruder`);
    expect(list.body).toEqual({ trace_evaluations: [], count: 0, total: 0 });
  },

  [`GET ${P}/trace-evaluations`]: async (att, vic) => {
    for (const p of foreignProjects(att, vic)) {
      await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/trace-evaluations`);
      await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/trace-evaluations?trace_id=${vic.traces[0]}`);
    }
    const empty = { trace_evaluations: [], count: 0, total: 0 };
    for (const id of vic.traces) {
      expect((await call(att.apiKey, 'GET', `${projectPath(att)}/trace-evaluations?trace_id=${id}`)).body).toEqual(empty);
      expect((await call(att.apiKey, 'GET', `${projectPath(att)}/trace-evaluations?traceId=${id}&judgeId=judge-shared`)).body).toEqual(
        empty,
      );
    }
    expect((await call(att.apiKey, 'GET', `${projectPath(att)}/trace-evaluations?judge_id=${vic.judge}`)).body).toEqual(empty);
    const all = await call(att.apiKey, 'GET', `${projectPath(att)}/trace-evaluations?page_size=500&judge_id=judge-shared`);
    expect(all.body.total).toBe(2);
    for (const e of all.body.trace_evaluations) {
      expect(e).toMatchObject({ organization_id: att.organizationId, project_id: att.projectId });
      expect(vic.evaluations).not.toContain(e.id);
    }
  },

  [`GET ${P}/trace-evaluations/{evaluationId}`]: async (att, vic) => {
    for (const id of vic.evaluations) {
      for (const p of [...foreignProjects(att, vic), att])
        await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/trace-evaluations/${id}`);
    }
  },

  [`POST ${PAREA}/project`]: async (att, vic) => {
    const res = await call(att.apiKey, 'POST', '/api/parea/v1/project', { name: vic.projectName, organization_id: vic.organizationId });
    expect(res.status, res.text).toBe(200);
    const uuid = res.body.uuid as string;
    // Get-or-create by name in the KEY's organization: never the other organization's project.
    expect(await tenantStore().getProject(att.organizationId, uuid)).not.toBeNull();
    if (att.organizationId !== vic.organizationId) {
      expect(uuid).not.toBe(vic.projectId);
      expect(await tenantStore().getProject(vic.organizationId, uuid)).toBeNull();
    } else {
      // Same organization: its project of that name, as documented. Its data stays out of reach (every other case).
      expect(uuid).toBe(vic.projectId);
    }
    // A new name makes a new project in the attacker's organization, never in another.
    const fresh = await call(att.apiKey, 'POST', '/api/parea/v1/project', { name: `new-${att.tag}-${randomUUID()}` });
    expect(fresh.body.was_created).toBe(true);
    expect(await tenantStore().getProject(att.organizationId, fresh.body.uuid as string)).not.toBeNull();
    if (att.organizationId !== vic.organizationId)
      expect(await tenantStore().getProject(vic.organizationId, fresh.body.uuid as string)).toBeNull();
  },

  [`POST ${PAREA}/trace_log`]: async (att, vic) => {
    // The victim's span ids, its experiment, even its organization and project in the body: stored in the caller's own project.
    for (const id of [`${vic.tag}-root`, `${vic.tag}-child`, 'shared-span']) {
      const intruder = {
        ...span(id, `${vic.tag}-root`, secretExperiment(vic), att.tag),
        trace_name: 'intruder',
        organization_id: vic.organizationId,
        project_uuid: vic.projectId,
      };
      const res = await call(att.apiKey, 'POST', '/api/parea/v1/trace_log', intruder);
      expect(res.status, res.text).toBe(200);
      await victimSpanUnchanged(vic, id);
      const own = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${id}`);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({
        trace_id: id,
        trace_name: 'intruder',
        organization_id: att.organizationId,
        project_uuid: att.projectId,
      });
    }
    // Restore the attacker's own shared-span (other cases compare its data).
    const restored = await call(
      att.apiKey,
      'POST',
      '/api/parea/v1/trace_log',
      span('shared-span', 'shared-span', SHARED_EXPERIMENT, att.tag),
    );
    expect(restored.status).toBe(200);
    const victimTrees = await call(vic.apiKey, 'POST', `/api/parea/v1/experiment/${secretExperiment(vic)}/trace_logs`, {});
    expect(victimTrees.body).toEqual((before.get(vic.tag)!.experiments as Array<{ body: unknown }>)[1]!.body);
  },

  [`PUT ${PAREA}/trace_log`]: async (att, vic) => {
    for (const id of [`${vic.tag}-child`, `${vic.tag}-secret-child`, `${vic.tag}-file-span`]) {
      const res = await call(att.apiKey, 'PUT', '/api/parea/v1/trace_log', {
        trace_id: id,
        root_trace_id: `${vic.tag}-root`,
        field_name_to_value_map: {
          output: 'hacked',
          organization_id: vic.organizationId,
          project_uuid: vic.projectId,
          scores: [{ name: 'accuracy', score: 0 }],
        },
      });
      expect(res.status, res.text).toBe(200);
      await victimSpanUnchanged(vic, id);
      // The attacker at most sees a span of its own.
      const own = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${id}`);
      if (own.status === 200) expect(own.body).toMatchObject({ organization_id: att.organizationId, project_uuid: att.projectId });
      else expect(own.status).toBe(404);
    }
  },

  [`GET ${PAREA}/trace_log/{traceId}`]: async (att, vic) => {
    // Spans no attacker ever writes: not found.
    for (const id of [`${vic.tag}-secret-root`, `${vic.tag}-file-span`]) {
      const res = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${encodeURIComponent(id)}`);
      if (res.status === 200) {
        // The PUT case may have left the attacker a patch-only span of that id: never the victim's.
        expect(res.body).toMatchObject({ organization_id: att.organizationId, project_uuid: att.projectId });
      } else {
        expect(res.status, res.text).toBe(404);
      }
    }
    const secret = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${vic.tag}-secret-root`);
    expect(secret.status, secret.text).toBe(404);
    // The id both have: the attacker's own tree.
    const shared = await call(att.apiKey, 'GET', '/api/parea/v1/trace_log/shared-span');
    expect(shared.status).toBe(200);
    ownTrees(att, vic, [shared.body]);
  },

  'POST /otel/v1/traces': async (att, vic) => {
    // An export that names the victim everywhere it can (resource, span attributes, its secret experiment).
    const claims = { organization_id: vic.organizationId, project_id: vic.projectId, project_uuid: vic.projectId, owner: vic.tag };
    const spans = await recordSpans(
      { 'service.name': `intruder-${att.tag}`, ...claims, experiment_uuid: secretExperiment(vic) },
      (tracer) => {
        const root = tracer.startSpan(`intrude ${vic.tag}`, { attributes: { ...claims, 'input.value': `${vic.tag} secret question 0` } });
        childOf(tracer, root, 'child', claims).end();
        root.end();
      },
    );
    const traceId = hexTraceId(spans[0]!);
    for (const encoding of ['protobuf', 'json'] as const) await mustExport(exporterFor(encoding, stack.info.apiUrl, att.apiKey), spans);
    // In the caller's project only, stamped with it.
    const own = await call(att.apiKey, 'GET', `${projectPath(att)}/traces/${traceId}`);
    expect(own.status, own.text).toBe(200);
    expect(own.body).toMatchObject({ organization_id: att.organizationId, project_id: att.projectId, source: 'otlp' });
    for (const p of foreignProjects(att, vic)) await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/traces/${traceId}`);
    expect((await call(vic.apiKey, 'GET', `${projectPath(vic)}/traces/${traceId}`)).status).toBe(404);
    const tree = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${hexSpanId(spans.find((s) => s.name !== 'child')!)}`);
    expect(tree.status).toBe(200);
    expect(tree.body).toMatchObject({ organization_id: att.organizationId, project_uuid: att.projectId });
    expect((await call(vic.apiKey, 'GET', `/api/parea/v1/trace_log/${hexSpanId(spans[0]!)}`)).status).toBe(404);
    const victimSecret = await call(vic.apiKey, 'POST', `/api/parea/v1/experiment/${secretExperiment(vic)}/trace_logs`, {});
    expect(victimSecret.body).toEqual((before.get(vic.tag)!.experiments as Array<{ body: unknown }>)[1]!.body);
    expect(await projectCounter(stack, vic.organizationId, vic.projectId)).toEqual(before.get(vic.tag)!.counter);
    // The caller takes its trace away again (its spans stay trace logs of its own, under ids no snapshot reads).
    expect((await call(att.apiKey, 'DELETE', `${projectPath(att)}/traces/${traceId}`)).status).toBe(204);
  },

  [`POST ${PAREA}/experiment/{experimentUuid}/trace_logs`]: async (att, vic) => {
    const experiment = (name: string, query = '', body: unknown = {}) =>
      call(att.apiKey, 'POST', `/api/parea/v1/experiment/${encodeURIComponent(name)}/trace_logs${query}`, body);
    // The victim's private experiment: nothing of the victim's (the attacker may have put spans of its own there).
    const secret = await experiment(secretExperiment(vic));
    expect(secret.status).toBe(200);
    ownTrees(att, vic, secret.body);
    for (const n of treeNodes(secret.body)) expect(n.trace_id).not.toBe(`${vic.tag}-secret-root`);
    // The experiment both have: only the attacker's own trees, with any filter.
    for (const filter of [
      {},
      { filter_field: 'metadata', filter_key: 'owner', filter_operator: 'equals', filter_value: vic.tag },
      { filter_field: 'trace_name', filter_operator: 'like', filter_value: `${vic.tag}%` },
    ]) {
      const shared = await experiment(SHARED_EXPERIMENT, '', filter);
      expect(shared.status, shared.text).toBe(200);
      ownTrees(att, vic, shared.body);
    }
    // The victim's cursor, with the experiment and filter it was issued for.
    const cursor = await experiment(SHARED_EXPERIMENT, `?limit=1&cursor=${encodeURIComponent(vic.experimentCursor)}`);
    expect(cursor.status, cursor.text).toBe(400);
    expect(cursor.body.error.code).toBe('invalid_cursor');
  },

  [`POST ${PAREA}/experiment`]: async (att, vic) => {
    // The victim's name, run name, metadata and project uuid: the caller's own experiment of that name and run (it has one).
    const res = await call(att.apiKey, 'POST', '/api/parea/v1/experiment', {
      name: 'exp-iso',
      run_name: 'r',
      metadata: { owner: att.tag },
      project_uuid: vic.projectId,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ uuid: att.experimentUuid, project_uuid: att.projectId });
    expect(res.body.uuid).not.toBe(vic.experimentUuid);
    // The victim's metadata on that run name: taken, by the caller's own experiment.
    const taken = await call(att.apiKey, 'POST', '/api/parea/v1/experiment', {
      name: 'exp-iso',
      run_name: 'r',
      metadata: { owner: vic.tag },
    });
    expect(taken.status).toBe(400);
    expect(taken.body.error.message).toContain(att.experimentUuid);
    expect(taken.body.error.message).not.toContain(vic.experimentUuid);
  },

  [`POST ${PAREA}/experiment/{experimentUuid}/finished`]: async (att, vic) => {
    const res = await call(att.apiKey, 'POST', `/api/parea/v1/experiment/${vic.experimentUuid}/finished`, {
      status: 'failed',
      dataset_level_stats: [{ name: 'x', score: 0 }],
    });
    expect(res.status, res.text).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  },

  [`GET ${PAREA}/experiment/{experimentUuid}/stats`]: async (att, vic) => {
    await expectNotFound(att.apiKey, 'GET', `/api/parea/v1/experiment/${vic.experimentUuid}/stats`);
    // Its own: its own tree only.
    const own = await call(att.apiKey, 'GET', `/api/parea/v1/experiment/${att.experimentUuid}/stats`);
    expect(own.body.parent_trace_stats.map((s: Json) => s.trace_id)).toEqual([`${att.tag}-exp-root`]);
  },

  [`POST ${PAREA}/experiments`]: async (att, vic) => {
    const list = (body: unknown) => call(att.apiKey, 'POST', '/api/parea/v1/experiments', body);
    expect((await list({ experiment_uuids: [vic.experimentUuid] })).body).toEqual([]);
    for (const body of [
      {},
      { experiment_name_filter: 'exp-iso' },
      { metadata_filter: { owner: vic.tag } },
      { project_name: vic.projectName },
    ]) {
      const res = await list(body);
      expect(res.status).toBe(200);
      for (const e of res.body) {
        expect(e.project_uuid).toBe(att.projectId);
        expect(e.uuid).not.toBe(vic.experimentUuid);
      }
    }
    expect((await list({ metadata_filter: { owner: vic.tag } })).body).toEqual([]);
  },

  [`POST ${PAREA}/feedback`]: async (att, vic) => {
    for (const id of [`${vic.tag}-root`, `${vic.tag}-secret-root`, `${vic.tag}-file-span`]) {
      const res = await call(att.apiKey, 'POST', '/api/parea/v1/feedback', {
        trace_id: id,
        score: 0,
        comment: 'hacked',
        project_uuid: vic.projectId,
      });
      expect(res.status, res.text).toBe(200);
      await victimSpanUnchanged(vic, id);
    }
  },

  [`POST ${PAREA}/get_trace_logs`]: async (att, vic) => {
    for (const body of [
      { project_name: vic.projectName },
      { project_name: vic.projectName, filter_field: 'metadata', filter_key: 'owner', filter_operator: 'equals', filter_value: vic.tag },
      { status: 'success', time_range: '1y' },
    ]) {
      const res = await call(att.apiKey, 'POST', '/api/parea/v1/get_trace_logs', { ...body, page_size: 100 });
      expect(res.status, res.text).toBe(200);
      // Stamped with the caller's project, none the victim's (the trace_log case leaves the caller spans of its own under the victim's ids).
      ownTrees(att, vic, res.body.results);
      expect(res.body.total).toBe(res.body.results.length);
    }
  },

  [`POST ${PAREA}/trace_log/langchain`]: async (att, vic) => {
    // A run that names the victim's spans as its Parea parent and tree: stored in the caller's project, under its own ids.
    const run = {
      id: `${att.tag}-lc-${vic.tag}`,
      name: 'intruder chain',
      run_type: 'chain',
      start_time: Date.now(),
      end_time: Date.now() + 5,
      inputs: {},
      outputs: {},
      child_runs: [],
      _parea_root_trace_id: `${vic.tag}-secret-root`,
      _parea_parent_trace_id: `${vic.tag}-secret-root`,
      project_uuid: vic.projectId,
      experiment_uuid: vic.experimentUuid,
    };
    const res = await call(att.apiKey, 'POST', '/api/parea/v1/trace_log/langchain', run);
    expect(res.status, res.text).toBe(200);
    await victimSpanUnchanged(vic, `${vic.tag}-secret-root`);
    expect((await call(vic.apiKey, 'GET', `/api/parea/v1/trace_log/${run.id}`)).status).toBe(404);
    const own = await call(att.apiKey, 'GET', `/api/parea/v1/trace_log/${run.id}`);
    expect(own.body).toMatchObject({ organization_id: att.organizationId, project_uuid: att.projectId });
  },

  [`GET ${P}/trace-evaluations/{evaluationId}/results`]: async (att, vic) => {
    for (const id of vic.evaluations) {
      for (const p of [...foreignProjects(att, vic), att])
        await expectNotFound(att.apiKey, 'GET', `${projectPath(p)}/trace-evaluations/${id}/results`);
    }
  },

  [`POST ${P}/trace-evaluations/{evaluationId}/results`]: async (att, vic) => {
    // The victim's pending evaluation: not found from anywhere the caller can reach.
    for (const p of [...foreignProjects(att, vic), att])
      await expectNotFound(att.apiKey, 'POST', `${projectPath(p)}/trace-evaluations/${vic.evaluations[1]}/results`, { passed: true });
  },
  [`POST ${P}/trace-evaluations/estimate`]: catalogueCase('POST', '/trace-evaluations/estimate'),
  [`GET ${P}/judges`]: catalogueCase('GET', '/judges'),
  [`POST ${P}/judges`]: catalogueCase('POST', '/judges'),
  [`GET ${P}/judges/{judgeId}`]: catalogueCase('GET', '/judges/j1'),
  [`PATCH ${P}/judges/{judgeId}`]: catalogueCase('PATCH', '/judges/j1'),
  [`DELETE ${P}/judges/{judgeId}`]: catalogueCase('DELETE', '/judges/j1'),
  [`GET ${P}/models`]: catalogueCase('GET', '/models'),
  [`GET ${P}/models/{modelId}`]: catalogueCase('GET', '/models/m1'),
  [`PATCH ${P}`]: catalogueCase('PATCH', ''),
  [`POST ${P}/custom-models`]: catalogueCase('POST', '/custom-models'),
  [`PATCH ${P}/custom-models/{modelId}`]: catalogueCase('PATCH', '/custom-models/m1'),
  [`DELETE ${P}/custom-models/{modelId}`]: catalogueCase('DELETE', '/custom-models/m1'),
};

/** A presigned URL writes exactly `key`, and the key is under the caller's own uploads prefix, one level down. */
function expectUrlUnder(url: string, key: string, t: Tenant): void {
  const prefix = `uploads/${t.organizationId}/${t.projectId}/`;
  expect(key.startsWith(prefix), key).toBe(true);
  expect(key.slice(prefix.length)).not.toContain('/');
  const u = new URL(url);
  expect(`${u.protocol}//${u.host}`).toBe(stack.info.s3Endpoint);
  const segments = u.pathname.split('/').slice(1).map(decodeURIComponent);
  expect(segments[0]).toBe(stack.info.bucket);
  expect(segments.slice(1).join('/')).toBe(key);
}

const PAIRS: Array<[string, () => [Tenant, Tenant]]> = [
  ['another organization (B) against A1', () => [b, a1]],
  ["A1's sibling project (same organization, A2) against A1", () => [a2, a1]],
  ['A1 against another organization (B)', () => [a1, b]],
  ['A1 against its sibling project A2', () => [a1, a2]],
];

const routeKey = (r: RouteDef) => `${r.method} ${r.path}`;

describe('tenant isolation over the whole route table', () => {
  it('has a case for every route of the route table, and none for a route that does not exist', () => {
    expect(Object.keys(CASES).sort()).toEqual(routes.map(routeKey).sort());
  });

  for (const [name, pair] of PAIRS) {
    describe(name, () => {
      for (const r of routes) {
        it(routeKey(r), async () => {
          const [att, vic] = pair();
          const run = CASES[routeKey(r)];
          if (!run) throw new Error(`no isolation case for ${routeKey(r)}`);
          await run(att, vic);
        });
      }
    });
  }

  it("left every tenant's data exactly as it was", async () => {
    await stack.settled();
    for (const t of tenants) expect(await snapshot(t), t.tag).toEqual(before.get(t.tag));
  });
});

describe('the S3 side', () => {
  it("presigns only under the caller's own uploads/<org>/<project>/, whatever the file name", async () => {
    const names = [
      `../../${a1.organizationId}/${a1.projectId}/x.jsonl`,
      '../x.jsonl',
      '..\\..\\x.jsonl',
      '/etc/x.jsonl',
      `/uploads/${a1.organizationId}/${a1.projectId}/x.jsonl`,
      'C:\\x.jsonl',
      '..',
      '%2e%2e%2fx.jsonl',
      `..%2F..%2F${a1.organizationId}%2F${a1.projectId}%2Fx.jsonl`,
      '%2E%2E%5Cx.jsonl',
      '....jsonl',
      '.jsonl',
      '..jsonl',
      '\u2025\uff0fx.jsonl',
      'x.jsonl\u0000.json',
      'x.jsonl?versionId=1',
      'x.jsonl#fragment',
      ' ../x.jsonl',
      'a b+c&d=e.jsonl',
      `${'x'.repeat(250)}.json`,
    ];
    let accepted = 0;
    for (const filename of names) {
      const res = await call(b.apiKey, 'POST', `${projectPath(b)}/traces/upload`, { filename, type: 'application/jsonl', size: 20 });
      if (res.status === 400) {
        expect(res.body.error.code, filename).toBe('invalid_body');
        continue;
      }
      expect(res.status, `${filename}: ${res.text}`).toBe(200);
      accepted++;
      expect(res.body.upload_key).toBe(`uploads/${b.organizationId}/${b.projectId}/${filename}`);
      expectUrlUnder(res.body.url as string, res.body.upload_key as string, b);
    }
    expect(accepted).toBeGreaterThan(5);
  });

  it('a file PUT with an odd name lands in the caller’s prefix and project, and in nobody else’s', async () => {
    const names = [
      '%2e%2e%2fodd.jsonl',
      `..%2F..%2F${a1.organizationId}%2F${a1.projectId}%2Fodd.jsonl`,
      '\u2025\uff0fodd.jsonl',
      '....jsonl',
    ];
    const before1 = await snapshot(a1);
    const beforeA2 = await snapshot(a2);
    const made: string[] = [];
    // Each name on its own, all at once.
    await Promise.all(
      names.map(async (filename, i) => {
        const presign = await presignAndPut(b, filename, `{"input":"odd ${i}","owner":"b"}\n`);
        expect(presign.upload_key).toBe(`uploads/${b.organizationId}/${b.projectId}/${filename}`);
        const created = await call(b.apiKey, 'POST', `${projectPath(b)}/traces`, { filename });
        expect(created.status, created.text).toBe(200);
        made.push(...(created.body.trace_ids as string[]));
        // The victim has no file of that name.
        expect((await call(a1.apiKey, 'POST', `${projectPath(a1)}/traces`, { filename })).status).toBe(404);
      }),
    );
    await stack.settled();
    const bItems = (await projectTraces(stack, b.organizationId, b.projectId)).map((t) => t.id);
    for (const id of made) expect(bItems).toContain(id);
    // In S3: nothing under A's prefixes but A's own files.
    const listed = await stack.s3.send(new ListObjectsV2Command({ Bucket: stack.info.bucket, Prefix: `uploads/${a1.organizationId}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    expect(keys).toEqual(
      [a1, a2]
        .flatMap((t) => [
          `uploads/${t.organizationId}/${t.projectId}/${SHARED_FILE}`,
          `uploads/${t.organizationId}/${t.projectId}/${t.onlyFilename}`,
        ])
        .sort(),
    );
    expect(await snapshot(a1)).toEqual(before1);
    expect(await snapshot(a2)).toEqual(beforeA2);
  });

  it('a drop into a prefix that is not a project of its organization is ingested into no one', async () => {
    const snapshots = await Promise.all(tenants.map(snapshot));
    const unknownOrg = randomUUID();
    const unknownProject = randomUUID();
    const targets: Array<{ key: string; partition: [string, string] }> = [
      { key: `drop/${unknownOrg}/${unknownProject}/x.jsonl`, partition: [unknownOrg, unknownProject] },
      // A's organization with B's project, and the other way round.
      { key: `drop/${a1.organizationId}/${b.projectId}/x.jsonl`, partition: [a1.organizationId, b.projectId] },
      { key: `drop/${b.organizationId}/${a1.projectId}/x.jsonl`, partition: [b.organizationId, a1.projectId] },
      { key: `drop/${b.organizationId}/${a2.projectId}/deeper/x.json`, partition: [b.organizationId, a2.projectId] },
      // Right ids in the wrong case, an unknown project of a real organization.
      {
        key: `drop/${a1.organizationId.toUpperCase()}/${a1.projectId.toUpperCase()}/x.jsonl`,
        partition: [a1.organizationId.toUpperCase(), a1.projectId.toUpperCase()],
      },
      { key: `drop/${a1.organizationId}/${unknownProject}/x.jsonl`, partition: [a1.organizationId, unknownProject] },
      // The presigned-upload prefix, written directly, with a mismatched pair.
      { key: `uploads/${a1.organizationId}/${b.projectId}/x.jsonl`, partition: [a1.organizationId, b.projectId] },
    ];
    const body = '{"input":"who gets this?","owner":"nobody"}\n';
    // All dropped, then all settled: the queue deals with them side by side.
    for (const t of targets) await putObject(stack, t.key, body);
    await sleep(50); // s3rver emits its events after answering the PUTs
    await stack.settled();
    for (const t of targets) {
      const [org, project] = t.partition;
      expect(await projectTraces(stack, org, project), t.key).toEqual([]);
      const uploads = (await projectUploads(stack, org, project)).filter((u) => u.object_key === t.key);
      expect(
        uploads.map((u) => [u.status, u.reason]),
        t.key,
      ).toEqual([['failed', `unknown organization or project: ${org}/${project}`]]);
      // Its upload record is nobody's to read.
      for (const reader of tenants)
        expect((await call(reader.apiKey, 'GET', `${projectPath(reader)}/uploads/${String(uploads[0]!.upload_id)}`)).status).toBe(404);
    }
    for (const [i, t] of tenants.entries()) expect(await snapshot(t), t.tag).toEqual(snapshots[i]);
  });

  it("a key with dot or empty segments cannot plant a file in another tenant's folder of the local store", async () => {
    // s3rver keeps keys as file paths: drop/x/../<org>/<project>/f used to land as drop/<org>/<project>/f, which the
    // next start's reconcile then ingested into that project. The stand-in now refuses such keys.
    const snapshots = await Promise.all(tenants.map(snapshot));
    const listFolder = async (t: Tenant) =>
      (
        (await stack.s3.send(new ListObjectsV2Command({ Bucket: stack.info.bucket, Prefix: `drop/${t.organizationId}/${t.projectId}/` })))
          .Contents ?? []
      )
        .map((o) => o.Key)
        .sort();
    const folders = await Promise.all(tenants.map(listFolder));
    for (const key of [
      `drop/${randomUUID()}/../${b.organizationId}/${b.projectId}/planted.jsonl`,
      `drop/../drop/${b.organizationId}/${b.projectId}/planted.jsonl`,
      `drop/${a1.organizationId}/${a1.projectId}/../../${b.organizationId}/${b.projectId}/planted.jsonl`,
      `drop/${b.organizationId}/./${b.projectId}/planted.jsonl`,
      `uploads/${a1.organizationId}/${a1.projectId}/../../${b.organizationId}/${b.projectId}/planted.jsonl`,
    ]) {
      await expect(putObject(stack, key, '{"input":"planted"}\n'), key).rejects.toMatchObject({ name: 'InvalidArgument' });
    }
    // An empty segment: s3rver's router never stores it (a 404 that is not S3's XML).
    await expect(putObject(stack, `drop/${b.organizationId}//${b.projectId}/planted.jsonl`, '{"input":"planted"}\n')).rejects.toThrow();
    await sleep(100);
    await stack.settled();
    expect(await Promise.all(tenants.map(listFolder))).toEqual(folders);
    for (const [i, t] of tenants.entries()) expect(await snapshot(t), t.tag).toEqual(snapshots[i]);
  });

  it('stray objects outside uploads/ and drop/ are ingested into no one either', async () => {
    const snapshots = await Promise.all(tenants.map(snapshot));
    for (const key of [
      `${a1.organizationId}/${a1.projectId}/x.jsonl`,
      `payloads/${a1.organizationId}/${a1.projectId}/x.jsonl`,
      `Drop/${a1.organizationId}/${a1.projectId}/x.jsonl`,
    ]) {
      await putObject(stack, key, '{"input":"stray"}\n');
    }
    await sleep(100);
    await stack.settled();
    for (const [i, t] of tenants.entries()) expect(await snapshot(t), t.tag).toEqual(snapshots[i]);
  });
});
