/**
 * `npm run migrate` on DynamoDB Local: a table written in the first layout (schema 1: each trace's
 * document, input and a search copy as text, in three ALL-projection indexes keyed per project;
 * spans and id chunks in one partition each), migrated in place, stopped part-way and resumed,
 * then read through the adapters the API uses.
 */
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { newDocumentClient } from '../../functions/adapters/clients.js';
import { s3Client } from '../../functions/adapters/s3/s3-sdk.js';
import { evalCounterTotals } from '../../functions/adapters/dynamo/eval-counters.js';
import { DynamoEvaluationStore, evaluationItem } from '../../functions/adapters/dynamo/evaluation-store.js';
import { DynamoTraceLogRoots, retirementKey } from '../../functions/adapters/dynamo/trace-log-roots.js';
import { spanItem, spanKeys } from '../../functions/adapters/dynamo/span-store.js';
import { logRootIndex } from '../../functions/adapters/dynamo/keys.js';
import { ROOT_SPAN_BACKSTOP_DAYS } from '../../functions/domain/expiry.js';
import { recordTraceLog } from '../../functions/domain/parea/index.js';
import { INDEXES } from '../../functions/adapters/dynamo/schema.js';
import { migrateTable, MigrationStopped, schemaVersion, SCHEMA_VERSION } from '../../functions/adapters/dynamo/migration.js';
import { DynamoSpanStore } from '../../functions/adapters/dynamo/span-store.js';
import { DynamoTraceMaintenance } from '../../functions/adapters/dynamo/trace-maintenance.js';
import { DynamoTraceStore } from '../../functions/adapters/dynamo/trace-store.js';
import { DynamoUploadStore } from '../../functions/adapters/dynamo/upload-store.js';
import { S3PayloadReader } from '../../functions/adapters/s3/payload-reader.js';
import { createEvaluation } from '../../functions/domain/evaluations.js';
import type { ListQuery } from '../../functions/domain/traces.js';
import { renderInput } from '../../functions/domain/render-input.js';
import { searchText } from '../../functions/domain/trace.js';
import { deleteTrace } from '../../functions/domain/trace-maintenance.js';
import { useTestStack } from '../support/stack.js';
import { main as migrateCommand } from '../../cli/migrate.js';

const stack = useTestStack({ notifications: false });
const org = 'org-legacy';
const project = 'proj-legacy';
const tenant = { organizationId: org, projectId: project };
const HOUR = 3_600_000;

/** A table as the first layout created it. */
async function legacyTable(name: string): Promise<void> {
  const gsi = (n: number) => ({
    IndexName: `gsi${n}`,
    KeySchema: [
      { AttributeName: `gsi${n}pk`, KeyType: 'HASH' as const },
      { AttributeName: `gsi${n}sk`, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  await stack.dynamo.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk'].map((a) => ({
        AttributeName: a,
        AttributeType: 'S',
      })),
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [gsi(1), gsi(2), gsi(3)],
    }),
  );
}

interface LegacyTrace {
  id: string;
  createdAt: string;
  uploadId: string;
  position: number;
  filename: string;
  source: string;
  raw: string;
  offloaded?: boolean;
}

/** A trace item as the first layout wrote it (functions/adapters/dynamo/trace-writer.ts before the sharded layout). */
function legacyTraceItem(t: LegacyTrace): Record<string, unknown> {
  const value = JSON.parse(t.raw) as Record<string, unknown>;
  const input = renderInput(value);
  const created = `${t.createdAt}#${t.uploadId}#${String(t.position).padStart(10, '0')}`;
  return {
    pk: `T#${org}#${project}#${t.id}`,
    sk: 'T',
    gsi1pk: `P#${org}#${project}`,
    gsi1sk: created,
    gsi2pk: `P#${org}#${project}#S#${t.source}`,
    gsi2sk: created,
    gsi3pk: `P#${org}#${project}`,
    gsi3sk: `${t.filename}#${created}`,
    type: 'trace',
    id: t.id,
    organization_id: org,
    project_id: project,
    created_at: t.createdAt,
    filename: t.filename,
    source: t.source,
    integration_id: null,
    upload_id: t.uploadId,
    position: t.position,
    search: searchText(t.filename, input, value),
    ...(t.offloaded ? { payload_key: `payloads/${org}/${project}/${t.id}.json` } : { doc: t.raw, input }),
  };
}

