import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../functions/domain/tenancy.js';
import { tenantStore } from '../../functions/shared/services.js';
import { dropAndSettle, useTestStack } from '../support/stack.js';
import { parseTraceLogForest } from '../../functions/domain/wire.js';
import { fixture } from '../support/fixtures.js';

const FIXTURE = fixture('experiment-logs.jsonl').toString('utf8');
const SPANS = FIXTURE.split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Record<string, unknown> & { trace_id: string; root_trace_id: string; parent_trace_id: string });
const EXPERIMENT = 'exp-338f5063';
const ROOTS = [...new Set(SPANS.map((s) => s.root_trace_id))];
const ALL_NULL = { filter_field: null, filter_key: null, filter_operator: null, filter_value: null };
const OPERATORS = [
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
];

type Tree = Record<string, unknown> & { trace_id: string; children: string[]; children_logs: Tree[] };

const stack = useTestStack();
let files: { apiKey: string; organizationId: string; projectId: string };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  text: string;
  ms: number;
}

/** Raw HTTP (no automatic decompression), so the tests see exactly what was sent. */
function call(
  method: string,
  path: string,
  body?: unknown,
  opts: { key?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const url = new URL(`${stack.info.apiUrl}/api/parea/v1${path}`);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          'x-api-key': opts.key ?? stack.info.apiKey,
          'x-sdk-version': '0.2.0',
          'x-sdk-language': 'python',
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: bytes.toString('utf8'), ms: Date.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function experiment(
  filter: unknown,
  opts: { key?: string; query?: string; experiment?: string } = {},
): Promise<{ trees: Tree[]; next: string | undefined }> {
  const res = await call(
    'POST',
    `/experiment/${opts.experiment ?? EXPERIMENT}/trace_logs${opts.query ? `?${opts.query}` : ''}`,
    filter,
    opts,
  );
  expect(res.status, res.text).toBe(200);
  const trees = JSON.parse(res.text) as Tree[];
  expect(Array.isArray(trees)).toBe(true);
  // Every answer meets the shared wire contract the SDK validates with, node by node.
  parseTraceLogForest(trees);
  return { trees, next: res.headers['x-next-cursor'] as string | undefined };
}

/** The trees with the project's own ids taken out (they differ between the two projects). */
function withoutTenant(trees: Tree[]): unknown {
  return JSON.parse(JSON.stringify(trees), (k, v: unknown) => (k === 'organization_id' || k === 'project_uuid' ? undefined : v));
}

function* nodes(trees: Tree[]): Generator<Tree> {
  const stack = [...trees];
  while (stack.length) {
    const n = stack.pop()!;
    yield n;
    stack.push(...n.children_logs);
  }
}

beforeAll(async () => {
  // Children first: reverse file order (each tree's root is its last line).
  for (const s of [...SPANS].reverse()) {
    const res = await call('POST', '/trace_log', s);
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toEqual({});
  }
  files = await createApiKey(tenantStore(), { organization: 'parea-files', project: 'from-files' });
  await dropAndSettle(stack, `drop/${files.organizationId}/${files.projectId}/exports/experiment-logs.jsonl`, FIXTURE);
}, 90_000);

describe('POST /project', () => {
  it('gets or creates a project by name in the key organization', async () => {
    const first = await call('POST', '/project', { name: 'parea-default' });
    expect(first.status, first.text).toBe(200);
    const created = JSON.parse(first.text) as { name: string; uuid: string; created_at: string; was_created: boolean };
    expect(created).toMatchObject({ name: 'parea-default', was_created: true });
    expect(created.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(created.created_at))).toBe(false);
    const again = JSON.parse((await call('POST', '/project', { name: 'parea-default' })).text) as typeof created;
    expect(again).toEqual({ ...created, was_created: false });
    expect((await call('POST', '/project', {})).status).toBe(400);
  });
});

describe('experiment trace logs', () => {
  it('posted children first and uploaded as a file give the same trees, with {} and with the all-null filter', async () => {
    const posted = (await experiment({})).trees;
    expect(posted.map((t) => t.trace_id).sort()).toEqual([...ROOTS].sort());
    expect(posted.every((t) => t.children_logs.length === 2)).toBe(true);
    expect((await experiment(ALL_NULL)).trees).toEqual(posted);
    const fromFile = (await experiment({}, { key: files.apiKey })).trees;
    expect((await experiment(ALL_NULL, { key: files.apiKey })).trees).toEqual(fromFile);
    expect(withoutTenant(fromFile)).toEqual(withoutTenant(posted));
    expect(posted[0]!.project_uuid).toBe(stack.info.projectId);
    expect(fromFile[0]!.project_uuid).toBe(files.projectId);
    expect(fromFile[0]!.organization_id).toBe(files.organizationId);
  });

  it('every node has its required strings and follows the null rules', async () => {
    const { trees } = await experiment({});
    let count = 0;
    for (const n of nodes(trees)) {
      count++;
      for (const k of ['trace_id', 'parent_trace_id', 'root_trace_id', 'start_timestamp']) expect(typeof n[k], k).toBe('string');
      for (const k of ['depth', 'execution_order']) expect(typeof n[k], k).toBe('number');
      for (const k of ['children', 'children_logs', 'scores', 'images', 'comments']) expect(Array.isArray(n[k]), k).toBe(true);
      expect(n.annotations).toBeTypeOf('object');
      expect(n.annotations).not.toBeNull();
      for (const s of n.scores as Array<{ score: unknown }>) expect(typeof s.score).toBe('number');
      for (const v of Object.values((n.inputs ?? {}) as Record<string, unknown>)) expect(typeof v).toBe('string');
      if (n.output !== undefined && n.output !== null) expect(typeof n.output).toBe('string');
      const conf = n.configuration as Record<string, unknown> | undefined;
      if (conf) {
        expect(Array.isArray(conf.messages)).toBe(true);
        expect(conf.model_params).toBeTypeOf('object');
        expect(conf.model_params).not.toBeNull();
      }
      expect(n.children).toEqual(n.children_logs.map((c) => c.trace_id));
      for (const c of n.children_logs) {
        expect(c.depth).toBe((n.depth as number) + 1);
        expect(c.parent_trace_id).toBe(n.trace_id);
        expect(c.root_trace_id).toBe(n.root_trace_id);
      }
    }
    expect(count).toBe(SPANS.length);
  });

  it('filters: a tree is listed when any span in it matches (score:accuracy on a grandchild)', async () => {
    const filter = { filter_field: 'score:accuracy', filter_key: null, filter_operator: 'greater_than_or_equal', filter_value: '0.5' };
    const { trees } = await experiment(filter);
    expect(trees.map((t) => t.trace_id)).toEqual(['11e38dfe-dc08-5090-8725-5872ec12f098']);
    const { trees: fromFile } = await experiment(filter, { key: files.apiKey });
    expect(withoutTenant(fromFile)).toEqual(withoutTenant(trees));
  });

  it('filters: metadata + key run equals', async () => {
    const { trees } = await experiment({ filter_field: 'metadata', filter_key: 'run', filter_operator: 'equals', filter_value: '1' });
    expect(trees.map((t) => t.trace_id)).toEqual([ROOTS.find((r) => r.startsWith('0db2b2d2'))]);
  });

  it('refuses a bad operator with a 400 listing the eleven, at once', async () => {
    const res = await call('POST', `/experiment/${EXPERIMENT}/trace_logs`, {
      filter_field: 'status',
      filter_operator: 'bigger_than',
      filter_value: '1',
    });
    expect(res.status).toBe(400);
    expect(res.ms).toBeLessThan(2_000);
    const { error } = JSON.parse(res.text) as { error: { code: string; message: string } };
    expect(error.code).toBe('invalid_filter');
    for (const op of OPERATORS) expect(error.message).toContain(op);
  });

  it('unknown experiment and another tenant experiment answer []', async () => {
    const res = await call('POST', '/trace_log', {
      ...SPANS[3],
      trace_id: 'private-root',
      parent_trace_id: 'private-root',
      root_trace_id: 'private-root',
      experiment_uuid: 'exp-private',
    });
    expect(res.status).toBe(200);
    expect((await experiment({}, { experiment: 'exp-private' })).trees.map((t) => t.trace_id)).toEqual(['private-root']);
    expect((await experiment({}, { experiment: 'exp-private', key: files.apiKey })).trees).toEqual([]);
    expect((await experiment({}, { experiment: 'no-such-experiment' })).trees).toEqual([]);
    expect((await call('GET', '/trace_log/private-root', undefined, { key: files.apiKey })).status).toBe(404);
  });

  it('GET /trace_log/{id} gives the subtree of a child; 404 for an unknown id', async () => {
    const llm = SPANS.find((s) => s.trace_name === 'llm' && s.metadata && (s.metadata as Record<string, string>).run === '0')!;
    const res = await call('GET', `/trace_log/${llm.trace_id}`);
    expect(res.status, res.text).toBe(200);
    const t = JSON.parse(res.text) as Tree;
    expect(t.trace_id).toBe(llm.trace_id);
    expect(t.depth).toBe(1);
    expect(t.children_logs.map((c) => c.trace_name)).toEqual(['judge']);
    expect(t.children).toEqual(llm.children);
    const fromFile = JSON.parse((await call('GET', `/trace_log/${llm.trace_id}`, undefined, { key: files.apiKey })).text) as Tree;
    expect(withoutTenant([fromFile])).toEqual(withoutTenant([t]));
    expect((await call('GET', '/trace_log/unknown-span')).status).toBe(404);
  });

  it('gzip: with Accept-Encoding gzip the answer is gzip and decodes to the same array', async () => {
    const plain = await call('POST', `/experiment/${EXPERIMENT}/trace_logs`, {}, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    const zipped = await call('POST', `/experiment/${EXPERIMENT}/trace_logs`, {}, { headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.bytes.length).toBeLessThan(plain.bytes.length);
    expect(JSON.parse(gunzipSync(zipped.bytes).toString('utf8'))).toEqual(JSON.parse(plain.text));
    // fetch decodes it by itself, as the SDKs' HTTP clients do.
    const viaFetch = await fetch(`${stack.info.apiUrl}/api/parea/v1/experiment/${EXPERIMENT}/trace_logs`, {
      method: 'POST',
      headers: { 'x-api-key': stack.info.apiKey, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: '{}',
    });
    expect(await viaFetch.json()).toEqual(JSON.parse(plain.text));
  });

  it('limit=1 pages the roots with X-Next-Cursor until done', async () => {
    const whole = (await experiment({})).trees;
    const seen: Tree[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await experiment({}, { query: `limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      expect(page.trees).toHaveLength(1);
      seen.push(...page.trees);
      cursor = page.next;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(ROOTS.length);
    expect(seen).toEqual(whole);
    const bad = await call('POST', `/experiment/${EXPERIMENT}/trace_logs?limit=1&cursor=nonsense`, {});
    expect(bad.status).toBe(400);
    expect((await call('POST', `/experiment/${EXPERIMENT}/trace_logs?limit=0`, {})).status).toBe(400);
  });

  it('a PUT (a score and an output) shows in the tree; a PUT before its POST waits for it', async () => {
    const judge = SPANS.find((s) => s.trace_name === 'judge' && (s.metadata as Record<string, string>).run === '2')!;
    const res = await call('PUT', '/trace_log', {
      trace_id: judge.trace_id,
      root_trace_id: judge.root_trace_id,
      field_name_to_value_map: { output: 'rejudged', scores: [{ name: 'accuracy', score: 0.75, reason: 'second look' }] },
    });
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toEqual({});
    const { trees } = await experiment({ filter_field: 'score:accuracy', filter_operator: 'greater_than_or_equal', filter_value: '0.5' });
    expect(trees.map((t) => t.trace_id).sort()).toEqual([judge.root_trace_id, ROOTS.find((r) => r.startsWith('11e38dfe'))!].sort());
    const node = [...nodes(trees)].find((n) => n.trace_id === judge.trace_id)!;
    expect(node.output).toBe('rejudged');
    expect(node.scores).toEqual([{ name: 'accuracy', score: 0.75, reason: 'second look' }]);

    // An update before its span: kept, merged when the span comes.
    const early = await call('PUT', '/trace_log', {
      trace_id: 'late-span',
      root_trace_id: judge.root_trace_id,
      field_name_to_value_map: { output: 'from the PUT' },
    });
    expect(early.status).toBe(200);
    expect((await call('GET', '/trace_log/late-span')).status).toBe(404);
    await call('POST', '/trace_log', {
      ...judge,
      trace_id: 'late-span',
      parent_trace_id: judge.trace_id,
      output: 'from the POST',
      children: [],
    });
    const late = JSON.parse((await call('GET', `/trace_log/${judge.trace_id}`)).text) as Tree;
    expect(late.children_logs.map((c) => [c.trace_id, c.output])).toEqual([['late-span', 'from the PUT']]);
  });

  it('refuses bad spans with a 400 at once, never a 5xx', async () => {
    for (const body of [{ parent_trace_id: 'x' }, [1, 2], 'null', '"text"', { trace_id: 'x', start_timestamp: 'soon' }, { trace_id: 42 }]) {
      const res = await call('POST', '/trace_log', body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
      expect(res.ms).toBeLessThan(2_000);
    }
    expect((await call('POST', '/trace_log', '{not json')).status).toBe(400);
    expect((await call('PUT', '/trace_log', { trace_id: 'x' })).status).toBe(400);
    expect((await call('POST', '/trace_log', { trace_id: 'x' }, { key: 'tik_wrong' })).status).toBe(403);
  });
});
