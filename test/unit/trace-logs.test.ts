import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { spanKeys } from '../../functions/adapters/dynamo/span-store.js';
import { FilterError } from '../../functions/domain/parea/filter.js';
import type { Tenant } from '../../functions/domain/tenancy.js';
import {
  experimentTraceLogs,
  recordSpans,
  recordTraceLog,
  spanSink,
  traceLogTree,
  TraceLogError,
  updateTraceLog,
  type ExperimentRequest,
  type ExperimentSpan,
  type SpanPosition,
  type SpanRecord,
  type SpanStore,
  type TraceLogDeps,
} from '../../functions/domain/parea/index.js';
import { acceptsGzip, MAX_ANSWER_WIRE_BYTES } from '../../functions/shared/http.js';
import { experimentPageSize, fitExperimentAnswer } from '../../functions/shared/parea-http.js';
import { ingestObject } from '../../functions/domain/ingest/ingest-object.js';
import { refFor, setupIngest } from '../support/ingest-fakes.js';

const tenant: Tenant = { organizationId: 'org-1', projectId: 'proj-1' };
const other: Tenant = { organizationId: 'org-2', projectId: 'proj-2' };

/** In memory, like DynamoSpanStore: conditional writes on the version, the experiment index in its key order. */
class FakeSpanStore implements SpanStore {
  readonly items = new Map<string, SpanRecord>();
  saves = 0;
  conflicts = 0;
  /** Makes the next N saves fail as if someone wrote in between. */
  failNext = 0;
  private key(t: Tenant, id: string) {
    return `${t.organizationId}/${t.projectId}/${id}`;
  }
  async get(t: Tenant, traceId: string) {
    const r = this.items.get(this.key(t, traceId));
    return r ? structuredClone(r) : null;
  }
  async save(t: Tenant, next: SpanRecord) {
    await Promise.resolve();
    const k = this.key(t, next.traceId);
    const stored = this.items.get(k)?.version ?? 0;
    if (this.failNext > 0 || stored !== next.version - 1) {
      if (this.failNext > 0) this.failNext--;
      this.conflicts++;
      return false;
    }
    this.saves++;
    this.items.set(k, structuredClone(next));
    return true;
  }
  async treeDocs(t: Tenant, root: string) {
    const prefix = this.key(t, '');
    return [...this.items.entries()]
      .filter(([k, r]) => k.startsWith(prefix) && r.rootTraceId === root && r.doc !== null)
      .map(([, r]) => r.doc!);
  }
  async *experimentSpans(t: Tenant, experimentUuid: string, from: SpanPosition | null): AsyncGenerator<ExperimentSpan> {
    const prefix = this.key(t, '');
    const fromKey = from === null ? '' : `${spanKeys.rootPart(from.rootTraceId)}${from.include ? '#' : '$'}`;
    const rows = [...this.items.entries()]
      .filter(([k, r]) => k.startsWith(prefix) && r.experimentUuid === experimentUuid && r.doc !== null)
      .map(([, r]) => ({ sk: `${spanKeys.rootPart(r.rootTraceId)}#${r.traceId}`, r }))
      .filter((x) => x.sk >= fromKey)
      .sort((a, b) => Buffer.compare(Buffer.from(a.sk), Buffer.from(b.sk)));
    for (const { r } of rows) yield { rootTraceId: r.rootTraceId, doc: r.doc! };
  }
}

function setup() {
  const store = new FakeSpanStore();
  const deps: TraceLogDeps = { store, now: () => new Date('2026-01-01T00:00:00.000Z') };
  return { store, deps };
}