const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR).toISOString();
const traces: LegacyTrace[] = [
  ...Array.from({ length: 6 }, (_, i) => ({
    id: `00000000-0000-8000-8000-00000000000${i}`,
    createdAt: at(30),
    uploadId: 'up-old',
    position: i + 1,
    filename: 'b-old.jsonl',
    source: 's3',
    raw: JSON.stringify({ input: `old question ${i}`, output: i === 2 ? 'Needle here' : 'x' }),
  })),
  ...Array.from({ length: 4 }, (_, i) => ({
    id: `00000000-0000-8000-8000-00000000001${i}`,
    createdAt: at(1),
    uploadId: 'up-new',
    position: i + 1,
    filename: 'a-new.jsonl',
    source: i % 2 ? 'sdk' : 'upload',
    raw: JSON.stringify({ input: `new question ${i}` }),
  })),
];
traces[9] = { ...traces[9]!, offloaded: true };
const EVALUATED = traces[4]!.id;
const ids = (list: { id: string }[]) => list.map((t) => t.id);
const newestFirst = [...traces]
  .sort((a, b) => (a.createdAt === b.createdAt ? b.position - a.position : a.createdAt < b.createdAt ? 1 : -1))
  .map((t) => t.id);

async function writeLegacy(table: string): Promise<void> {
  const doc = newDocumentClient(stack.dynamo);
  const items: Record<string, unknown>[] = traces.map(legacyTraceItem);
  // The evaluated trace: two judges, one failed.
  Object.assign(items[4]!, {
    evaluations_count: 2,
    eval_version: 2,
    eval_status: 'fail',
    judge_ids: new Set(['judge-a', 'judge-b']),
    last_evaluations: [
      { evaluation_id: 'ev-2', judge_id: 'judge-b', judge_name: 'judge-b', judge_version: 1, created_at: at(2), passed: false },
      { evaluation_id: 'ev-1', judge_id: 'judge-a', judge_name: 'judge-a', judge_version: 1, created_at: at(3), passed: true },
    ],
  });
  const counts = (list: LegacyTrace[]) => {
    const bySource: Record<string, number> = {};
    for (const t of list) bySource[t.source] = (bySource[t.source] ?? 0) + 1;
    return { traces: list.length, by_source: bySource };
  };
  items.push({ pk: `P#${org}#${project}`, sk: 'COUNTER', type: 'counter', ...counts(traces), sources: new Set(['s3', 'sdk', 'upload']) });
  for (const hour of new Set(traces.map((t) => t.createdAt.slice(0, 13)))) {
    items.push({
      pk: `P#${org}#${project}`,
      sk: `COUNTER#H#${hour}`,
      type: 'counter',
      ...counts(traces.filter((t) => t.createdAt.startsWith(hour))),
    });
  }
  for (const [uploadId, filename, list] of [
    ['up-old', 'b-old.jsonl', traces.slice(0, 6)],
    ['up-new', 'a-new.jsonl', traces.slice(6)],
  ] as const) {
    items.push({
      pk: `P#${org}#${project}`,
      sk: `UPLOAD#${uploadId}`,
      type: 'upload',
      upload_id: uploadId,
      organization_id: org,
      project_id: project,
      filename,
      status: 'completed',
      created_at: list[0]!.createdAt,
      traces: list.length,
      id_chunks: 1,
    });
    items.push({
      pk: `P#${org}#${project}`,
      sk: `UPLOAD#${uploadId}#IDS#000000`,
      type: 'upload-ids',
      ids: list.map((t) => t.id).join(','),
    });
  }
  // Spans of one experiment: a root and two children, in the first layout's indexes.
  for (const [traceId, parent] of [
    ['root-1', null],
    ['child-1', 'root-1'],
    ['child-2', 'root-1'],
  ] as const) {
    const span = {
      trace_id: traceId,
      root_trace_id: 'root-1',
      parent_trace_id: parent,
      experiment_uuid: 'exp-1',
      trace_name: traceId,
      start_timestamp: at(1),
      status: 'success',
    };
    const d = JSON.stringify({ ...span, organization_id: org, project_uuid: project });
    items.push({
      pk: `SPAN#${org}#${project}#${traceId}`,
      sk: 'S',
      type: 'span',
      trace_id: traceId,
      root_trace_id: 'root-1',
      ...(parent ? { parent_trace_id: parent } : {}),
      experiment_uuid: 'exp-1',
      base: JSON.stringify(span),
      patches: [],
      doc: d,
      version: 1,
      gsi1pk: `X#${org}#${project}#exp-1`,
      gsi1sk: `root-1#${traceId}`,
      gsi2pk: `R#${org}#${project}#root-1`,
      gsi2sk: traceId,
    });
  }
  for (let i = 0; i < items.length; i += 25) {
    await doc.send(new BatchWriteCommand({ RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
  }
  const offloaded = traces[9]!;
  await s3Client().send(
    new PutObjectCommand({
      Bucket: stack.info.bucket,
      Key: `payloads/${org}/${project}/${offloaded.id}.json`,
      Body: `{"input":${JSON.stringify(renderInput(JSON.parse(offloaded.raw) as Record<string, unknown>))},"data":${offloaded.raw}}`,
    }),
  );
}

/** The current layout's table (what CDK and the local stack create). */
async function tableShape() {
  const attributes = new Set(['pk', 'sk', ...INDEXES.flatMap((i) => [i.partitionKey, i.sortKey])]);
  return {
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [...attributes].map((a) => ({ AttributeName: a, AttributeType: 'S' as const })),
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' as const },
      { AttributeName: 'sk', KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: INDEXES.map((i) => ({
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: i.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection:
        i.projection === 'ALL'
          ? { ProjectionType: 'ALL' as const }
          : { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...i.projection] },
    })),
  };
}

const query = (over: Partial<ListQuery> = {}): ListQuery => ({ page: 1, pageSize: 100, sortBy: 'created_at', sortOrder: 'desc', ...over });

describe('npm run migrate: the first layout to the sharded one, in place', () => {
  const table = 'legacy-one';
  const doc = () => newDocumentClient(stack.dynamo);
  const store = () => new DynamoTraceStore(doc(), table, new S3PayloadReader(s3Client(), stack.info.bucket));

  it('stops part-way (as a crash would), resumes, and ends with every item in the new layout and the counters exact', async () => {
    await legacyTable(table);
    await writeLegacy(table);
    expect(await schemaVersion(doc(), table)).toBe(1);
    await expect(migrateTable(stack.dynamo, doc(), table, { stopAfter: 5 })).rejects.toBeInstanceOf(MigrationStopped);
    expect(await schemaVersion(doc(), table)).toBe(1);
    const resumed = await migrateTable(stack.dynamo, doc(), table);
    expect(resumed.indexesCreated).toEqual([]); // made by the first run
    expect(await schemaVersion(doc(), table)).toBe(SCHEMA_VERSION);
    const indexes = (await stack.dynamo.send(new DescribeTableCommand({ TableName: table })))
      .Table!.GlobalSecondaryIndexes!.map((g) => g.IndexName)
      .sort();
    expect(indexes).toEqual(['gsi1', 'gsi2', 'gsi3', 'gsi4', 'gsi5']);

    // Every trace is rewritten once: lean, no text copies, its old index keys gone.
    for (const t of traces) {
      const item = (await doc().send(new GetCommand({ TableName: table, Key: { pk: `T#${org}#${project}#${t.id}`, sk: 'T' } }))).Item!;
      expect(item.gsi1pk).toBeUndefined();
      expect(item.search).toBeUndefined();
      expect(item.input).toBeUndefined();
      expect(typeof item.gsi4pk).toBe('string');
    }
    const evals = await evalCounterTotals(doc(), table, org, project);
    expect(evals.byStatus).toEqual({ fail: 1 });
    expect(evals.byJudge).toEqual({ 'judge-a': 1, 'judge-b': 1 });
    expect(evals.byStatusSource).toEqual({ [JSON.stringify(['fail', 's3'])]: 1 });
    // The id chunks moved out of the project's partition.
    const left = await doc().send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :u)',
        FilterExpression: '#t = :t',
        ExpressionAttributeNames: { '#t': 'type' },
        ExpressionAttributeValues: { ':p': `P#${org}#${project}`, ':u': 'UPLOAD#', ':t': 'upload-ids' },
      }),
    );
    expect(left.Items).toEqual([]);
  }, 120_000);

  it('serves the migrated traces as before: order, filters, totals, search, filename order, documents', async () => {
    const s = store();
    const all = await s.list(tenant, query());
    expect(ids(all.traces)).toEqual(newestFirst);
    expect(all.totalCount).toBe(10);
    expect((await s.list(tenant, query({ status: 'fail' }))).traces.map((t) => t.id)).toEqual([EVALUATED]);
    expect((await s.list(tenant, query({ judgeId: 'judge-b' }))).traces.map((t) => t.id)).toEqual([EVALUATED]);
    const unevaluated = await s.list(tenant, query({ status: 'unevaluated' }));
    expect(unevaluated.totalCount).toBe(9);
    expect(ids(unevaluated.traces)).toEqual(newestFirst.filter((id) => id !== EVALUATED));
    const bySource = await s.list(tenant, query({ source: 'sdk' }));
    expect(ids(bySource.traces)).toEqual([traces[9]!.id, traces[7]!.id]);
    expect(bySource.totalCount).toBe(2);
    const recent = await s.list(tenant, query({ since: at(2) }));
    expect(recent.totalCount).toBe(4);
    const found = await s.list(tenant, query({ search: 'needle' }));
    expect(ids(found.traces)).toEqual([traces[2]!.id]);
    expect(found.totalExact).toBe(true);
    const byName = await s.list(tenant, query({ sortBy: 'filename', sortOrder: 'asc' }));
    expect(ids(byName.traces)).toEqual([...traces.slice(6), ...traces.slice(0, 6)].map((t) => t.id));
    for (const t of traces) {
      const view = await s.get(tenant, t.id);
      expect(view!.document).toBe(t.raw);
      expect(view!.createdAt).toBe(t.createdAt);
      expect(view!.input).toBe(renderInput(JSON.parse(t.raw) as Record<string, unknown>));
    }
    const evaluated = await s.get(tenant, EVALUATED);
    expect(evaluated!.evaluationsCount).toBe(2);
    const uploads = new DynamoUploadStore(doc(), table);
    const up = (await uploads.getUpload(org, project, 'up-old'))!;
    expect(await uploads.traceIds(up)).toEqual(traces.slice(0, 6).map((t) => t.id));
  });

  it('serves the migrated spans as trees, by experiment and by root', async () => {
    const spans = new DynamoSpanStore(doc(), table);
    const docs: string[] = [];
    for await (const s of spans.experimentSpans(tenant, 'exp-1', null)) docs.push(s.doc);
    expect(docs.map((d) => (JSON.parse(d) as { trace_id: string }).trace_id).sort()).toEqual(['child-1', 'child-2', 'root-1']);
    expect((await spans.treeDocs(tenant, 'root-1')).length).toBe(3);
    const item = (await doc().send(new GetCommand({ TableName: table, Key: { pk: `SPAN#${org}#${project}#child-1`, sk: 'S' } }))).Item!;
    expect(item.gsi1pk).toBeUndefined();
    expect(item.gsi2pk).toBeUndefined();
    // Schema 4: its root is in the get_trace_logs index, counted once.
    const roots = new DynamoTraceLogRoots(doc(), table);
    const listed: string[] = [];
    for await (const r of roots.roots(tenant, {}, false, 10)) listed.push(r.traceId);
    expect(listed).toEqual(['root-1']);
    expect(await roots.count(tenant, {})).toBe(1);
    expect(await roots.count(tenant, { status: 'success' })).toBe(1);
  });

  it('changes nothing when run again, and a migrated evaluated trace deletes with its counts', async () => {
    const again = await migrateTable(stack.dynamo, doc(), table);
    expect(again.alreadyCurrent).toBe(true);
    const deps = {
      store: new DynamoTraceMaintenance(doc(), table),
      evaluations: new DynamoEvaluationStore(doc(), table),
      payloads: { deletePayload: async () => {} },
    };
    expect(await deleteTrace(deps, tenant, EVALUATED)).toBe('deleted');
    const evals = await evalCounterTotals(doc(), table, org, project);
    expect(evals.byStatus).toEqual({ fail: 0 });
    expect(evals.byJudge).toEqual({ 'judge-a': 0, 'judge-b': 0 });
    expect((await store().list(tenant, query({ judgeId: 'judge-a' }))).traces).toEqual([]);
    expect((await store().list(tenant, query({ status: 'unevaluated' }))).totalCount).toBe(9);
  });
});

