/**
 * API fuzz: thousands of generated requests (seeded: FUZZ_SEED=<n> replays a run) over every
 * route of the route table, against the real local stack with real traces, evaluations, uploads
 * and spans in it. Every answer must be a non-5xx; every error a JSON `{"error": {code, message}}`;
 * every success JSON (gzip only when asked). Afterwards the server still answers and the data is
 * exactly what it was, minus what valid fuzz requests deleted, plus what they created.
 */
import { Agent } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../functions/domain/tenancy.js';
import { routes, type RouteDef } from '../../functions/routes.js';
import { tenantStore } from '../../functions/shared/services.js';
import { fixture } from '../support/fixtures.js';
import { mulberry32 } from '../support/prng.js';
import { describeRequest, rawRequest, rawSocketRequest, type RawRequest, type RawResponse } from '../support/raw-http.js';
import { ingestAt, projectCounter, projectTraces, projectUploads, useTestStack } from '../support/stack.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2024);
/** Requests aimed at each route (whatever the mutation: its path, its method, its body...); FUZZ_PER_ROUTE for a deeper run. */
const PER_ROUTE = Number(process.env.FUZZ_PER_ROUTE ?? 64);
/** The catalogue routes share one handler that answers not_implemented after the tenant check: fewer each. */
const budgetOf = (r: RouteDef) => (r.handler === 'notImplemented' ? Math.ceil(PER_ROUTE / 3) : PER_ROUTE);
/** Paths that no route serves, derived from the routes' own. */
const UNKNOWN_PATHS = 120;
const CONCURRENCY = 8;
/** What the local server refuses unread (API Gateway: 10 MB; a Lambda: 6 MB): a 7 MB body must be a clean 413. */
const SEVEN_MB = 7 * 1024 * 1024;

type Json = any;
interface Caller {
  apiKey: string;
  organizationId: string;
  projectId: string;
}

const FIXTURE = fixture('experiment-logs.jsonl').toString('utf8');
const FIXTURE_SPANS = FIXTURE.split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { trace_id: string; root_trace_id: string; experiment_uuid: string });
const FIXTURE_EXPERIMENT = 'exp-338f5063';
const FIXTURE_ROOTS = [...new Set(FIXTURE_SPANS.map((s) => s.root_trace_id))];

/** Everything the fuzzer aims at: valid ids of both tenants, cursors, and what was there before. */
interface World {
  a: Caller;
  b: Caller;
  revokedKey: string;
  /** A's traces the fuzzer reads, lists and evaluates but never aims a DELETE at. */
  aKept: string[];
  /** A's traces DELETE may hit. */
  aDeletable: string[];
  bTraces: string[];
  aUploads: string[];
  bUploads: string[];
  aEvaluations: string[];
  bEvaluations: string[];
  /** The fixture's spans: read only (no write body names them). */
  aSpans: string[];
  /** Spans of A that write bodies may name. */
  aWritableSpans: string[];
  /** B's spans whose ids A's write bodies may name (A then has its own span of that id). */
  bSpans: string[];
  /** B's spans and experiment no request of A's ever writes: A must never see them. */
  bPrivateSpans: string[];
  bPrivateExperiment: string;
  aWritableExperiment: string;
  bExperiment: string;
  /** Cursors of A's list, each with the query it was issued for (a cursor is bound to it). */
  aCursors: Array<{ cursor: string; query: string }>;
  bCursors: string[];
  aExperimentCursor: string;
  bExperimentCursor: string;
  aUploadFilename: string;
  /** A Parea experiment of each (POST /experiment). */
  aExperimentUuid: string;
  bExperimentUuid: string;
}

const stack = useTestStack({ notifications: false });
let w: World;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

const projectPath = (c: Pick<Caller, 'organizationId' | 'projectId'>) =>
  `/api/v1/organizations/${c.organizationId}/projects/${c.projectId}`;

async function call(
  c: Pick<Caller, 'apiKey'>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; res: RawResponse }> {
  const res = await rawRequest(
    stack.info.apiUrl,
    {
      method,
      path,
      headers: { 'x-api-key': c.apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    },
    { agent },
  );
  let parsed: Json;
  try {
    parsed = res.text === '' ? undefined : JSON.parse(res.text);
  } catch {
    parsed = res.text;
  }
  return { status: res.status, body: parsed, res };
}

/** Presign, PUT, create: the Stratix flow. */
async function upload(c: Caller, filename: string, text: string): Promise<{ trace_ids: string[]; upload_id: string }> {
  const presign = await call(c, 'POST', `${projectPath(c)}/traces/upload`, {
    filename,
    type: 'application/jsonl',
    size: Buffer.byteLength(text),
  });
  expect(presign.status, presign.res.text).toBe(200);
  const put = await fetch(presign.body.url as string, { method: 'PUT', headers: { 'Content-Type': 'application/jsonl' }, body: text });
  expect(put.status).toBe(200);
  await put.arrayBuffer();
  const created = await call(c, 'POST', `${projectPath(c)}/traces`, { filename });
  expect(created.status, created.res.text).toBe(200);
  return created.body;
}

async function evaluate(c: Caller, traceId: string, judge: string, passed?: boolean): Promise<string> {
  const res = await call(c, 'POST', `${projectPath(c)}/trace-evaluations`, {
    trace_id: traceId,
    judge_id: judge,
    ...(passed === undefined ? {} : { passed, score: passed ? 1 : 0 }),
  });
  expect(res.status, res.res.text).toBe(201);
  return res.body.id as string;
}

async function postSpan(c: Caller, span: Record<string, unknown>): Promise<void> {
  const res = await call(c, 'POST', '/api/parea/v1/trace_log', span);
  expect(res.status, res.res.text).toBe(200);
}

function span(traceId: string, root: string, experiment: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    trace_id: traceId,
    root_trace_id: root,
    parent_trace_id: root,
    experiment_uuid: experiment,
    trace_name: `span ${traceId}`,
    start_timestamp: '2026-11-01T10:00:00.000000+00:00',
    status: 'success',
    scores: [{ name: 'accuracy', score: 0.75 }],
    metadata: { run: 'fuzz' },
    ...extra,
  };
}

async function nextCursor(c: Caller, query: string): Promise<string> {
  const res = await call(c, 'GET', `${projectPath(c)}/traces?${query}`);
  expect(res.status, res.res.text).toBe(200);
  expect(res.body.next_cursor, query).toEqual(expect.any(String));
  return res.body.next_cursor as string;
}

async function experimentCursor(c: Caller, experiment: string): Promise<string> {
  const res = await call(c, 'POST', `/api/parea/v1/experiment/${experiment}/trace_logs?limit=1`, {});
  expect(res.status, res.res.text).toBe(200);
  const cursor = res.res.headers['x-next-cursor'];
  expect(cursor).toEqual(expect.any(String));
  return cursor as string;
}

/** What a tenant holds, read through the API and the table: compared before and after the fuzz. */
async function snapshot(c: Caller, experiments: string[], spanIds: string[]) {
  const list = await call(c, 'GET', `${projectPath(c)}/traces?page_size=500&sort_order=asc`);
  const evaluations = await call(c, 'GET', `${projectPath(c)}/trace-evaluations?page_size=500`);
  const sources = await call(c, 'GET', `${projectPath(c)}/traces/sources`);
  const trees: Record<string, unknown> = {};
  for (const e of experiments) trees[`experiment ${e}`] = (await call(c, 'POST', `/api/parea/v1/experiment/${e}/trace_logs`, {})).body;
  for (const id of spanIds) trees[id] = (await call(c, 'GET', `/api/parea/v1/trace_log/${id}`)).body;
  const uploads = await projectUploads(stack, c.organizationId, c.projectId);
  return {
    traces: list.body as { traces: Array<Record<string, unknown> & { id: string; evaluations_count: number }>; total_count: number },
    evaluations: evaluations.body as { trace_evaluations: Array<{ id: string; trace_id: string }>; total: number },
    sources: sources.body,
    trees,
    uploads: uploads
      .map((u) => ({ id: u.upload_id as string, status: u.status as string, traces: u.traces as number }))
      .sort((x, y) => (x.id < y.id ? -1 : 1)),
    counter: await projectCounter(stack, c.organizationId, c.projectId),
  };
}
let before: { a: Awaited<ReturnType<typeof snapshot>>; b: Awaited<ReturnType<typeof snapshot>> };