let seq = 0;
function span(id: string, parent: string, root: string, extra: Record<string, unknown> = {}) {
  seq++;
  return {
    trace_id: id,
    parent_trace_id: parent,
    root_trace_id: root,
    experiment_uuid: 'exp-1',
    trace_name: `name-${id}`,
    start_timestamp: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000000+00:00`,
    end_timestamp: null,
    status: 'success',
    scores: null,
    comments: null,
    annotations: null,
    metadata: { run: id },
    ...extra,
  };
}

type Tree = Record<string, unknown> & { trace_id: string; children_logs: Tree[] };

async function tree(deps: TraceLogDeps, id: string, t = tenant): Promise<Tree | null> {
  const json = await traceLogTree(deps, t, id);
  return json === null ? null : (JSON.parse(json) as Tree);
}

/** One page as the route answers it: the use case's page, fitted into one answer by the edge (gzip when asked). */
async function page(deps: TraceLogDeps, req: Partial<Omit<ExperimentRequest, 'size'>> & { gzip?: boolean } = {}, t = tenant) {
  const { gzip = false, ...rest } = req;
  const read = await experimentTraceLogs(deps, t, { experimentUuid: 'exp-1', filter: {}, size: experimentPageSize(gzip), ...rest });
  const answer = { ...fitExperimentAnswer(read, gzip), fieldSeen: read.fieldSeen };
  const text = answer.gzip ? gunzipSync(answer.body as Buffer).toString('utf8') : (answer.body as string);
  return { trees: JSON.parse(text) as Tree[], next: answer.nextCursor, answer };
}

async function allPages(deps: TraceLogDeps, req: Partial<ExperimentRequest>) {
  const out: Tree[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const p = await page(deps, { ...req, cursor });
    out.push(p.trees);
    if (p.next === null) return out;
    cursor = p.next;
  }
  throw new Error('paging never ended');
}

describe('record and update', () => {
  it('post then put: the update is merged into the span (scores by name, metadata by key)', async () => {
    const { deps } = setup();
    await recordTraceLog(deps, tenant, span('r', 'r', 'r', { scores: [{ name: 'a', score: 0.1 }], output: null }));
    await updateTraceLog(deps, tenant, {
      trace_id: 'r',
      root_trace_id: 'r',
      field_name_to_value_map: {
        output: 'done',
        scores: [
          { name: 'a', score: 0.9 },
          { name: 'b', score: 1 },
        ],
        metadata: { extra: 'x' },
      },
    });
    const t = (await tree(deps, 'r'))!;
    expect(t.output).toBe('done');
    expect(t.scores).toEqual([
      { name: 'a', score: 0.9 },
      { name: 'b', score: 1 },
    ]);
    expect(t.metadata).toEqual({ run: 'r', extra: 'x' });
    expect(t.organization_id).toBe(tenant.organizationId);
    expect(t.project_uuid).toBe(tenant.projectId);
  });

  it('put before post: the patch is kept, the span is unknown until posted, then merged', async () => {
    const { deps, store } = setup();
    await updateTraceLog(deps, tenant, {
      trace_id: 'c',
      root_trace_id: 'r',
      field_name_to_value_map: { output: 'late', scores: [{ name: 's', score: 1 }] },
    });
    const kept = await store.get(tenant, 'c');
    expect(kept).toMatchObject({
      base: null,
      doc: null,
      rootTraceId: 'r',
      patches: ['{"output":"late","scores":[{"name":"s","score":1}]}'],
    });
    expect(await tree(deps, 'c')).toBeNull();
    expect((await page(deps)).trees).toEqual([]);
    await recordTraceLog(deps, tenant, span('c', 'r', 'r', { output: 'early' }));
    const t = (await tree(deps, 'c'))!;
    expect(t.output).toBe('late');
    expect(t.scores).toEqual([{ name: 's', score: 1 }]);
  });

  it('keeps a top-level "__proto__" field of a posted span as a field (never the prototype)', async () => {
    const { deps } = setup();
    const body = JSON.parse(JSON.stringify(span('p', 'p', 'p', {})).replace(/^\{/, '{"__proto__":{"polluted":true},')) as Record<
      string,
      unknown
    >;
    await recordTraceLog(deps, tenant, body);
    const t = (await tree(deps, 'p'))! as Record<string, unknown>;
    expect(Object.hasOwn(t, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify(t)).__proto__).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('re-post replaces the base and keeps the patches', async () => {
    const { deps } = setup();
    await recordTraceLog(deps, tenant, span('r', 'r', 'r', { output: 'first' }));
    await updateTraceLog(deps, tenant, { trace_id: 'r', root_trace_id: 'r', field_name_to_value_map: { output: 'patched' } });
    await recordTraceLog(deps, tenant, span('r', 'r', 'r', { trace_name: 'renamed', output: 'second' }));
    const t = (await tree(deps, 'r'))!;
    expect(t.trace_name).toBe('renamed');
    expect(t.output).toBe('patched');
  });

  it('a patch cannot move a span to another tree; a retried PUT adds nothing; the same post twice writes once', async () => {
    const { deps, store } = setup();
    await recordTraceLog(deps, tenant, span('r', 'r', 'r'));
    const body = {
      trace_id: 'r',
      root_trace_id: 'r',
      field_name_to_value_map: { root_trace_id: 'x', parent_trace_id: 'y', trace_id: 'z', output: 'o' },
    };
    await updateTraceLog(deps, tenant, body);
    await updateTraceLog(deps, tenant, body);
    const r = (await store.get(tenant, 'r'))!;
    expect(r.patches).toEqual(['{"output":"o"}']);
    expect(r.rootTraceId).toBe('r');
    const t = (await tree(deps, 'r'))!;
    expect([t.trace_id, t.root_trace_id, t.parent_trace_id, t.output]).toEqual(['r', 'r', 'r', 'o']);
    const saves = store.saves;
    await recordTraceLog(deps, tenant, span('s', 's', 's', { start_timestamp: '2026-01-01T00:00:00Z' }));
    await recordTraceLog(deps, tenant, span('s', 's', 's', { start_timestamp: '2026-01-01T00:00:00Z' }));
    expect(store.saves).toBe(saves + 1);
  });

  it('concurrent updates of one span are all kept (conditional writes, retried)', async () => {
    const { deps, store } = setup();
    await recordTraceLog(deps, tenant, span('r', 'r', 'r'));
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        updateTraceLog(deps, tenant, { trace_id: 'r', root_trace_id: 'r', field_name_to_value_map: { [`f${i}`]: i } }),
      ),
    );
    const t = (await tree(deps, 'r'))!;
    for (let i = 0; i < 8; i++) expect(t[`f${i}`]).toBe(i);
    expect(store.conflicts).toBeGreaterThan(0);
  });

  it('answers busy after too many conflicts', async () => {
    const { deps, store } = setup();
    store.failNext = 1_000;
    await expect(recordTraceLog(deps, tenant, span('r', 'r', 'r'))).rejects.toMatchObject({ kind: 'busy' });
  }, 20_000);

  it.each<[string, unknown]>([
    ['not an object', [1, 2]],
    ['null', null],
    ['no trace_id', { parent_trace_id: 'x' }],
    ['an empty trace_id', { trace_id: '' }],
    ['a bad timestamp', { trace_id: 'a', start_timestamp: 'yesterday' }],
    ['a trace_id over 255 bytes', { trace_id: 'é'.repeat(128) }],
  ])('refuses %s at once', async (_what, body) => {
    const { deps, store } = setup();
    const err = await recordTraceLog(deps, tenant, body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TraceLogError);
    expect((err as TraceLogError).kind).toBe('invalid_body');
    expect(store.items.size).toBe(0);
  });

  it('refuses a bad update and a span too large for one item', async () => {
    const { deps } = setup();
    await expect(updateTraceLog(deps, tenant, { trace_id: 'a' })).rejects.toMatchObject({ kind: 'invalid_body' });
    await expect(updateTraceLog(deps, tenant, { trace_id: 'a', field_name_to_value_map: [] })).rejects.toMatchObject({
      kind: 'invalid_body',
    });
    await expect(recordTraceLog(deps, tenant, span('big', 'big', 'big', { output: 'x'.repeat(200_000) }))).rejects.toMatchObject({
      kind: 'payload_too_large',
    });
  });

  it('defaults the ids of a root the TS SDK sends without parent_trace_id', async () => {
    const { deps } = setup();
    await recordTraceLog(deps, tenant, { trace_id: 'r', start_timestamp: '2026-01-01T00:00:00Z', experiment_uuid: 'exp-1' });
    const t = (await tree(deps, 'r'))!;
    expect([t.parent_trace_id, t.root_trace_id, t.depth, t.children, t.children_logs]).toEqual(['r', 'r', 0, [], []]);
  });
});

describe('GET one span', () => {
  it('answers the subtree of a child, and 404s for unknown or another tenant', async () => {
    const { deps } = setup();
    for (const s of [span('g', 'c', 'r'), span('c', 'r', 'r'), span('r', 'r', 'r'), span('c2', 'r', 'r')])
      await recordTraceLog(deps, tenant, s);
    const c = (await tree(deps, 'c'))!;
    expect(c.trace_id).toBe('c');
    expect(c.depth).toBe(1);
    expect(c.children).toEqual(['g']);
    expect(c.children_logs.map((n) => n.trace_id)).toEqual(['g']);
    expect((await tree(deps, 'r'))!.children).toHaveLength(2);
    expect(await tree(deps, 'nope')).toBeNull();
    expect(await tree(deps, 'c', other)).toBeNull();
  });
});

describe('experiment trace logs', () => {
  async function seed(deps: TraceLogDeps) {
    // Children first, like the SDKs send them.
    for (const r of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      const n = Number(r.slice(1));
      await recordTraceLog(deps, tenant, span(`${r}-judge`, `${r}-llm`, r, { scores: [{ name: 'accuracy', score: n / 5 }] }));
      await recordTraceLog(deps, tenant, span(`${r}-llm`, r, r));
      await recordTraceLog(deps, tenant, span(r, r, r, { metadata: { run: String(n) } }));
    }
    await recordTraceLog(deps, tenant, { ...span('elsewhere', 'elsewhere', 'elsewhere'), experiment_uuid: 'exp-2' });
  }

  it('lists whole root trees; unknown experiment and another tenant answer []', async () => {
    const { deps } = setup();
    await seed(deps);
    const { trees, next } = await page(deps);
    expect(trees.map((t) => t.trace_id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(next).toBeNull();
    expect(trees[0]!.children_logs[0]!.children_logs[0]!.trace_id).toBe('r1-judge');
    expect((await page(deps, { experimentUuid: 'nope' })).trees).toEqual([]);
    expect((await page(deps, {}, other)).trees).toEqual([]);
    // {} and the Python SDK's all-null filter are both "no filter".
    const allNull = await page(deps, { filter: { filter_field: null, filter_key: null, filter_operator: null, filter_value: null } });
    expect(allNull.trees).toEqual(trees);
    expect((await page(deps, { filter: null })).trees).toEqual(trees);
  });

  it('a tree matches when its root or any span in it does', async () => {
    const { deps } = setup();
    await seed(deps);
    const byScore = await page(deps, {
      filter: { filter_field: 'score:accuracy', filter_operator: 'greater_than_or_equal', filter_value: '0.5' },
    });
    expect(byScore.trees.map((t) => t.trace_id)).toEqual(['r3', 'r4', 'r5']);
    const byRun = await page(deps, {
      filter: { filter_field: 'metadata', filter_key: 'run', filter_operator: 'equals', filter_value: '2' },
    });
    expect(byRun.trees.map((t) => t.trace_id)).toEqual(['r2']);
  });

  it('refuses a bad filter with what is allowed, and a cursor of another filter or experiment', async () => {
    const { deps } = setup();
    await seed(deps);
    const err = await page(deps, { filter: { filter_field: 'status', filter_operator: 'bigger', filter_value: '1' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FilterError);
    for (const op of [
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
    ]) {
      expect((err as Error).message).toContain(op);
    }
    const first = await page(deps, { limit: 1 });
    expect(first.next).not.toBeNull();
    const filter = { filter_field: 'status', filter_operator: 'equals', filter_value: 'success' };
    await expect(page(deps, { limit: 1, cursor: first.next!, filter })).rejects.toMatchObject({ kind: 'invalid_cursor' });
    await expect(page(deps, { limit: 1, cursor: first.next!, experimentUuid: 'exp-2' })).rejects.toMatchObject({ kind: 'invalid_cursor' });
    await expect(page(deps, { cursor: 'garbage' })).rejects.toMatchObject({ kind: 'invalid_cursor' });
  });

  it('pages roots by limit and cursor, exactly once each, filtered or not', async () => {
    const { deps } = setup();
    await seed(deps);
    const whole = (await page(deps)).trees;
    for (const limit of [1, 2, 3, 5]) {
      const pages = await allPages(deps, { limit });
      expect(pages.flat()).toEqual(whole);
      expect(pages.every((p) => p.length <= limit)).toBe(true);
      expect(pages.at(-1)!.length).toBeGreaterThan(0); // no empty last page
    }
    const filter = { filter_field: 'score:accuracy', filter_operator: 'greater_than', filter_value: '0.3' };
    const filtered = await allPages(deps, { limit: 2, filter });
    expect(filtered.flat().map((t) => t.trace_id)).toEqual(['r2', 'r3', 'r4', 'r5']);
  });

  it('keeps spans whose parent or root never arrives (orphan roots), and pages inside such a tree group', async () => {
    const { deps } = setup();
    await recordTraceLog(deps, tenant, span('a1', 'a-missing', 'a'));
    await recordTraceLog(deps, tenant, span('a2', 'a-missing-too', 'a'));
    await recordTraceLog(deps, tenant, span('b', 'b', 'b'));
    const whole = (await page(deps)).trees;
    expect(whole.map((t) => t.trace_id)).toEqual(['a1', 'a2', 'b']);
    expect(whole[0]!.tree_flags).toEqual({ orphan: true });
    const pages = await allPages(deps, { limit: 1 });
    expect(pages.map((p) => p.map((t) => t.trace_id))).toEqual([['a1'], ['a2'], ['b']]);
  });

  it('cuts an answer before ~5 MB with a cursor; gzip carries more and decodes to the same trees', async () => {
    const { deps, store } = setup();
    // Big spans straight into the store (the API would refuse them as one item; the cut is what is tested).
    for (const r of ['r1', 'r2', 'r3']) {
      const doc = JSON.stringify({ ...span(r, r, r), output: `"${'y'.repeat(2 * 1024 * 1024)}` });
      store.items.set(`${tenant.organizationId}/${tenant.projectId}/${r}`, {
        traceId: r,
        rootTraceId: r,
        parentTraceId: r,
        experimentUuid: 'exp-1',
        base: doc,
        patches: [],
        doc,
        version: 1,
      });
    }
    const first = await page(deps);
    expect(first.trees.map((t) => t.trace_id)).toEqual(['r1', 'r2']);
    expect(first.answer.body.length).toBeLessThanOrEqual(MAX_ANSWER_WIRE_BYTES);
    expect(first.next).not.toBeNull();
    const second = await page(deps, { cursor: first.next! });
    expect(second.trees.map((t) => t.trace_id)).toEqual(['r3']);
    expect(second.next).toBeNull();
    const zipped = await page(deps, { gzip: true });
    expect(zipped.answer.gzip).toBe(true);
    expect(zipped.next).toBeNull();
    expect(zipped.trees).toEqual([...first.trees, ...second.trees]);
  });
});