describe('schema 3 to 4: roots and evaluations stored before the root index and the evaluation counters', () => {
  const table = 'current-two';
  const doc = () => newDocumentClient(stack.dynamo);

  it('indexes the roots and counts the evaluations once, and a result posted afterwards moves the counts right', async () => {
    await stack.dynamo.send(new CreateTableCommand({ ...(await tableShape()), TableName: table }));
    const old = {
      trace_id: 'old-root',
      root_trace_id: 'old-root',
      parent_trace_id: 'old-root',
      trace_name: 'old',
      start_timestamp: '2026-11-01T10:00:00Z',
      status: 'error',
    };
    const record = {
      traceId: 'old-root',
      rootTraceId: 'old-root',
      parentTraceId: 'old-root',
      experimentUuid: null,
      base: JSON.stringify(old),
      patches: [],
      doc: JSON.stringify(old),
      version: 1,
    };
    const evaluation = {
      id: 'old-ev',
      organizationId: org,
      projectId: project,
      traceId: 'no-trace',
      judgeId: 'judge-old',
      judgeName: 'judge-old',
      judgeVersion: 1,
      status: 'pending' as const,
      passed: null,
      score: null,
      reasoning: null,
      createdAt: '2026-11-01T10:00:00.000Z',
    };
    const { counted: _, ...uncounted } = evaluationItem(evaluation);
    await doc().send(
      new BatchWriteCommand({
        RequestItems: {
          [table]: [
            { PutRequest: { Item: spanItem(tenant, record) } },
            { PutRequest: { Item: uncounted } },
            { PutRequest: { Item: { pk: 'META', sk: 'SCHEMA', type: 'meta', version: 3 } } },
          ],
        },
      }),
    );
    const evaluations = new DynamoEvaluationStore(doc(), table);
    const roots = new DynamoTraceLogRoots(doc(), table);
    expect(await roots.count(tenant, {})).toBe(0);
    const report = await migrateTable(stack.dynamo, doc(), table);
    // A table of schema 3 has its search work queued already: none again.
    expect(report).toMatchObject({ roots: 1, evaluations: 1, traces: 0, spans: 0, searchWork: 0 });
    expect(await roots.count(tenant, { status: 'error' })).toBe(1);
    expect((await evaluations.list(tenant, { judgeId: 'judge-old' }, { offset: 0, limit: 10 })).total).toBe(1);
    expect((await evaluations.list(tenant, { outcome: 'pending' }, { offset: 0, limit: 10 })).total).toBe(1);
    // A write of the root after the migration moves it (error → success) without counting it again.
    await recordTraceLog({ store: new DynamoSpanStore(doc(), table) }, tenant, { ...old, status: 'success' });
    expect([
      await roots.count(tenant, {}),
      await roots.count(tenant, { status: 'success' }),
      await roots.count(tenant, { status: 'error' }),
    ]).toEqual([1, 1, 0]);
    expect((await migrateTable(stack.dynamo, doc(), table)).alreadyCurrent).toBe(true);
    expect(await roots.count(tenant, {})).toBe(1);
  }, 120_000);
});