beforeAll(async () => {
  const a: Caller = stack.info;
  const b = await createApiKey(tenantStore(), { organization: 'fuzz-other-org', project: 'fuzz-other-project' });
  const revoked = await createApiKey(tenantStore(), { organization: 'fuzz-revoked', project: 'p' });
  await revokeApiKey(tenantStore(), revoked.apiKey);

  const lines = (tag: string, n: number, source?: (i: number) => string | undefined) =>
    Array.from(
      { length: n },
      (_, i) =>
        `${JSON.stringify({ input: `${tag} question ${i} capital`, output: `answer ${i}`, ...(source?.(i) ? { source: source(i) } : {}) })}\n`,
    ).join('');
  const aUpload = await upload(
    a,
    'fuzz-a.jsonl',
    lines('upload', 6, (i) => (i % 2 ? 'sdk' : undefined)),
  );
  await ingestAt(
    stack,
    `drop/${a.organizationId}/${a.projectId}/fuzz/drop-a.jsonl`,
    lines('drop', 8, (i) => (i % 3 === 0 ? 'batch' : undefined)),
    Date.now() - 2 * 3_600_000,
  );
  await ingestAt(
    stack,
    `drop/${b.organizationId}/${b.projectId}/b.jsonl`,
    lines('other', 4, () => 'b-source'),
    Date.now() - 3_600_000,
  );
  const aAll = await projectTraces(stack);
  const bAll = await projectTraces(stack, b.organizationId, b.projectId);
  const aDeletable = aAll.filter((t) => t.filename === 'drop-a.jsonl').map((t) => t.id);

  const aEvaluations = [
    await evaluate(a, aUpload.trace_ids[0]!, 'judge-1', true),
    await evaluate(a, aUpload.trace_ids[0]!, 'judge-2', false),
    await evaluate(a, aUpload.trace_ids[1]!, 'judge-1'),
    await evaluate(a, aDeletable[0]!, 'judge-1', true),
  ];
  const bEvaluations = [await evaluate(b, bAll[0]!.id, 'judge-b', true)];

  for (const s of [...FIXTURE_SPANS].reverse()) await postSpan(a, s as unknown as Record<string, unknown>);
  const aWritableSpans = ['w-root', 'w-child-1', 'w-child-2'];
  for (const id of aWritableSpans) await postSpan(a, span(id, 'w-root', 'exp-fuzz-writable'));
  const bSpans = ['b-root', 'b-child-1', 'b-child-2', 'b-root-2'];
  for (const id of bSpans) await postSpan(b, span(id, id === 'b-root-2' ? id : 'b-root', 'exp-fuzz-b'));
  const bPrivateSpans = ['b-private-root', 'b-private-child'];
  for (const id of bPrivateSpans) await postSpan(b, span(id, 'b-private-root', 'exp-fuzz-b-private'));

  w = {
    a,
    b,
    revokedKey: revoked.apiKey,
    aKept: aUpload.trace_ids,
    aDeletable,
    bTraces: bAll.map((t) => t.id),
    aUploads: (await projectUploads(stack)).map((u) => String(u.upload_id)),
    bUploads: (await projectUploads(stack, b.organizationId, b.projectId)).map((u) => String(u.upload_id)),
    aEvaluations,
    bEvaluations,
    aSpans: FIXTURE_SPANS.map((s) => s.trace_id),
    aWritableSpans,
    bSpans,
    bPrivateSpans,
    bPrivateExperiment: 'exp-fuzz-b-private',
    aWritableExperiment: 'exp-fuzz-writable',
    bExperiment: 'exp-fuzz-b',
    aCursors: await Promise.all(
      [
        'page_size=1',
        'page_size=2&sort_by=filename&sort_order=asc',
        'page_size=1&sort_order=asc',
        'page_size=1&source=sdk',
        'page_size=1&time_range=30d',
        'page_size=1&search=capital',
        'page_size=1&time_range=30d&sort_order=asc',
        'page_size=1&status=unevaluated',
        'page_size=1&judgeId=judge-1&sortBy=filename',
      ].map(async (query) => ({ query, cursor: await nextCursor(a, query) })),
    ),
    bCursors: [await nextCursor(b, 'page_size=1')],
    aExperimentCursor: await experimentCursor(a, FIXTURE_EXPERIMENT),
    bExperimentCursor: await experimentCursor(b, 'exp-fuzz-b'),
    aUploadFilename: 'fuzz-a.jsonl',
    aExperimentUuid: (await call(a, 'POST', '/api/parea/v1/experiment', { name: 'fuzz-a-exp', run_name: 'r' })).body.uuid as string,
    bExperimentUuid: (await call(b, 'POST', '/api/parea/v1/experiment', { name: 'fuzz-b-exp', run_name: 'r' })).body.uuid as string,
  };
  before = {
    a: await snapshot(a, [FIXTURE_EXPERIMENT], FIXTURE_ROOTS),
    b: await snapshot(b, ['exp-fuzz-b', 'exp-fuzz-b-private'], [...bSpans, ...bPrivateSpans]),
  };
  expect(before.a.traces.total_count).toBe(14);
  expect(before.b.traces.total_count).toBe(4);
}, 120_000);

afterAll(async () => {
  agent.destroy();
});

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

const rnd = mulberry32(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const chance = (p: number) => rnd() < p;

const routeKey = (r: RouteDef) => `${r.method} ${r.path}`;
const paramsOf = (r: RouteDef) => [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
const isProjectRoute = (r: RouteDef) => r.path.startsWith('/api/v1/organizations/{organizationId}/projects/{projectId}');

/** The route table read independently of the server: which routes serve a request path. */
const matchers = routes.map((r) => ({
  r,
  re: new RegExp(
    `^${r.path
      .split('/')
      .map((s) => (/^\{\w+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}$`,
  ),
}));
function routesOn(path: string): RouteDef[] {
  const pathname = new URL(path, 'http://local').pathname;
  return matchers.filter((m) => m.re.test(pathname)).map((m) => m.r);
}
function decodes(path: string): boolean {
  try {
    decodeURI(new URL(path, 'http://local').pathname);
    return true;
  } catch {
    return false;
  }
}

/** Percent-encodes everything but unreserved characters; a lone surrogate becomes its (invalid) UTF-8-style bytes. */
function enc(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (/^[A-Za-z0-9\-_.~]$/.test(ch)) out += ch;
    else if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff)
      out +=
        `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`.toUpperCase();
    else out += encodeURIComponent(ch);
  }
  return out;
}

const UNICODE = [
  'ünïcødé',
  '日本語のトレース',
  '𝓤𝓷𝓲',
  '🚀🔥',
  '\u200b\u200d',
  'Ω≈ç√',
  '\ud800',
  '\udfff',
  'e\u0301',
  '\u202eevil',
  '\ufeff',
];
const INJECTION = [
  "' OR '1'='1",
  '"; DROP TABLE traces; --',
  '{"$gt":""}',
  '{"$ne":null}',
  '$where',
  'a#b#c',
  'P#x#y',
  'T#',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as text
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '..\\..\\win.ini',
  '%00',
  '\u0000',
  '*',
  '%',
  '_',
  '\\',
];
const NUMBERS = [
  '0',
  '1',
  '2',
  '3',
  '-1',
  '1.5',
  '1e3',
  '1e309',
  '-1e309',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '0b11',
  ' 5 ',
  '05',
  '9'.repeat(400),
  '1000001',
  '9007199254740993',
  '-0',
  '+1',
  '1_000',
  'abc',
  '[]',
  '{}',
  'true',
  'null',
  '',
];

/** Raw path segments (already as they go on the wire), by kind: a kind is drawn first, then one of its values. */
const PATH_FUZZ: readonly (readonly string[])[] = [
  // traversal
  [
    '..%2F..%2F..%2Fetc%2Fpasswd',
    '..',
    '.',
    '%2e%2e',
    '%2E%2E%2F%2E%2E%2Fapi',
    '..%252F..%252F',
    '%2e',
    'a%2Fb',
    '%2F',
    'a%5Cb',
    '..%5C..%5Cwin.ini',
  ],
  // NUL, broken and odd percent-encoding, raw Latin-1 bytes
  [
    '%00',
    'abc%00def',
    '%ED%A0%80',
    '%',
    '%zz',
    '%C3%A9',
    '\u00e9',
    '\u00ff\u00fe',
    '%FF%FE',
    '%C0%AF',
    '%23',
    '%20',
    '+',
    'a;b=c',
    '*',
    '~',
  ],
  // long: over DynamoDB's 2,048-byte partition key once prefixed, and past Node's 16 KB head limit
  ['y'.repeat(2100), 'y'.repeat(3000), 'z'.repeat(9000), enc('𝓤'.repeat(700)), enc('日'.repeat(1000)), 'w'.repeat(17_000)],
  // long but within every store limit
  ['x'.repeat(256), 'x'.repeat(257), 'x'.repeat(1100), enc('日'.repeat(256)), enc('𝓤'.repeat(128))],
  // unicode
  UNICODE.map(enc),
  // injection and names with a meaning elsewhere
  [...INJECTION.map(enc), '__proto__', 'constructor', 'toString', 'null', 'undefined', '-1', '1e309', 'NaN', 'sources', 'upload'],
];

function uuidish(): string {
  const hex = () => int(16).toString(16);
  const part = (n: number) => Array.from({ length: n }, hex).join('');
  return `${part(8)}-${part(4)}-${part(4)}-${part(4)}-${part(12)}`;
}

/** A path parameter value: usually a real id of A, sometimes B's, sometimes garbage. Raw (encoded). */
function pathValue(r: RouteDef, name: string, mode: 'valid' | 'fuzz' | 'other'): string {
  const fuzz = mode === 'fuzz' && chance(0.75);
  if (fuzz) return pick(pick(PATH_FUZZ));
  const other = mode === 'other' || (mode === 'fuzz' && chance(0.5));
  const parea = r.path.startsWith('/api/parea/');
  switch (name) {
    case 'organizationId':
      return other && chance(0.5) ? w.b.organizationId : w.a.organizationId;
    case 'projectId':
      return other && chance(0.5) ? w.b.projectId : w.a.projectId;
    case 'traceId':
      if (parea) return enc(other ? pick(w.bPrivateSpans) : pick([...w.aSpans, ...w.aWritableSpans, 'no-such-span']));
      if (other) return pick(w.bTraces);
      return r.method === 'DELETE' ? pick([...w.aDeletable, uuidish()]) : pick([...w.aKept, ...w.aDeletable, uuidish()]);
    case 'uploadId':
      return other ? pick(w.bUploads) : pick([...w.aUploads, uuidish()]);
    case 'evaluationId':
      return other ? pick(w.bEvaluations) : pick([...w.aEvaluations, uuidish()]);
    case 'experimentUuid':
      return enc(
        other
          ? pick([w.bPrivateExperiment, w.bExperimentUuid])
          : pick([FIXTURE_EXPERIMENT, w.aWritableExperiment, w.bExperiment, 'no-such-experiment', w.aExperimentUuid, w.aExperimentUuid]),
      );
    case 'jobId':
      // No job of A's or B's exists at the start; ids never issued, and garbage above.
      return pick([uuidish(), 'no-such-job']);
    case 'judgeId':
    case 'modelId':
      return pick(['judge-1', 'gpt-4o', uuidish()]);
    default:
      throw new Error(`no generator for path parameter ${name} of ${routeKey(r)}: add one`);
  }
}