describe('spans from files', () => {
  it('stores valid spans, skips the rest, the later duplicate wins, and a second pass writes nothing', async () => {
    const { deps, store } = setup();
    const records = [
      span('c', 'r', 'r', { output: 'old' }),
      { trace_id: 'bad', start_timestamp: 'not a time' },
      span('r', 'r', 'r'),
      span('c', 'r', 'r', { output: 'new' }),
    ];
    expect(await recordSpans(deps, tenant, records, '2026-01-01T00:00:00.000Z')).toEqual({ stored: 2, skipped: 1 });
    expect((await tree(deps, 'r'))!.children_logs[0]!.output).toBe('new');
    const saves = store.saves;
    await recordSpans(deps, tenant, records, '2026-01-01T00:00:00.000Z');
    expect(store.saves).toBe(saves);
  });
});

describe('ingest: records with a string trace_id are spans too', () => {
  const KEY = 'uploads/org1/proj1/spans.jsonl';
  const fileTenant = { organizationId: 'org1', projectId: 'proj1' };

  it('stores them next to the traces, the same trees as posting them; other records are only traces', async () => {
    const { deps: ingestDeps, storage, traces, uploads } = setupIngest();
    const { deps, store } = setup();
    const lines = [
      span('c', 'r', 'r', { output: 'child' }),
      { input: 'not a span' },
      { trace_id: 7, input: 'a numeric trace_id: not a span' },
      { trace_id: 'bad', start_timestamp: 'never' },
      span('r', 'r', 'r'),
      ...Array.from({ length: 30 }, (_, i) => span(`x${i}`, 'r', 'r')),
    ];
    storage.put(KEY, lines.map((l) => JSON.stringify(l)).join('\n'));
    const out = await ingestObject({ ...ingestDeps, spans: spanSink(deps) }, refFor(storage, KEY));
    expect(out.status).toBe('completed');
    expect(traces.items.size).toBe(lines.length);
    expect([...store.items.keys()].every((k) => k.startsWith('org1/proj1/'))).toBe(true);
    expect(store.items.size).toBe(32);
    const t = (await tree(deps, 'r', fileTenant))!;
    expect(t.children_logs).toHaveLength(31);
    expect(t.organization_id).toBe('org1');

    // Redelivered: the traces exist already; the spans are written again as no-ops.
    const saves = store.saves;
    uploads.uploads.clear();
    const again = await ingestObject({ ...ingestDeps, spans: spanSink(deps) }, refFor(storage, KEY));
    expect(again.status).toBe('completed');
    expect(store.saves).toBe(saves);
  });

  it('a span store failure fails the attempt (the message is retried), like a trace write failure', async () => {
    const { deps: ingestDeps, storage } = setupIngest();
    storage.put(KEY, `${JSON.stringify(span('r', 'r', 'r'))}\n`);
    const failing = { recordMany: async () => Promise.reject(new Error('throttled')) };
    await expect(ingestObject({ ...ingestDeps, spans: failing }, refFor(storage, KEY))).rejects.toThrow('throttled');
  });
});

describe('Accept-Encoding', () => {
  it.each<[string | undefined, boolean]>([
    [undefined, false],
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['GZIP;q=0.5', true],
    ['gzip;q=0', false],
    ['deflate, br', false],
    ['*', true],
    ['*;q=0', false],
    ['identity', false],
  ])('%s → %s', (value, expected) => {
    expect(acceptsGzip({ headers: value === undefined ? {} : { 'Accept-Encoding': value } })).toBe(expected);
  });
});