describe("schema 4 to 5: root-index members that carried their span's TTL", () => {
  const table = 'current-four';
  const doc = () => newDocumentClient(stack.dynamo);

  it("moves them to the retention sweep's order (no TTL), their spans' TTL to the backstop, and the sweep then retires them with their counts", async () => {
    await stack.dynamo.send(new CreateTableCommand({ ...(await tableShape()), TableName: table }));
    const span = {
      trace_id: 'ttl-root',
      root_trace_id: 'ttl-root',
      parent_trace_id: 'ttl-root',
      trace_name: 'ttl',
      start_timestamp: '2026-11-01T10:00:00Z',
      status: 'success',
    };
    const stored = Date.parse('2026-11-01T10:00:00Z');
    await recordTraceLog({ store: new DynamoSpanStore(doc(), table, { retentionDays: 30, clock: () => stored }) }, tenant, span);
    const horizon = Math.floor(stored / 1000) + 30 * 86_400;
    // As schema 4 wrote them: the member with its span's TTL, the span's TTL at its horizon.
    const spanKey = spanKeys.span(org, project, 'ttl-root');
    const memberKey = logRootIndex.member(org, project, 'ttl-root');
    await doc().send(
      new UpdateCommand({
        TableName: table,
        Key: spanKey,
        UpdateExpression: 'REMOVE retire_at SET expires_at = :h',
        ExpressionAttributeValues: { ':h': horizon },
      }),
    );
    await doc().send(
      new UpdateCommand({
        TableName: table,
        Key: memberKey,
        UpdateExpression: 'REMOVE gsi3pk, gsi3sk SET expires_at = :h',
        ExpressionAttributeValues: { ':h': horizon },
      }),
    );
    await doc().send(new PutCommand({ TableName: table, Item: { pk: 'META', sk: 'SCHEMA', type: 'meta', version: 4 } }));
    const roots = new DynamoTraceLogRoots(doc(), table);
    const due = async () => {
      const out: string[] = [];
      for await (const r of roots.retiring(tenant, horizon)) out.push(r.rootTraceId);
      return out;
    };
    expect(await due()).toEqual([]);

    expect(await migrateTable(stack.dynamo, doc(), table)).toMatchObject({ retirements: 2, roots: 0 });
    const member = (await doc().send(new GetCommand({ TableName: table, Key: memberKey }))).Item!;
    expect(member.expires_at).toBeUndefined();
    expect(member.gsi3sk).toBe(retirementKey(horizon, 'ttl-root'));
    expect((await doc().send(new GetCommand({ TableName: table, Key: spanKey }))).Item).toMatchObject({
      retire_at: horizon,
      expires_at: horizon + ROOT_SPAN_BACKSTOP_DAYS * 86_400,
    });
    expect((await migrateTable(stack.dynamo, doc(), table)).alreadyCurrent).toBe(true);

    // Not due a second before its horizon; at it, retired with its count.
    const store = new DynamoSpanStore(doc(), table);
    const [entry] = await (async () => {
      const out = [];
      for await (const r of roots.retiring(tenant, horizon)) out.push(r);
      return out;
    })();
    expect(await store.retireRoot(tenant, entry!, horizon - 1)).toBe('skipped');
    expect(await roots.count(tenant, {})).toBe(1);
    expect(await store.retireRoot(tenant, entry!, horizon)).toBe('retired');
    expect(await roots.count(tenant, {})).toBe(0);
    expect(await due()).toEqual([]);
  }, 120_000);
});