function fillPath(
  r: RouteDef,
  mode: 'valid' | 'fuzz' | 'other',
  fixed: Record<string, string> = {},
): { path: string; values: Record<string, string> } {
  const names = paramsOf(r);
  // Fuzz one parameter (the resource id, the last one, most often), or now and then all of them.
  const fuzzed = mode !== 'fuzz' ? null : chance(0.15) ? 'all' : chance(0.7) ? names[names.length - 1] : pick(names);
  const values: Record<string, string> = {};
  const path = r.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const m = mode === 'fuzz' ? (fuzzed === 'all' || fuzzed === name ? 'fuzz' : 'valid') : mode;
    return (values[name] = fixed[name] ?? pathValue(r, name, m));
  });
  return { path, values };
}

/** Query parameters each handler reads (both spellings where it takes both). */
const QUERY_NAMES: Record<string, string[]> = {
  listTraces: [
    'page',
    'page_size',
    'pageSize',
    'source',
    'judge_id',
    'judgeId',
    'status',
    'time_range',
    'timeRange',
    'search',
    'sort_by',
    'sortBy',
    'sort_order',
    'sortOrder',
    'cursor',
  ],
  listEvaluations: [
    'trace_id',
    'traceId',
    'judge_id',
    'judgeId',
    'page',
    'page_size',
    'pageSize',
    'outcome',
    'time_range',
    'timeRange',
    'search',
    'sort_by',
    'sortBy',
    'sort_order',
    'sortOrder',
    'cursor',
  ],
  experimentTraceLogs: ['limit', 'cursor'],
  listExperiments: ['limit', 'cursor'],
  getStats: ['time_range', 'from', 'to', 'interval'],
  exportTraces: ['source', 'judge_id', 'judgeId', 'status', 'time_range', 'timeRange', 'search', 'cursor'],
  exportSpans: ['cursor'],
};
const STRAY_NAMES = [
  'x',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'filter',
  'page',
  'limit',
  'cursor',
  'PAGE',
  'page_size ',
  '',
];

function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

/** A cursor this API issued, decoded, changed and encoded again (its binding stays valid). */
function mutatedCursor(cursor: string): string {
  const body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, any>;
  const experiment = 'r' in body;
  const m = int(experiment ? 6 : 10);
  if (experiment) {
    if (m === 0) body.r = pick(['', 'z'.repeat(2500), '#', '\u0000', '%23', '\uffff'.repeat(400), 'ÿ'.repeat(1200)]);
    if (m === 1) body.k = pick([-1, 1e9, 1.5, 'x', null, 2 ** 60]);
    if (m === 2) body.v = pick([2, 0, '1']);
    if (m === 3) body.b = pick(['', 'x', w.bExperimentCursor]);
    if (m === 4) delete body.r;
    if (m === 5) body.r = pick([1, [], {}, null]);
  } else {
    if (m === 0)
      body.k = { s: pick(['', 'z'.repeat(1500), 'ÿ'.repeat(700), '\u0000', '9999', '~', '2000-01-01T00:00:00.000Z', '#', '\ud800']) };
    if (m === 1) body.k = pick([{}, [], null, { s: 5 }, { s: 'x', pk: 'T#evil' }, 'x']);
    if (m === 2)
      body.s = pick([
        'garbage',
        '',
        '9999-12-31T23:59:59.999Z',
        '0000',
        'x'.repeat(2000),
        '2026-13-45T99:99:99Z',
        '1970-01-01T00:00:00.000Z',
      ]);
    if (m === 3) body.t = pick([-1, 1.5, 1e300, 'x', null, 2 ** 53]);
    if (m === 4) body.v = pick([2, 0, '1']);
    if (m === 5) body.b = pick(['', 'x', 'y'.repeat(22)]);
    if (m === 6) {
      body.k = { s: pick(['garbage', 'z'.repeat(1500), '~']) };
      body.s = pick(['garbage', 'x'.repeat(2000), '']);
      delete body.t;
    }
    if (m === 7) delete body.k;
    if (m === 8) body.s = pick([5, {}, []]);
    if (m === 9) {
      body.s = 'garbage';
      delete body.t;
    }
  }
  return b64url(body);
}

function cursorValue(experiment: boolean): string {
  const mine = experiment ? [w.aExperimentCursor] : w.aCursors.map((c) => c.cursor);
  const theirs = experiment ? [w.bExperimentCursor] : w.bCursors;
  switch (int(7)) {
    case 0:
      return pick(mine);
    case 1:
      return pick(theirs);
    case 2:
    case 3:
      return mutatedCursor(pick(mine));
    case 4:
      return pick(mine).slice(0, int(pick(mine).length));
    case 5:
      return b64url(pick(['null', '[]', '{}', '{"v":1}', '"x"', '1', '{"v":1,"b":"","k":{}}', '\u0000']));
    default:
      return pick([
        'x',
        '=',
        '==',
        '%',
        'x'.repeat(5000),
        'x'.repeat(4096),
        '!!!',
        Buffer.from(Array.from({ length: 60 }, () => int(256))).toString('base64'),
      ]);
  }
}

function queryValue(handler: string, name: string): string {
  switch (name) {
    case 'page':
    case 'page_size':
    case 'pageSize':
    case 'limit':
      return pick(NUMBERS);
    case 'source':
      return pick([
        'sdk',
        'upload',
        's3',
        'batch',
        'b-source',
        'nope',
        '',
        ' ',
        'x'.repeat(257),
        'x'.repeat(256),
        ...UNICODE,
        ...INJECTION,
      ]);
    case 'judge_id':
    case 'judgeId':
      return pick(['judge-1', 'judge-2', 'judge-b', '', ' ', 'x'.repeat(300), ...UNICODE, ...INJECTION]);
    case 'status':
      return pick(['pass', 'fail', 'pending', 'unevaluated', 'PASS', '', 'x', 'pass,fail', ...INJECTION]);
    case 'outcome':
      return pick(['pass', 'fail', 'pending', 'bogus', 'PASS', '', ...INJECTION]);
    case 'time_range':
    case 'timeRange':
      return pick([
        '30m',
        '24h',
        '7d',
        '30d',
        '0d',
        '1y',
        '99999999d',
        '3650d',
        '3651d',
        '-1d',
        '1.5h',
        'h',
        '',
        ' 7d ',
        '7D',
        '1000000m',
        ...INJECTION,
      ]);
    case 'from':
    case 'to':
      return pick([
        '2026-11-01',
        '2026-11-01T10',
        '2026-11-01T10:00:00Z',
        '2026-11-01T10:00:00+02:00',
        '2025-01-01',
        '9999-12-31',
        '0000-01-01',
        '2026-13-45',
        'now',
        '',
        ...INJECTION,
      ]);
    case 'interval':
      return pick(['hour', 'day', 'week', 'HOUR', '', ...INJECTION]);
    case 'search':
      return pick(['capital', 'CAPITAL', 'question 3', '', 'x'.repeat(257), ...UNICODE, ...INJECTION]);
    case 'sort_by':
    case 'sortBy':
      return pick(['created_at', 'filename', 'id', '', '__proto__', 'created_at,filename']);
    case 'sort_order':
    case 'sortOrder':
      return pick(['asc', 'desc', 'ASC', 'up', '', '-1']);
    case 'cursor':
      return cursorValue(handler === 'experimentTraceLogs');
    case 'trace_id':
    case 'traceId':
      return pick([...w.aKept, ...w.bTraces, '', 'x'.repeat(300), ...UNICODE, ...INJECTION]);
    default:
      return pick([...NUMBERS, ...UNICODE, ...INJECTION]);
  }
}