describe('a request meets a trace the migration has not reached yet', () => {
  const table = 'legacy-two';
  const doc = () => newDocumentClient(stack.dynamo);

  it('a read serves it (rewriting it first)', async () => {
    await legacyTable('legacy-four');
    await writeLegacy('legacy-four');
    const s = new DynamoTraceStore(doc(), 'legacy-four', new S3PayloadReader(s3Client(), stack.info.bucket));
    const t = traces[3]!;
    expect((await s.get(tenant, t.id))?.document).toBe(t.raw);
    const item = (await doc().send(new GetCommand({ TableName: 'legacy-four', Key: { pk: `T#${org}#${project}#${t.id}`, sk: 'T' } })))
      .Item!;
    expect(item.gsi1pk).toBeUndefined();
  }, 120_000);

  it('an evaluation rewrites it first, so the migration afterwards counts it once', async () => {
    await legacyTable(table);
    await writeLegacy(table);
    const target = traces[0]!.id;
    await createEvaluation({ store: new DynamoEvaluationStore(doc(), table) }, tenant, {
      traceId: target,
      judgeId: 'judge-c',
      passed: true,
    });
    await migrateTable(stack.dynamo, doc(), table);
    const evals = await evalCounterTotals(doc(), table, org, project);
    expect(evals.byStatus).toEqual({ fail: 1, pass: 1 });
    expect(evals.byJudge).toEqual({ 'judge-a': 1, 'judge-b': 1, 'judge-c': 1 });
    const s = new DynamoTraceStore(doc(), table, new S3PayloadReader(s3Client(), stack.info.bucket));
    expect(ids((await s.list(tenant, query({ judgeId: 'judge-c' }))).traces)).toEqual([target]);
    expect((await s.list(tenant, query({ status: 'pass' }))).totalCount).toBe(1);
  }, 120_000);
});

describe('the migrate command', () => {
  it('migrates the table --table names and prints its report; bad options are usage errors (exit 2)', async () => {
    await legacyTable('legacy-three');
    await writeLegacy('legacy-three');
    const endpoint = await stack.dynamo.config.endpoint!();
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (l: string) => void out.push(l), stderr: (t: string) => void err.push(t), env: process.env };
    const args = ['--table', 'legacy-three', '--endpoint-url', `http://${endpoint.hostname}:${endpoint.port}`, '--region', 'us-east-1'];
    expect(await migrateCommand(args, io), err.join('\n')).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({
      table: 'legacy-three',
      traces: 10,
      spans: 3,
      idChunks: 2,
      uploads: 2,
      alreadyCurrent: false,
    });
    expect(await migrateCommand(args, io)).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ alreadyCurrent: true });
    expect(await migrateCommand(['--segments', '0'], io)).toBe(2);
    expect(await migrateCommand(['--region', 'eu-west-1'], io)).toBe(2);
    expect(err.at(-1)).toMatch(/--region and --endpoint-url go with --table/);
  }, 120_000);
});