function queryString(r: RouteDef, mode: 'valid' | 'fuzz'): string {
  const names = QUERY_NAMES[r.handler] ?? [];
  const pairs: Array<[string, string]> = [];
  const n = mode === 'valid' ? int(3) : 1 + int(4);
  for (let i = 0; i < n; i++) {
    const name = names.length && chance(0.85) ? pick(names) : pick(STRAY_NAMES);
    let value = queryValue(r.handler, name);
    if (mode === 'valid') {
      if (name === 'page' || name === 'page_size' || name === 'pageSize' || name === 'limit') value = pick(['1', '2', '3', '50']);
      if (name === 'cursor') value = r.handler === 'experimentTraceLogs' ? w.aExperimentCursor : pick(w.aCursors).cursor;
    }
    pairs.push([name, value]);
    // The same parameter again (?page=1&page=2): the server joins repeats with commas.
    if (chance(mode === 'valid' ? 0 : 0.15)) pairs.push([name, queryValue(r.handler, name)]);
  }
  const parts = pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`);
  if (mode === 'fuzz' && chance(0.25))
    parts.push(
      pick([
        '',
        '&',
        '=',
        '==',
        'page',
        'page[]=1',
        'page_size[]=2',
        '%',
        '%zz',
        '%ED%A0%80',
        'a=b=c',
        ';',
        'page=1;page=2',
        'cursor',
        '+',
        'search=%2B%2B',
        'source=%00',
      ]),
    );
  return parts.length ? `?${parts.join('&')}` : pick(['', '?']);
}

/** A valid-looking body of the route (or its filter), drawn from real and made-up values. */
function bodyOf(r: RouteDef): Record<string, unknown> {
  switch (r.handler) {
    case 'presignUpload':
      return {
        filename: pick([
          'a.jsonl',
          'b.json',
          'fuzz-a.jsonl',
          `${pick(UNICODE)}.jsonl`,
          'x.txt',
          '../../x.jsonl',
          '.jsonl',
          `${'a'.repeat(300)}.json`,
        ]),
        type: pick([
          'application/jsonl',
          'application/json',
          'text/plain; charset=utf-8',
          'application/x-ndjson',
          'text/html',
          'application/json;;',
          '',
        ]),
        size: pick([1, 100, 52_428_800, 52_428_801, 0, -1, 1.5, 1e300]),
      };
    case 'createTraces':
      return { filename: pick([w.aUploadFilename, 'nope.jsonl', 'b.jsonl', 'drop-a.jsonl', `${pick(UNICODE)}.json`, '']) };
    case 'createEvaluation':
      return {
        trace_id: pick([...w.aKept, ...w.aDeletable, ...w.bTraces, uuidish()]),
        judge_id: pick(['judge-1', 'judge-2', 'judge-fuzz', ...UNICODE]),
        ...(chance(0.5) ? { passed: pick([true, false, null]) } : {}),
        ...(chance(0.4) ? { score: pick([0, 0.5, 1, -3, 1e-131, 1e127, 1e-130, 1e125]) } : {}),
        ...(chance(0.3) ? { reasoning: pick(['fine', '', 'x'.repeat(66_000), pick(UNICODE)]) } : {}),
        ...(chance(0.3) ? { judge_version: pick([1, 0, 2, -1, 1.5, 2 ** 53]) } : {}),
        ...(chance(0.2) ? { judge_name: pick(['Judge', '', ' ', 'x'.repeat(300)]) } : {}),
      };
    case 'pareaProject':
      return { name: pick(['fuzz-project', 'default', ' padded ', '', 'x'.repeat(256), 'x'.repeat(257), ...UNICODE]) };
    case 'recordTraceLog': {
      const id = pick([...w.aWritableSpans, ...w.bSpans, `fuzz-${int(50)}`, ...UNICODE, 'x'.repeat(256)]);
      return span(
        id,
        pick([id, 'w-root', 'b-root', `fuzz-${int(50)}`]),
        pick([w.aWritableExperiment, w.bExperiment, 'exp-fuzz-new', 'x'.repeat(300)]),
        {
          ...(chance(0.3) ? { start_timestamp: pick(['2026-11-01T10:00:00Z', 'yesterday', '2026-02-30T00:00:00Z', '']) } : {}),
          ...(chance(0.3) ? { scores: pick([[{ name: 'accuracy', score: 'x' }], 'none', [null, 1], [{ name: 5, score: '0.5' }]]) } : {}),
          ...(chance(0.2) ? { inputs: { question: pick(UNICODE), n: 5 } } : {}),
        },
      );
    }
    case 'updateTraceLog':
      return {
        trace_id: pick([...w.aWritableSpans, ...w.bSpans, `fuzz-${int(50)}`, 'x'.repeat(257)]),
        root_trace_id: pick([null, 'w-root', 'b-root', '']),
        field_name_to_value_map: pick([
          { output: 'updated', scores: [{ name: 'accuracy', score: 0.1 }] },
          { metadata: { run: 'x' }, end_timestamp: '2026-11-01T10:00:01Z' },
          { trace_id: 'moved', root_trace_id: 'elsewhere', parent_trace_id: 'p' },
          { experiment_uuid: pick([w.bExperiment, 'x'.repeat(300), 5]) },
          {},
        ]),
      };
    case 'experimentTraceLogs':
      return pick([
        {},
        { filter_field: null, filter_key: null, filter_operator: null, filter_value: null },
        {
          filter_field: pick(['score:accuracy', 'metadata', 'trace_name', 'status', 'latency', 'annotation:1:2', 'tags', 'bogus', '']),
          filter_key: pick([null, 'run', '', 'x'.repeat(300)]),
          filter_operator: pick([
            'equals',
            'not_equals',
            'like',
            'greater_than_or_equal',
            'less_than_or_equal',
            'greater_than',
            'less_than',
            'is_null',
            'exists',
            'in',
            'between',
            'EQUALS',
            'bogus',
            '',
          ]),
          filter_value: pick(['0.5', '["a","b"]', 'a,b', '%fuzz%', '[', '[1,2,3]', 5, true, '\\', ...INJECTION]),
        },
      ]);
    case 'createJob':
      // Jobs over nothing the fuzz relies on (a deletion never names a source or an experiment that exists, nor `all`).
      return pick([
        { source: pick(['fuzz-no-such-source', ...UNICODE]) },
        { experiment_uuid: pick(['exp-fuzz-none', 'x'.repeat(300), '']) },
        { source: 'fuzz-no-such-source', dry_run: pick([true, 'yes', 1]) },
        { status: pick(['pass', 'bogus', 5]), search: 'fuzz-nothing-matches' },
        { time_range: pick(['x', '0d', '99999999d', '']), source: 'fuzz-no-such-source' },
        { all: pick(['yes', 1, null]) },
      ]);
    case 'createExperiment':
      return {
        name: pick(['fuzz-exp', 'greetings', '', ' ', 'x'.repeat(257), ...UNICODE]),
        run_name: pick([`run-${int(5)}`, '', 'x'.repeat(300), ...UNICODE]),
        ...(chance(0.6) ? { metadata: pick([null, { k: 'v' }, { n: 5, deep: { a: [1] } }, 'x', [1]]) } : {}),
        ...(chance(0.5) ? { project_uuid: pick([w.a.projectId, w.b.projectId, null, 5]) } : {}),
      };
    case 'finishExperiment':
      return {
        status: pick(['completed', 'failed', 'running', 'bogus', null]),
        dataset_level_stats: pick([[], null, [{ name: 'acc', score: 0.5 }], [{ name: 'x', score: 'y' }], 'x']),
      };
    case 'listExperiments':
      return pick([
        {},
        { project_name: null, metadata_filter: null, experiment_name_filter: null, run_name_filter: null, experiment_uuids: null },
        { experiment_name_filter: pick(['fuzz-exp', 'greetings', ...UNICODE]), run_name_filter: pick([null, 'run-1']) },
        {
          experiment_uuids: pick([
            [w.aExperimentUuid],
            [w.bExperimentUuid],
            ['x'.repeat(300)],
            Array.from({ length: 101 }, () => 'u'),
            'x',
          ]),
        },
        { metadata_filter: pick([{ k: 'v' }, { purpose: 5 }, [], 'x']) },
      ]);
    case 'recordFeedback':
      return {
        trace_id: pick([...w.aWritableSpans, ...w.bSpans, `fuzz-${int(50)}`, '', 'x'.repeat(300), null]),
        score: pick([0, 0.5, 1, 1.5, -1, 'x', null, 1e300]),
        ...(chance(0.4)
          ? { name: pick(['thumbs', null, 5]), comment: pick(['ok', null, 'x'.repeat(17_000)]), target: pick([null, 'y', {}]) }
          : {}),
      };
    case 'getTraceLogs':
      return {
        project_name: pick(['default', null, 'x'.repeat(300), 5]),
        ...(chance(0.5)
          ? {
              filter_field: pick(['trace_name', 'score:accuracy', 'feedback_score', 'bogus', null]),
              filter_operator: pick(['equals', 'like', 'greater_than', 'bogus', null]),
              filter_value: pick(['span w-root', '%w%', '0.5', null, 5]),
            }
          : {}),
        ...(chance(0.6) ? { page: pick([1, 2, 0, -1, 1.5, 'x', 1e9, null]), page_size: pick([1, 10, 100, 101, 0, null, 'x']) } : {}),
        ...(chance(0.5)
          ? {
              time_range: pick(['na', '1h', '7d', '1m', '1y', '2w', '', null, 5]),
              status: pick(['success', 'error', null, '', 'x'.repeat(200)]),
            }
          : {}),
        ...(chance(0.3) ? { sort_order: pick(['asc', 'desc', 'up', null]), sort_by: pick(['start_timestamp', 'latency', null]) } : {}),
      };
    case 'recordLangchainRun': {
      const id = `lc-fuzz-${int(20)}`;
      return {
        id: pick([id, id, '', null, 5, 'x'.repeat(300)]),
        name: pick(['chain', '', null, ...UNICODE]),
        run_type: pick(['chain', 'llm', 'tool', 'bogus', null]),
        start_time: pick([Date.now(), '2026-11-01T10:00:00.000000', '2026-11-01T10:00:00Z', 'yesterday', -1e20, null]),
        end_time: pick([Date.now() + 5, '2026-11-01T10:00:01', null]),
        inputs: pick([{ q: 'x' }, { messages: [[{ type: 'human', content: 'hi' }]] }, { prompts: ['p'] }, null, 'x']),
        outputs: pick([{ text: 'y' }, { generations: [[{ text: 'g' }]], llm_output: { token_usage: { prompt_tokens: 1 } } }, null, []]),
        child_runs: pick([[], [{ id: `${id}-c`, name: 'c', run_type: 'llm', inputs: {}, child_runs: [] }], [{ name: 'no id' }], 'x', null]),
        ...(chance(0.4)
          ? {
              _parea_root_trace_id: pick(['w-root', null, 'b-root']),
              _parea_parent_trace_id: pick(['w-root', null]),
              _tags: pick([['t'], 'x', null]),
              _metadata: pick([{ k: 1 }, null, 'x']),
            }
          : {}),
      };
    }
    case 'postEvaluationResult':
      return {
        passed: pick([true, false, null, 'yes', 1]),
        ...(chance(0.5) ? { score: pick([0, 0.5, 1, 1e-131, 1e127, 'x']), reasoning: pick(['fine', '', 'x'.repeat(66_000)]) } : {}),
        ...(chance(0.4)
          ? {
              model: pick(['gpt-4o', '', 'x'.repeat(300), 5]),
              steps: pick([[], [{ tool: 't', args: {}, result: 'r' }], [{ tool: 5 }], 'x']),
              turns: pick([1, -1, 1.5, 2 ** 60]),
              latency_ms: pick([0, 10, -5]),
              total_cost: pick([0, 0.1, -1]),
            }
          : {}),
      };
    case 'notImplemented':
      return { name: pick(['judge', ...UNICODE]), trace_ids: pick([w.aKept, []]), judge_id: 'judge-1' };
    case 'otlpTraces':
      // An OTLP/JSON export with no span in it: its mutations reach the decoder, and none creates a trace.
      return {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: pick(UNICODE) } }] },
            scopeSpans: [{ scope: { name: pick(['scope', ...INJECTION]), version: '1' }, spans: [] }],
          },
        ],
      };
    default:
      return { anything: pick(UNICODE) };
  }
}

const DEEP_ARRAY = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
const DEEP_OBJECT = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
const SEVEN_MB_BODY = Buffer.concat([
  Buffer.from('{"trace_id":"'),
  Buffer.alloc(SEVEN_MB, 'x'),
  Buffer.from('","judge_id":"j","filename":"f.jsonl"}'),
]);
const BAD_UTF8 = [
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0x80]),
];

/** A body for the route, mutated one way or another. */
function mutatedBody(r: RouteDef): { body: string | Buffer; kind: string } {
  const obj = bodyOf(r);
  const text = JSON.stringify(obj);
  const kind = pick([
    'valid',
    'truncated',
    'wrongTypes',
    'deep',
    'deepField',
    'big',
    'array',
    'scalar',
    'proto',
    'dupKeys',
    'badUtf8',
    'empty',
    'notJson',
    'bigNumbers',
    'extraFields',
  ]);
  switch (kind) {
    case 'truncated':
      return { kind, body: text.slice(0, int(text.length)) };
    case 'wrongTypes': {
      const out: Record<string, unknown> = { ...obj };
      for (const k of Object.keys(out))
        if (chance(0.6)) out[k] = pick([0, -1, 1.5, true, false, null, [], {}, 'x', [obj], { nested: obj }, [[[]]]]);
      return { kind, body: JSON.stringify(out) };
    }
    case 'deep':
      return { kind, body: pick([DEEP_ARRAY, DEEP_OBJECT]) };
    case 'deepField': {
      // 10,000 levels in one field: at the top, or inside a map the handler keeps (an update's fields, a span's inputs).
      const deep = pick([DEEP_ARRAY, DEEP_OBJECT]);
      const holder = 'field_name_to_value_map' in obj && chance(0.7) ? 'field_name_to_value_map' : null;
      const field = pick([...Object.keys(obj), 'inputs', 'output', 'metadata', 'filter_value', 'extra']);
      const marked = holder
        ? { ...obj, [holder]: { ...(obj[holder] as object), [pick(['output', 'metadata', 'inputs', 'scores'])]: '\u0001DEEP' } }
        : { ...obj, [field]: '\u0001DEEP' };
      return { kind, body: JSON.stringify(marked).replace('"\\u0001DEEP"', deep) };
    }
    case 'big':
      return { kind, body: JSON.stringify({ ...obj, pad: 'p'.repeat(pick([300_000, 900_000])) }) };
    case 'array':
      return { kind, body: pick(['[]', `[${text}]`, `[${text},${text}]`]) };
    case 'scalar':
      return { kind, body: pick(['null', 'true', '1', '"x"', '-0', '1e999', '""', '[null]']) };
    case 'proto':
      return {
        kind,
        body: `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}${text.length > 2 ? ',' : ''}${text.slice(1)}`,
      };
    case 'dupKeys': {
      const k = Object.keys(obj)[0] ?? 'a';
      return {
        kind,
        body: `{${JSON.stringify(k)}:${pick(['1', 'null', '"other"', '{}'])},${text.slice(1, -1)}${text.length > 2 ? ',' : ''}${JSON.stringify(k)}:"last"}`,
      };
    }
    case 'badUtf8': {
      // Inside a string value when there is one, else anywhere.
      const at = text.indexOf('":"') >= 0 ? text.indexOf('":"') + 3 : int(text.length);
      return { kind, body: Buffer.concat([Buffer.from(text.slice(0, at)), pick(BAD_UTF8), Buffer.from(text.slice(at))]) };
    }
    case 'empty':
      return { kind, body: pick(['', ' ', '\n\t ', '\u0000']) };
    case 'notJson':
      return {
        kind,
        body: pick([
          '{',
          '}',
          '{"a":}',
          "{'a':1}",
          'NaN',
          'undefined',
          '{"a":1,}',
          '<xml/>',
          'a=b&c=d',
          '\ufeff{}',
          '{"a":"\\x"}',
          '{"a":"\\ud800"}',
          '/*c*/{}',
        ]),
      };
    case 'bigNumbers':
      return {
        kind,
        body: text.replace(/(?<=:)(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|true|false|null)(?=[,}])/gi, () =>
          pick(['1e400', '-1e400', '123456789012345678901234567890', '-0', '1e-400', '0.1e1']),
        ),
      };
    case 'extraFields':
      return {
        kind,
        body: JSON.stringify({
          ...obj,
          organization_id: w.b.organizationId,
          project_id: w.b.projectId,
          project_uuid: w.b.projectId,
          id: 'forced-id',
          created_at: 'x',
        }),
      };
    default:
      return { kind: 'valid', body: text };
  }
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/jsonx',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/octet-stream',
  '',
  ';;;',
  'application/json; charset="utf-8"',
  'x'.repeat(300),
  'image/png',
  'application/json, text/plain',
];

const ACCEPT_ENCODINGS = [
  'gzip',
  'gzip;q=0',
  'gzip;q=abc',
  '*',
  '*;q=0',
  '*;q=0, gzip;q=0',
  'br',
  'identity',
  'gzip, deflate, br, zstd',
  'GZIP',
  ' gzip ; q = 0.5',
  ','.repeat(1000),
  'x'.repeat(8000),
  'gzip;q=1.5',
  'gzip;q=-1',
  'deflate;q=1, *;q=0.1',
  ';;',
  'gzip;q=0.000',
  'identity;q=0',
];

interface AuthVariant {
  headers: Record<string, string | string[]>;
  /** Whose key the server should see, none, or a revoked one. */
  as: 'a' | 'b' | 'none' | 'revoked';
}
function authVariant(): AuthVariant {
  const k = w.a.apiKey;
  return pick<() => AuthVariant>([
    () => ({ headers: {}, as: 'none' }),
    () => ({ headers: { 'x-api-key': '' }, as: 'none' }),
    () => ({ headers: { 'x-api-key': `tik_${uuidish().replace(/-/g, '')}` }, as: 'none' }),
    () => ({ headers: { 'x-api-key': w.revokedKey }, as: 'revoked' }),
    () => ({ headers: { 'x-api-key': `${k}x` }, as: 'none' }),
    () => ({ headers: { 'x-api-key': k.slice(0, -1) }, as: 'none' }),
    () => ({ headers: { 'x-api-key': k.toUpperCase() }, as: 'none' }),
    () => ({ headers: { 'x-api-key': 'x'.repeat(pick([513, 600, 8000])) }, as: 'none' }),
    () => ({ headers: { 'x-api-key': [k, k] }, as: 'none' }),
    () => ({ headers: { 'x-api-key': 'null' }, as: 'none' }),
    () => ({ headers: { 'x-api-key': 'tik_\u00e9\u00ff' }, as: 'none' }),
    () => ({ headers: { 'x-api-key': `  ${k}  ` }, as: 'a' }),
    () => ({ headers: { authorization: `Bearer ${k}` }, as: 'a' }),
    () => ({ headers: { authorization: `bearer ${k}` }, as: 'a' }),
    () => ({ headers: { authorization: `Bearer   ${k}` }, as: 'a' }),
    () => ({ headers: { authorization: 'Bearer' }, as: 'none' }),
    () => ({ headers: { authorization: 'Bearer ' }, as: 'none' }),
    () => ({ headers: { authorization: `Basic ${Buffer.from(`user:${k}`).toString('base64')}` }, as: 'none' }),
    () => ({ headers: { authorization: `Bearer ${k} extra` }, as: 'none' }),
    () => ({ headers: { authorization: k }, as: 'none' }),
    () => ({ headers: { authorization: `Bearer ${k}`, 'x-api-key': 'wrong' }, as: 'none' }),
    () => ({ headers: { authorization: `Bearer ${k}`, 'x-api-key': '  ' }, as: 'a' }),
    () => ({ headers: { authorization: 'Bearer wrong', 'x-api-key': k }, as: 'a' }),
    () => ({ headers: { 'x-api-key': w.b.apiKey }, as: 'b' }),
    () => ({ headers: { 'X-API-KEY': k }, as: 'a' }),
  ])();
}

interface Case {
  n: number;
  /** The route the request was made from (null: a path no route serves). */
  route: RouteDef | null;
  kind: string;
  req: RawRequest | { raw: string };
  /** A check beyond the invariants, answering a problem or null. */
  expect?: (res: RawResponse, body: Json) => string | null;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'PURGE', 'SEARCH', 'LOCK'];

const expectStatus =
  (status: number, code?: string) =>
  (res: RawResponse, body: Json): string | null =>
    res.status !== status || (code !== undefined && body?.error?.code !== code) ? `expected ${status}${code ? ` ${code}` : ''}` : null;

/** API Gateway's own answer when the authorizer denies: the one error that is not `{"error": {...}}`. */
const isGatewayDeny = (res: RawResponse, body: Json): boolean =>
  res.status === 403 && body !== null && typeof body === 'object' && Object.keys(body).length === 1 && body.message === 'Forbidden';
const expectGatewayDeny = (res: RawResponse, body: Json): string | null =>
  isGatewayDeny(res, body) ? null : 'expected the gateway\'s 403 {"message":"Forbidden"}';

function headersFor(
  auth: Record<string, string | string[]>,
  body: string | Buffer | undefined,
  contentType: string | null,
): Record<string, string | string[]> {
  return { ...auth, ...(body !== undefined && contentType !== null ? { 'content-type': contentType } : {}) };
}

/** One generated request aimed at route r. */
function caseFor(r: RouteDef, n: number): Case {
  const auth = { 'x-api-key': w.a.apiKey };
  const hasBody = r.method === 'POST' || r.method === 'PUT';
  const kind = pick([
    'valid',
    'valid',
    'query',
    'query',
    'path',
    'path',
    'path',
    'body',
    'body',
    'body',
    'method',
    'auth',
    'auth',
    'tenant',
    'headers',
    'unknown',
    'raw',
  ]);
  const base = () => {
    const { path } = fillPath(r, 'valid');
    const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
    return { path: `${path}${queryString(r, 'valid')}`, body };
  };
  const done = (c: Omit<Case, 'n' | 'route'>): Case => ({ n, route: r, ...c });

  switch (kind) {
    case 'valid': {
      const { path, body } = base();
      return done({
        kind,
        req: { method: r.method, path, headers: headersFor(auth, body, 'application/json'), ...(body !== undefined ? { body } : {}) },
      });
    }
    case 'query': {
      // A cursor this API issued (as is, cut, or changed inside) with the very query it is bound to.
      if (r.handler === 'listTraces' && chance(0.4)) {
        const c = pick(w.aCursors);
        const cursor = chance(0.2) ? c.cursor : chance(0.15) ? c.cursor.slice(0, int(c.cursor.length)) : mutatedCursor(c.cursor);
        const query = chance(0.3) ? c.query.replace(/page_size=\d+/, `page_size=${enc(pick(NUMBERS))}`) : c.query;
        return done({
          kind: 'query:cursor',
          req: { method: r.method, path: `${fillPath(r, 'valid').path}?${query}&cursor=${enc(cursor)}`, headers: auth },
        });
      }
      if (r.handler === 'experimentTraceLogs' && chance(0.4)) {
        const cursor = chance(0.2) ? w.aExperimentCursor : mutatedCursor(w.aExperimentCursor);
        const body = pick(['{}', JSON.stringify({ filter_field: null, filter_key: null, filter_operator: null, filter_value: null })]);
        const { path } = fillPath(r, 'valid', { experimentUuid: FIXTURE_EXPERIMENT });
        return done({
          kind: 'query:cursor',
          req: {
            method: r.method,
            path: `${path}?limit=${enc(pick(['1', '2', '10000', '10001', '0', ...NUMBERS]))}&cursor=${enc(cursor)}`,
            headers: headersFor(auth, body, 'application/json'),
            body,
          },
        });
      }
      const { path } = fillPath(r, 'valid');
      const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
      return done({
        kind,
        req: {
          method: r.method,
          path: `${path}${queryString(r, 'fuzz')}`,
          headers: headersFor(auth, body, 'application/json'),
          ...(body !== undefined ? { body } : {}),
        },
      });
    }
    case 'path': {
      if (paramsOf(r).length === 0) return caseFor(r, n); // nothing to mutate: draw again
      const { path } = fillPath(r, 'fuzz');
      const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
      return done({
        kind,
        req: {
          method: r.method,
          path: `${path}${queryString(r, 'valid')}`,
          headers: headersFor(auth, body, 'application/json'),
          ...(body !== undefined ? { body } : {}),
        },
      });
    }
    case 'body': {
      const { path } = fillPath(r, 'valid');
      // Bodies go to GET and DELETE routes too: they must be ignored or refused, never crash.
      const { body, kind: bodyKind } = hasBody || chance(0.3) ? mutatedBody(r) : { body: undefined, kind: 'none' };
      const contentType = chance(0.75) ? 'application/json' : chance(0.3) ? null : pick(CONTENT_TYPES);
      return done({
        kind: `body:${bodyKind}`,
        req: { method: r.method, path, headers: headersFor(auth, body, contentType), ...(body !== undefined ? { body } : {}) },
      });
    }
    case 'method': {
      const { path } = fillPath(r, 'valid');
      const allowed = new Set(routesOn(path).map((x) => x.method));
      const method = pick(METHODS.filter((m) => !allowed.has(m as RouteDef['method'])));
      const body = chance(0.3) ? JSON.stringify(bodyOf(r)) : undefined;
      const allow = [...allowed].sort().join(',');
      return done({
        kind: `method:${method}`,
        req: { method, path, headers: headersFor(auth, body, 'application/json'), ...(body !== undefined ? { body } : {}) },
        expect: (res) => {
          if (method === 'OPTIONS') return res.status === 204 ? null : 'expected 204 for a CORS preflight';
          if (res.status !== 405) return 'expected 405';
          const got = String(res.headers.allow ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
            .sort()
            .join(',');
          return got === allow ? null : `expected Allow: ${allow}, got ${JSON.stringify(res.headers.allow)}`;
        },
      });
    }
    case 'auth': {
      const { path } = base();
      const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
      let v = authVariant();
      // B's key on a route with no tenant in its path is B's own request: a body may write B's spans (b-root's tree), which B's snapshot holds unchanged.
      while (v.as === 'b' && hasBody && !isProjectRoute(r)) v = authVariant();
      return done({
        kind: `auth:${v.as}`,
        req: { method: r.method, path, headers: headersFor(v.headers, body, 'application/json'), ...(body !== undefined ? { body } : {}) },
        // An open route (auth none) answers whatever the key.
        expect:
          r.auth === 'none'
            ? undefined
            : v.as === 'none'
              ? r.auth === 'apiKeyInRoute'
                ? expectStatus(401, 'unauthorized')
                : expectGatewayDeny
              : v.as === 'revoked'
                ? expectStatus(401, 'api_key_revoked')
                : v.as === 'b' && isProjectRoute(r)
                  ? expectStatus(404, 'not_found')
                  : undefined,
      });
    }
    case 'tenant': {
      // B's key on A's path, or A's key with B's ids, cursors and experiments.
      if (isProjectRoute(r) && chance(0.5)) {
        const { path } = base();
        const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
        return done({
          kind: 'tenant:b-key-on-a-path',
          req: {
            method: r.method,
            path,
            headers: headersFor({ 'x-api-key': w.b.apiKey }, body, 'application/json'),
            ...(body !== undefined ? { body } : {}),
          },
          expect: expectStatus(404, 'not_found'),
        });
      }
      const fixed: Record<string, string> = { organizationId: w.a.organizationId, projectId: w.a.projectId };
      const { path } = fillPath(r, 'other', fixed);
      const body = hasBody ? JSON.stringify(bodyOf(r)) : undefined;
      let expectation: Case['expect'];
      if (['getTrace', 'deleteTrace', 'getEvaluation', 'getUpload', 'getTraceLog'].includes(r.handler))
        expectation = expectStatus(404, 'not_found');
      if (r.handler === 'experimentTraceLogs')
        expectation = (res) =>
          (res.status === 200 && res.text === '[]') || res.status === 400 ? null : "expected [] for another tenant's experiment";
      let query = '';
      if (r.handler === 'listTraces' && chance(0.5)) {
        query = `?cursor=${enc(pick(w.bCursors))}`;
        expectation = expectStatus(400, 'invalid_cursor');
      }
      if (r.handler === 'experimentTraceLogs' && chance(0.5)) {
        // B's cursor (issued for B's experiment and the empty filter) on B's experiment, from A.
        const { path: own } = fillPath(r, 'valid', { experimentUuid: w.bExperiment });
        return done({
          kind: 'tenant:b-cursor',
          req: {
            method: r.method,
            path: `${own}?cursor=${enc(w.bExperimentCursor)}`,
            headers: headersFor(auth, '{}', 'application/json'),
            body: '{}',
          },
          expect: expectStatus(400, 'invalid_cursor'),
        });
      }
      if (r.handler === 'listEvaluations') {
        query = `?trace_id=${enc(pick(w.bTraces))}`;
        expectation = (_res, b) =>
          b?.total === 0 && b?.trace_evaluations?.length === 0 ? null : "expected no evaluations for another tenant's trace";
      }
      if (r.handler === 'createEvaluation') {
        const ev = JSON.stringify({ trace_id: pick(w.bTraces), judge_id: 'intruder', passed: true });
        return done({
          kind: 'tenant:b-trace-in-body',
          req: { method: r.method, path, headers: headersFor(auth, ev, 'application/json'), body: ev },
          expect: expectStatus(404, 'not_found'),
        });
      }
      return done({
        kind: 'tenant:b-ids',
        req: {
          method: r.method,
          path: `${path}${query}`,
          headers: headersFor(auth, body, 'application/json'),
          ...(body !== undefined ? { body } : {}),
        },
        ...(expectation ? { expect: expectation } : {}),
      });
    }
    case 'headers': {
      const { path, body } = base();
      const variant = int(8);
      const extra: Record<string, string | string[]> = {};
      let expectation: Case['expect'];
      if (variant === 0) extra['accept-encoding'] = pick(ACCEPT_ENCODINGS);
      if (variant === 1) {
        const size = pick([8_000, 20_000, 40_000]);
        extra['x-fuzz'] = 'h'.repeat(size);
        if (size > 16_384) expectation = expectStatus(431);
      }
      if (variant === 2) for (let i = 0; i < 300; i++) extra[`x-h-${i}`] = String(i);
      if (variant === 3) extra.expect = pick(['100-continue', 'bogus', '']);
      if (variant === 4) extra.accept = pick(['text/html', '*/*', 'application/xml', '', 'x'.repeat(2000)]);
      if (variant === 5) extra.host = pick(['evil.example', '', 'x'.repeat(3000), '[::1]', 'a b']);
      if (variant === 6) extra['x-forwarded-for'] = pick(['1.2.3.4', 'x'.repeat(5000), '::1, 127.0.0.1']);
      if (variant === 7) extra['content-type'] = pick(CONTENT_TYPES);
      const headers = { ...headersFor(auth, body, 'application/json'), ...extra };
      if (body === undefined && variant === 7) delete headers['content-type'];
      return done({
        kind: `headers:${variant}`,
        req: { method: r.method, path, headers, ...(body !== undefined ? { body } : {}) },
        ...(expectation ? { expect: expectation } : {}),
      });
    }
    case 'unknown':
      return { ...unknownCase(n, r), route: r };
    default: {
      // Bytes node:http would not send: the server's HTTP parser refuses them; the refusal must still be JSON.
      const { path } = fillPath(r, 'valid');
      const key = w.a.apiKey;
      const raw = pick([
        `${r.method.toLowerCase()} ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nthis is not a header\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        `${r.method} ${path} HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\u0000\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path}#frag ment HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        `${r.method} ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\nConnection: close\r\n\r\n0\r\n\r\n`,
      ]);
      return done({ kind: 'raw', req: { raw } });
    }
  }
}

/** A path no route serves (derived from a route's own), with a valid key: 404. */
function unknownCase(n: number, r: RouteDef = pick(routes)): Case {
  const { path } = fillPath(r, 'valid');
  const variants = [
    `${path}/`,
    `${path}/extra`,
    `${path}/extra/more`,
    path.replace('/api/', '/API/'),
    path.replace('/v1/', '/v2/'),
    path.replace('/api/', '/api//'),
    `${path}.json`,
    path.replace(/\/([^/]+)$/, '%2F$1').replace(/^(?!\/)/, '/'), // a one-segment path (/health) keeps its leading slash
    `${path}%2F`,
    `${path}/..%2F..%2F..%2Fetc%2Fpasswd`,
    `${path}/../../../../etc/passwd`,
    '/%2e%2e/%2e%2e/etc/passwd',
    // (`/` itself is the web viewer's page: test/integration/stats.test.ts checks it.)
    '/index.htm',
    '/api',
    '/api/v1',
    '/api/parea/v1',
    '/api/parea/v1/trace_log/a/b',
    '/favicon.ico',
    `${path};x=1`,
    '*',
    `/${'x/'.repeat(2000)}`,
    `/api/v1/organizations${'%00'.repeat(50)}`,
  ];
  const p = pick(variants);
  const served = routesOn(p).length > 0;
  return {
    n,
    route: null,
    kind: 'unknown',
    req: { method: pick(['GET', 'POST', 'DELETE', 'PUT']), path: p, headers: { 'x-api-key': w.a.apiKey } },
    expect: !served && decodes(p) ? expectStatus(404, 'not_found') : undefined,
  };
}

function generate(): Case[] {
  const cases: Case[] = [];
  let n = 0;
  for (const r of routes) {
    for (let i = 0; i < budgetOf(r); i++) cases.push(caseFor(r, n++));
    // One 7 MB body per route, whatever its method: refused with a JSON 413 before anyone parses it.
    const { path } = fillPath(r, 'valid');
    cases.push({
      n: n++,
      route: r,
      kind: 'body:7MB',
      req: { method: r.method, path, headers: { 'x-api-key': w.a.apiKey, 'content-type': 'application/json' }, body: SEVEN_MB_BODY },
      expect: expectStatus(413),
    });
  }
  for (let i = 0; i < UNKNOWN_PATHS; i++) cases.push(unknownCase(n++));
  // Mixed order: concurrent requests hit different routes, as real traffic does.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [cases[i], cases[j]] = [cases[j]!, cases[i]!];
  }
  return cases;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/** The messages the router itself answers with (the request never reached a handler). */
const ROUTER_MESSAGES = [
  /^no route for /,
  / is not allowed on /,
  /^a valid API key is required \(x-api-key header\)$/,
  /^the request body is over /,
  /^the request path is not valid percent-encoding$/,
  /^the request is not valid HTTP$/,
  /^cannot meet the expectation /,
];

function problemsOf(c: Case, res: RawResponse): { problems: string[]; body: Json; handled: boolean } {
  const problems: string[] = [];
  const method = 'raw' in c.req ? '' : c.req.method;
  const ct = String(res.headers['content-type'] ?? '');
  let body: Json;
  if (res.status >= 500) problems.push(`a ${res.status}`);
  if (res.status >= 400) {
    if (!/^application\/json(\s*;|$)/i.test(ct)) problems.push(`an error without Content-Type application/json (${JSON.stringify(ct)})`);
    if (method !== 'HEAD') {
      try {
        body = JSON.parse(res.text);
        if (!isGatewayDeny(res, body) && (typeof body?.error?.code !== 'string' || typeof body?.error?.message !== 'string')) {
          problems.push('an error body without {"error": {"code": string, "message": string}}');
        }
      } catch {
        problems.push('an error body that is not JSON');
      }
    }
  } else if (res.status === 204) {
    if (res.bytes.length) problems.push('a 204 with a body');
  } else if (res.status === 200 && /^application\/x-ndjson(\s*;|$)/i.test(ct) && c.route !== null && /\/export$/.test(c.route.path)) {
    // The JSON Lines exports: every line a JSON object.
    for (const line of res.text.split('\n')) {
      if (line === '') continue;
      try {
        if (typeof JSON.parse(line) !== 'object') problems.push('a JSON Lines line that is not an object');
      } catch {
        problems.push('a JSON Lines line that is not JSON');
        break;
      }
    }
  } else if (res.status >= 200 && res.status < 300) {
    if (!/^application\/json(\s*;|$)/i.test(ct)) problems.push(`a success without Content-Type application/json (${JSON.stringify(ct)})`);
    let bytes = res.bytes;
    const encoding = res.headers['content-encoding'];
    if (encoding === 'gzip') {
      const asked =
        'raw' in c.req ? '' : String(Object.entries(c.req.headers ?? {}).find(([k]) => k.toLowerCase() === 'accept-encoding')?.[1] ?? '');
      if (!/gzip|\*/i.test(asked)) problems.push('a gzip body the request did not ask for');
      try {
        bytes = gunzipSync(bytes);
      } catch {
        problems.push('a gzip body that does not gunzip');
      }
    } else if (encoding !== undefined) problems.push(`an unexpected Content-Encoding ${encoding}`);
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      problems.push('a success body that is not JSON');
    }
  } else {
    problems.push(`an unexpected status ${res.status}`);
  }
  const p = c.expect?.(res, body);
  if (p) problems.push(p);
  const routerAnswer =
    res.status >= 400 &&
    (res.status === 405 || res.status === 431 || ROUTER_MESSAGES.some((m) => m.test(String(body?.error?.message ?? ''))));
  return { problems, body, handled: c.route !== null && !routerAnswer && res.status !== 0 };
}

interface Failure {
  c: Case;
  status: number | string;
  answer: string;
  problems: string[];
}

function report(f: Failure): string {
  return [
    `#${f.c.n} ${f.c.route ? routeKey(f.c.route) : '(no route)'} [${f.c.kind}] → ${f.status}: ${f.problems.join('; ')}`,
    `  ${describeRequest(f.c.req)}`,
    `  answer: ${JSON.stringify(f.answer.slice(0, 300))}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

describe(`API fuzz (FUZZ_SEED=${SEED})`, () => {
  const perRoute = new Map<string, { sent: number; handled: number; statuses: Record<string, number> }>();
  const failures: Failure[] = [];
  const deleted = new Set<string>();
  let total = 0;
  const createdEvaluations: Array<{ id: string; trace_id: string }> = [];
  /** Pending evaluations a valid fuzz request gave a verdict. */
  const completed = new Set<string>();

  it('answers thousands of generated requests over every route without a 5xx, every error a JSON error object', async () => {
    const cases = generate();
    for (const r of routes) perRoute.set(routeKey(r), { sent: 0, handled: 0, statuses: {} });
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          let res: RawResponse;
          try {
            res =
              'raw' in c.req ? await rawSocketRequest(stack.info.apiUrl, c.req.raw) : await rawRequest(stack.info.apiUrl, c.req, { agent });
          } catch (err) {
            failures.push({ c, status: 'no answer', answer: String(err), problems: ['no HTTP answer'] });
            continue;
          }
          total++;
          const { problems, body, handled } = problemsOf(c, res);
          if (problems.length) failures.push({ c, status: res.status, answer: res.text, problems });
          if (c.route) {
            const s = perRoute.get(routeKey(c.route))!;
            s.sent++;
            if (handled) s.handled++;
            s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
          }
          if (c.route?.handler === 'deleteTrace' && res.status === 204 && !('raw' in c.req)) {
            deleted.add(decodeURIComponent(c.req.path.split('?')[0]!.split('/').pop()!));
          }
          if (c.route?.handler === 'createEvaluation' && res.status === 201)
            createdEvaluations.push({ id: body.id, trace_id: body.trace_id });
          if (c.route?.handler === 'postEvaluationResult' && res.status === 201) completed.add(body.trace_evaluation_id as string);
        }
      }),
    );
    const table = [...perRoute].map(
      ([k, s]) =>
        `${String(s.sent).padStart(4)} sent ${String(s.handled).padStart(4)} reached the handler  ${k}  ${JSON.stringify(s.statuses)}`,
    );
    console.log(
      `fuzz: ${total} requests in ${Date.now() - started} ms (seed ${SEED}); ${deleted.size} traces deleted, ${createdEvaluations.length} evaluations created\n${table.join('\n')}`,
    );
    expect(failures.map(report).join('\n\n'), `${failures.length} failing requests`).toBe('');
    expect(total).toBeGreaterThanOrEqual(2000);
    for (const r of routes) {
      const s = perRoute.get(routeKey(r))!;
      expect(s.sent, `requests aimed at ${routeKey(r)}`).toBeGreaterThanOrEqual(budgetOf(r));
      expect(s.handled, `requests that reached the handler of ${routeKey(r)}`).toBeGreaterThanOrEqual(
        Math.min(25, Math.floor(budgetOf(r) / 3)),
      );
    }
  }, 240_000);

  it('is still healthy afterwards, and nothing leaked into Object.prototype', async () => {
    const res = await call(w.a, 'GET', '/api/v1/organizations');
    expect(res.status).toBe(200);
    expect(res.body.data.id).toBe(w.a.organizationId);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("keeps A's data as it was, minus the traces valid DELETEs removed, counters equal to the items", async () => {
    const now = await snapshot(w.a, [FIXTURE_EXPERIMENT], FIXTURE_ROOTS);
    const expected = before.a.traces.traces.filter((t) => !deleted.has(t.id)).map((t) => t.id);
    expect(now.traces.traces.map((t) => t.id)).toEqual(expected);
    for (const id of deleted) expect(w.aDeletable).toContain(id);
    const items = await projectTraces(stack);
    expect(items.map((t) => t.id).sort()).toEqual([...expected].sort());
    expect(now.counter?.traces).toBe(items.length);
    expect(now.traces.total_count).toBe(items.length);
    const bySource: Record<string, number> = {};
    for (const t of items) bySource[t.source] = (bySource[t.source] ?? 0) + 1;
    expect(Object.fromEntries(Object.entries(now.counter?.by_source ?? {}).filter(([, v]) => v !== 0))).toEqual(bySource);
    expect((now.sources as { sources: string[] }).sources).toEqual(Object.keys(bySource).sort());
    // The evaluations are those made before and by the fuzz, but for the deleted traces (they went with them).
    const expectedEvaluations = [...before.a.evaluations.trace_evaluations, ...createdEvaluations]
      .filter((e) => !deleted.has(e.trace_id))
      .map((e) => e.id);
    expect(now.evaluations.trace_evaluations.map((e) => e.id).sort()).toEqual(expectedEvaluations.sort());
    expect(now.evaluations.total).toBe(expectedEvaluations.length);
    // Every trace's evaluation count is the number of its evaluations.
    const perTrace: Record<string, number> = {};
    for (const e of now.evaluations.trace_evaluations) perTrace[e.trace_id] = (perTrace[e.trace_id] ?? 0) + 1;
    for (const t of now.traces.traces) expect(t.evaluations_count, `evaluations_count of ${t.id}`).toBe(perTrace[t.id] ?? 0);
    for (const traceId of Object.keys(perTrace)) expect(expected, `an evaluation of ${traceId}, which is gone`).toContain(traceId);
    // The evaluations made before are all still there, unchanged, but those of deleted traces.
    const nowById = new Map(now.evaluations.trace_evaluations.map((e) => [e.id, e]));
    for (const e of before.a.evaluations.trace_evaluations) {
      if (deleted.has(e.trace_id)) expect(nowById.has(e.id)).toBe(false);
      else if (completed.has(e.id))
        expect(nowById.get(e.id)).toMatchObject({ id: e.id, trace_id: e.trace_id, status: 'success', passed: expect.any(Boolean) });
      else expect(nowById.get(e.id)).toEqual(e);
    }
    // Spans no write could name, and the uploads, are exactly as they were.
    expect(now.trees).toEqual(before.a.trees);
    expect(now.uploads).toEqual(before.a.uploads);
  });

  it("keeps the other tenant's data exactly as it was", async () => {
    const now = await snapshot(w.b, ['exp-fuzz-b', w.bPrivateExperiment], [...w.bSpans, ...w.bPrivateSpans]);
    expect(now).toEqual(before.b);
  });
});

/** Each bug the fuzzer found, as the exact request that showed it (each was a 5xx or a non-JSON error). */
describe('what the fuzzer found', () => {
  const reencode = (cursor: string, change: (body: Record<string, unknown>) => void) => {
    const body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    change(body);
    return Buffer.from(JSON.stringify(body)).toString('base64url');
  };
  const errorOf = (res: RawResponse) => {
    expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
    return (JSON.parse(res.text) as { error: { code: string; message: string } }).error;
  };

  it("a request Node's HTTP parser refuses (malformed, or headers over 16 KB) is a JSON error, not a bare status line", async () => {
    const malformed = await rawSocketRequest(
      stack.info.apiUrl,
      'GET /api/v1/organizations HTTP/1.1\r\nHost: x\r\nthis is not a header\r\nConnection: close\r\n\r\n',
    );
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed).code).toBe('bad_request');
    const big = await rawRequest(stack.info.apiUrl, {
      method: 'GET',
      path: '/api/v1/organizations',
      headers: { 'x-api-key': w.a.apiKey, 'x-fuzz': 'h'.repeat(20_000) },
    });
    expect(big.status).toBe(431);
    expect(errorOf(big).code).toBe('request_header_fields_too_large');
  });

  it('an Expect header other than 100-continue is a JSON 417', async () => {
    const res = await rawRequest(stack.info.apiUrl, {
      method: 'GET',
      path: '/api/v1/organizations',
      headers: { 'x-api-key': w.a.apiKey, expect: 'bogus' },
    });
    expect(res.status).toBe(417);
    expect(errorOf(res).code).toBe('expectation_failed');
  });

  it('PUT /trace_log with fields nested 10,000 levels deep is a 413 (was a 500: JSON.stringify overflowed the stack)', async () => {
    const body = `{"trace_id":"deep-update","root_trace_id":null,"field_name_to_value_map":{"output":${DEEP_OBJECT}}}`;
    const res = await call(w.a, 'PUT', '/api/parea/v1/trace_log', body);
    expect(res.status, res.res.text).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect((await call(w.a, 'GET', '/api/parea/v1/trace_log/deep-update')).status).toBe(404);
  });

  it('an evaluation score beyond 2^53 - 1 is a 400 (was a 500: the document client refuses unsafe integers)', async () => {
    const path = `${projectPath(w.a)}/trace-evaluations`;
    for (const score of ['1e16', '1e125', '-9007199254740992']) {
      const res = await call(w.a, 'POST', path, `{"trace_id":"${w.aKept[2]}","judge_id":"big-score","score":${score}}`);
      expect(res.status, `${score}: ${res.res.text}`).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_body', message: expect.stringMatching(/^score: /) });
    }
    const ok = await call(w.a, 'POST', path, { trace_id: w.aKept[2], judge_id: 'big-score', score: Number.MAX_SAFE_INTEGER });
    expect(ok.status, ok.res.text).toBe(201);
    expect((await call(w.a, 'GET', `${path}/${ok.body.id}`)).body.score).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('an id too long for any key is a 404 or an empty answer (was a 500: DynamoDB refused the 2,048-byte key)', async () => {
    const long = 'y'.repeat(3000);
    const trace = await call(w.a, 'GET', `${projectPath(w.a)}/traces/${long}`);
    expect(trace.status, trace.res.text).toBe(404);
    const span = await call(w.a, 'GET', `/api/parea/v1/trace_log/${long}`);
    expect(span.status, span.res.text).toBe(404);
    const experiment = await call(w.a, 'POST', `/api/parea/v1/experiment/${long}/trace_logs`, {});
    expect(experiment.status, experiment.res.text).toBe(200);
    expect(experiment.body).toEqual([]);
  });

  it('a list cursor changed inside (its binding intact) is a 400 invalid_cursor (was a 500)', async () => {
    const issued = w.aCursors.find((c) => c.query === 'page_size=1')!.cursor;
    const list = (cursor: string) => call(w.a, 'GET', `${projectPath(w.a)}/traces?page_size=1&cursor=${encodeURIComponent(cursor)}`);
    // A time range anchor that is no instant: countSince's toISOString threw.
    const badAnchor = await list(reencode(issued, (b) => (b.s = 'garbage')));
    expect(badAnchor.status, badAnchor.res.text).toBe(400);
    expect(badAnchor.body.error.code).toBe('invalid_cursor');
    // A resume key over 1,024 bytes: DynamoDB refused the key condition.
    const longKey = await list(reencode(issued, (b) => (b.k = { s: 'z'.repeat(1500) })));
    expect(longKey.status, longKey.res.text).toBe(400);
    expect(longKey.body.error.code).toBe('invalid_cursor');
    expect((await list(issued)).status).toBe(200);
  });

  it('an experiment cursor whose root id is over 255 bytes is a 400 invalid_cursor (was a 500: the sort key overflowed)', async () => {
    const cursor = reencode(w.aExperimentCursor, (b) => (b.r = '\u00ff'.repeat(1200)));
    const res = await call(w.a, 'POST', `/api/parea/v1/experiment/${FIXTURE_EXPERIMENT}/trace_logs?limit=2&cursor=${cursor}`, {});
    expect(res.status, res.res.text).toBe(400);
    expect(res.body.error.code).toBe('invalid_cursor');
  });
});
