/**
 * Moves a table written before the sharded layout (schema version 1), before the search index (2),
 * before the trace-log root index and the evaluation counters (3), or before roots were retired by
 * the retention sweep (4), to the current one (5),
 * in place, while it keeps serving: `npm run migrate` (cli/migrate.ts), and the local stack
 * at start. Idempotent and resumable: every rewrite is conditional on the item still being in
 * the old layout (so counters the rewrite moves move once, whatever the retries and restarts),
 * and each scan segment's position is checkpointed in the table.
 *
 *   trace (v1: document, input and a search copy as text, in three ALL indexes) → the lean item:
 *     the document deflated, sharded gsi4/gsi5 keys, status and judge member items and their counters
 *   span (v1: gsi1 experiment, gsi2 tree, one partition each) → sharded gsi4/gsi5 keys
 *   upload id chunks (v1: in the project's partition) → a partition per chunk
 *   completed upload → its place in the filename order (gsi1)
 *   completed upload, OTel trace (v1, v2: stored before the search index) → search work, which
 *     the indexer turns into index entries (it skips an upload already in the index)
 *   (3 → 4, on each item as the steps above left it, so an older table goes to 4 in the same pass)
 *   root span stored before the root index → its root-index member and counters, marked `ri`
 *   evaluation stored before the evaluation counters → counted, marked `counted`
 *   (4 → 5) a root-index member with a TTL (it would go without moving its counters) → no TTL, listed
 *     by its span's horizon for the retention sweep (gsi3); its root span's horizon kept in
 *     retire_at, its TTL moved to the backstop (horizon + ROOT_SPAN_BACKSTOP_DAYS)
 *
 * A Scan is right here (every item is read once, off the request path); nothing on a request
 * path scans.
 */
import {
  DescribeTableCommand,
  TransactionCanceledException,
  UpdateTableCommand,
  type AttributeDefinition,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { packText } from '../../domain/trace.js';
import { sleep } from '../retry.js';
import { ensureEvalCounter, evalCounterUpdate } from './eval-counters.js';
import { judgeMemberItem, statusMemberItem } from './trace-members.js';
import { keys, LOG_ROOT_SHARDS, logRootIndex, orderKey, shardOf, TRACE_SHARDS, traceIndex } from './keys.js';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY } from './schema.js';
import { horizonOf, spanItem, toRecord } from './span-store.js';
import { ROOT_SPAN_BACKSTOP_DAYS, TTL_DAY_SECONDS } from '../../domain/expiry.js';
import { counted, counterUpdate } from './evaluation-store.js';
import { retirementKey, rootIndexWrites } from './trace-log-roots.js';
import { rootFactsOf } from '../../domain/parea/index.js';
import { uploadByFilenameItem } from './upload-store.js';
import { putIdChunk } from './upload-ids.js';
import { documentAttribute } from './trace-writer.js';
import { traceWorkItem, uploadWorkItem } from './search-work.js';

/**
 * 2: the sharded layout; 3: every trace stored before the search index queued for it; 4: trace-log
 * roots indexed (get_trace_logs) and evaluations counted (the evaluation list's totals); 5: roots
 * retired by the retention sweep, their members without a TTL.
 */
export const SCHEMA_VERSION = 5;
const META = { pk: 'META', sk: 'SCHEMA' };
const checkpointKey = (segment: number, of: number) => ({ pk: 'META', sk: `MIGRATION#${SCHEMA_VERSION}#${of}#${segment}` });

export interface MigrationReport {
  scanned: number;
  traces: number;
  spans: number;
  idChunks: number;
  uploads: number;
  /** Uploads and OTel traces queued for the search index (schema 3). */
  searchWork: number;
  /** Roots of trace-log trees added to the root index (schema 4). */
  roots: number;
  /** Evaluations added to the evaluation counters (schema 4). */
  evaluations: number;
  /** Root-index members and root spans moved from a TTL to the retention sweep's retirement (schema 5). */
  retirements: number;
  indexesCreated: string[];
  alreadyCurrent: boolean;
}

export interface MigrationOptions {
  /** Parallel scan segments. */
  segments?: number;
  /** Stop (as a crash would) after this many items rewritten; for tests of resuming. */
  stopAfter?: number;
  log?: (line: string) => void;
}

/**
 * Creates every index of INDEXES the table lacks, one at a time (DynamoDB takes one index
 * creation per UpdateTable), waiting for each to become ACTIVE. Answers the ones created.
 */
export async function ensureIndexes(client: DynamoDBClient, table: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const created: string[] = [];
  for (const index of INDEXES) {
    const described = await client.send(new DescribeTableCommand({ TableName: table }));
    if ((described.Table?.GlobalSecondaryIndexes ?? []).some((g) => g.IndexName === index.name)) continue;
    log(`creating index ${index.name} on ${table}`);
    const attributes: AttributeDefinition[] = [
      { AttributeName: index.partitionKey, AttributeType: 'S' },
      { AttributeName: index.sortKey, AttributeType: 'S' },
    ];
    await client.send(
      new UpdateTableCommand({
        TableName: table,
        AttributeDefinitions: attributes,
        GlobalSecondaryIndexUpdates: [
          {
            Create: {
              IndexName: index.name,
              KeySchema: [
                { AttributeName: index.partitionKey, KeyType: 'HASH' },
                { AttributeName: index.sortKey, KeyType: 'RANGE' },
              ],
              Projection:
                index.projection === 'ALL'
                  ? { ProjectionType: 'ALL' }
                  : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projection] },
            },
          },
        ],
      }),
    );
    for (;;) {
      const t = await client.send(new DescribeTableCommand({ TableName: table }));
      const g = t.Table?.GlobalSecondaryIndexes?.find((x) => x.IndexName === index.name);
      if (g?.IndexStatus === 'ACTIVE' && t.Table?.TableStatus === 'ACTIVE') break;
      await sleep(1_000);
    }
    created.push(index.name);
  }
  return created;
}

/** The table's schema version (1 when it has no marker: a table from before the markers). */
export async function schemaVersion(doc: DynamoDBDocumentClient, table: string): Promise<number> {
  const out = await doc.send(new GetCommand({ TableName: table, Key: META, ConsistentRead: true }));
  return typeof out.Item?.version === 'number' ? out.Item.version : 1;
}

/** Marks a table created in the current layout (nothing to migrate). */
export async function markCurrent(doc: DynamoDBDocumentClient, table: string): Promise<void> {
  await doc.send(new PutCommand({ TableName: table, Item: { ...META, type: 'meta', version: SCHEMA_VERSION } }));
}

export async function migrateTable(
  client: DynamoDBClient,
  doc: DynamoDBDocumentClient,
  table: string,
  options: MigrationOptions = {},
): Promise<MigrationReport> {
  const log = options.log ?? (() => {});
  const report: MigrationReport = {
    scanned: 0,
    traces: 0,
    spans: 0,
    idChunks: 0,
    uploads: 0,
    searchWork: 0,
    roots: 0,
    evaluations: 0,
    retirements: 0,
    indexesCreated: [],
    alreadyCurrent: false,
  };
  report.indexesCreated = await ensureIndexes(client, table, log);
  const from = await schemaVersion(doc, table);
  if (from >= SCHEMA_VERSION) {
    report.alreadyCurrent = true;
    return report;
  }
  const segments = options.segments ?? 4;
  let budget = options.stopAfter ?? Number.POSITIVE_INFINITY;
  const spend = () => {
    if (budget-- <= 0) throw new MigrationStopped();
  };
  const results = await Promise.allSettled(
    Array.from({ length: segments }, async (_, segment) => {
      const checkpoint = await doc.send(new GetCommand({ TableName: table, Key: checkpointKey(segment, segments), ConsistentRead: true }));
      if (checkpoint.Item?.done === true) return;
      let start = checkpoint.Item?.last as Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new ScanCommand({
            TableName: table,
            Segment: segment,
            TotalSegments: segments,
            ExclusiveStartKey: start,
            Limit: 200,
            ConsistentRead: true,
          }),
        );
        for (const item of page.Items ?? []) {
          report.scanned++;
          for (const kind of await migrateItem(doc, table, item, spend, from)) report[kind]++;
          // Schema 4, on the item as the steps above left it.
          const added = await indexItem(doc, table, item, spend);
          if (added) report[added]++;
          // Schema 5.
          if (await retireByHorizon(doc, table, item, spend)) report.retirements++;
        }
        start = page.LastEvaluatedKey;
        await doc.send(
          new PutCommand({
            TableName: table,
            Item: { ...checkpointKey(segment, segments), type: 'meta', ...(start ? { last: start } : { done: true }) },
          }),
        );
      } while (start);
    }),
  );
  // Every segment has stopped before an error is reported: none writes after this call returns.
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  await markCurrent(doc, table);
  log(
    `migrated ${table}: ${report.traces} traces, ${report.spans} spans, ${report.idChunks} id chunks, ${report.uploads} uploads, ${report.searchWork} queued for search, ${report.roots} roots indexed, ${report.evaluations} evaluations counted, ${report.retirements} roots moved to the retention sweep (${report.scanned} items read)`,
  );
  return report;
}

/**
 * Schema 4: a root span stored before the root index existed gets its member and counters, and
 * an evaluation stored before the evaluation counters is counted, each in one transaction with a
 * marker on the item (`ri`, `counted`) that the request paths set too, so nothing counts twice.
 */
async function indexItem(
  doc: DynamoDBDocumentClient,
  table: string,
  item: Item,
  spend: () => void,
): Promise<'roots' | 'evaluations' | null> {
  const key = { pk: String(item[TABLE_PARTITION_KEY]), sk: String(item[TABLE_SORT_KEY]) };
  if (item.type === 'span' && typeof item.doc === 'string' && item.ri !== true && rootFactsOf(item.doc) !== null) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = (await doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
      const facts = cur && cur.ri !== true && typeof cur.doc === 'string' ? rootFactsOf(cur.doc) : null;
      if (!cur || facts === null) return null;
      const [, org, project] = key.pk.split('#');
      const horizon = horizonOf(cur);
      spend();
      try {
        await doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: table,
                  Key: key,
                  // With a TTL: the root's horizon kept in retire_at (the retention sweep retires it there), its TTL moved to the backstop.
                  UpdateExpression: horizon === undefined ? 'SET ri = :t' : 'SET ri = :t, retire_at = :h, expires_at = :b',
                  ConditionExpression: 'version = :v AND attribute_not_exists(ri)',
                  ExpressionAttributeValues: {
                    ':t': true,
                    ':v': cur.version,
                    ...(horizon === undefined ? {} : { ':h': horizon, ':b': horizon + ROOT_SPAN_BACKSTOP_DAYS * TTL_DAY_SECONDS }),
                  },
                },
              },
              // The member carries no TTL: listed by its span's horizon for the retention sweep.
              ...(rootIndexWrites(
                table,
                { organizationId: org!, projectId: project! },
                { before: null, after: facts },
                { horizon },
              ) as never[]),
            ],
          }),
        );
        return 'roots';
      } catch (err) {
        // Written meanwhile: read again (a write of a root indexes it itself).
        if (!(err instanceof TransactionCanceledException)) throw err;
      }
    }
    return null;
  }
  if (item.type === 'evaluation' && item.counted !== true) {
    const passed = (await doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
    if (!passed || passed.counted === true) return null;
    const e = { organizationId: String(passed.organization_id), projectId: String(passed.project_id), id: String(passed.id) };
    const outcome = passed.passed === true ? 'pass' : passed.passed === false ? 'fail' : 'pending';
    spend();
    try {
      await doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: table,
                Key: key,
                UpdateExpression: 'SET counted = :t',
                // As read: still there, not counted, and the same verdict (a result posted meanwhile counts it itself).
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(counted) AND #st = :st',
                ExpressionAttributeNames: { '#st': 'status' },
                ExpressionAttributeValues: { ':t': true, ':st': passed.status },
              },
            },
            { Update: counterUpdate(table, e, counted(String(passed.judge_id), outcome, 1)) },
          ],
        }),
      );
      return 'evaluations';
    } catch (err) {
      if (err instanceof TransactionCanceledException) return null;
      throw err;
    }
  }
  return null;
}

/**
 * Schema 5: a root-index member written with its span's TTL (schema 4 with a retention) loses it and
 * is listed by that horizon on gsi3 instead, and a root span whose TTL is its horizon keeps the
 * horizon in retire_at with its TTL at the backstop; each conditional on the item as read, so a
 * write meanwhile (which writes the new form itself) is left alone.
 */
async function retireByHorizon(doc: DynamoDBDocumentClient, table: string, item: Item, spend: () => void): Promise<boolean> {
  const key = { pk: String(item[TABLE_PARTITION_KEY]), sk: String(item[TABLE_SORT_KEY]) };
  if (typeof item.expires_at !== 'number') return false;
  let update: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>;
  if (item.type === 'log-root') {
    const [, org, project] = key.pk.split('#');
    const shard = shardOf(String(item.root_trace_id), LOG_ROOT_SHARDS);
    update = {
      UpdateExpression: 'REMOVE expires_at SET gsi3pk = :p, gsi3sk = :k',
      ConditionExpression: 'expires_at = :e',
      ExpressionAttributeValues: {
        ':e': item.expires_at,
        ':p': logRootIndex.retiring(org!, project!, shard),
        ':k': retirementKey(item.expires_at, String(item.root_trace_id)),
      },
    };
  } else if (item.type === 'span' && item.ri === true && item.retire_at === undefined) {
    update = {
      UpdateExpression: 'SET retire_at = :e, expires_at = :b',
      ConditionExpression: 'version = :v AND expires_at = :e AND attribute_not_exists(retire_at)',
      ExpressionAttributeValues: {
        ':e': item.expires_at,
        ':b': item.expires_at + ROOT_SPAN_BACKSTOP_DAYS * TTL_DAY_SECONDS,
        ':v': item.version,
      },
    };
  } else return false;
  spend();
  try {
    await doc.send(new UpdateCommand({ TableName: table, Key: key, ...update }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') return false;
    throw err;
  }
}

/** Thrown by `stopAfter`: the migration stopped part-way, as a crash would. */
export class MigrationStopped extends Error {
  override name = 'MigrationStopped';
}

type Item = Record<string, unknown>;

type Moved = 'traces' | 'spans' | 'idChunks' | 'uploads' | 'searchWork';

/** Rewrites one item if it is in an old layout (the table's was `from` when the run began); answers what it moved. */
async function migrateItem(doc: DynamoDBDocumentClient, table: string, item: Item, spend: () => void, from: number): Promise<Moved[]> {
  const pk = String(item[TABLE_PARTITION_KEY]);
  const sk = String(item[TABLE_SORT_KEY]);
  if (item.type === 'trace') {
    const moved: Moved[] = [];
    if (item.gsi1pk !== undefined) {
      spend();
      if (await migrateTrace(doc, table, item)) moved.push('traces');
    }
    // An OTel trace is indexed by its own work item (an upload's is its upload's).
    if (item.otel_version !== undefined && from < 3) {
      spend();
      const [, org, project, traceId] = pk.split('#');
      await doc.send(new PutCommand({ TableName: table, Item: traceWorkItem({ organizationId: org!, projectId: project! }, traceId!) }));
      moved.push('searchWork');
    }
    return moved;
  }
  if (item.type === 'span' && item.gsi2pk !== undefined) {
    spend();
    return (await migrateSpan(doc, table, item)) ? ['spans'] : [];
  }
  if (item.type === 'upload-ids' && pk.startsWith('P#')) {
    spend();
    const [, org, project] = pk.split('#');
    const m = /^UPLOAD#(.+)#IDS#(\d+)$/.exec(sk);
    if (!m) return [];
    // Its upload's TTL, when it had one (the v1 item's own expires_at).
    await putIdChunk(
      doc,
      table,
      org!,
      project!,
      m[1]!,
      Number(m[2]),
      typeof item.ids === 'string' && item.ids ? item.ids.split(',') : [],
      typeof item.expires_at === 'number' ? item.expires_at : undefined,
    );
    await doc.send(new DeleteCommand({ TableName: table, Key: { pk, sk } }));
    return ['idChunks'];
  }
  // A table of schema 3 has every completed upload in the filename order and queued for search already.
  if (item.type === 'upload' && item.status === 'completed' && Number(item.traces ?? 0) > 0 && from < 3) {
    const [, org, project] = pk.split('#');
    const upload = {
      organizationId: org!,
      projectId: project!,
      uploadId: String(item.upload_id),
      filename: String(item.filename),
      createdAt: String(item.created_at),
    };
    const entry = uploadByFilenameItem(upload, { traces: Number(item.traces), idChunks: Number(item.id_chunks ?? 0) });
    if (typeof item.expires_at === 'number') entry.expires_at = item.expires_at;
    spend();
    const moved: Moved[] = [];
    try {
      await doc.send(new PutCommand({ TableName: table, Item: entry, ConditionExpression: 'attribute_not_exists(pk)' }));
      moved.push('uploads');
    } catch (err) {
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
    // Put again by a resumed run, it is the same work: the indexer skips an upload already in the index.
    await doc.send(new PutCommand({ TableName: table, Item: uploadWorkItem(upload) }));
    moved.push('searchWork');
    return moved;
  }
  return [];
}

/**
 * A v1 trace to the lean item, with its status and judge members and their counts, in one
 * transaction that holds only while the item is still v1 (it has gsi1pk).
 */
async function migrateTrace(doc: DynamoDBDocumentClient, table: string, old: Item): Promise<boolean> {
  const org = String(old.organization_id);
  const project = String(old.project_id);
  const id = String(old.id);
  const source = String(old.source);
  const order = orderKey(String(old.created_at), String(old.upload_id), Number(old.position));
  const shard = shardOf(id, TRACE_SHARDS);
  const next: Item = {
    ...keys.trace(org, project, id),
    type: 'trace',
    ok: order,
    gsi4pk: traceIndex.all(org, project, shard),
    gsi5pk: traceIndex.source(org, project, shard, source),
    filename: old.filename,
    source,
    upload_id: old.upload_id,
  };
  if (typeof old.integration_id === 'string') next.integration_id = old.integration_id;
  if (typeof old.doc === 'string') {
    const packed = packText(old.doc);
    next[documentAttribute(packed)] = packed;
  }
  if (typeof old.payload_key === 'string') {
    next.payload_key = old.payload_key;
    if (typeof old.search === 'string') next.search_z = packText(old.search);
  }
  for (const a of ['evaluations_count', 'last_evaluations', 'eval_status', 'judge_ids', 'eval_version', 'expires_at'])
    if (old[a] !== undefined) next[a] = old[a];

  const status = typeof old.eval_status === 'string' ? old.eval_status : null;
  const judges = old.judge_ids instanceof Set ? [...(old.judge_ids as Set<string>)].sort() : [];
  const placement = { source, order };
  const inline = judges.slice(0, 90);
  // Judges past what one transaction holds: each member with its count, guarded by the member's absence.
  for (const judge of judges.slice(90)) {
    await ensureEvalCounter(doc, table, org, project, id);
    try {
      await doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: table,
                Item: judgeMemberItem(org, project, id, judge, placement),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Update: evalCounterUpdate(table, org, project, id, { source, status: {}, judges: { [judge]: 1 } })! },
          ],
        }),
      );
    } catch (err) {
      if (!(err instanceof TransactionCanceledException) || err.CancellationReasons?.[0]?.Code !== 'ConditionalCheckFailed') throw err;
    }
  }
  const counts = evalCounterUpdate(table, org, project, id, {
    source,
    status: status ? { [status]: 1 } : {},
    judges: Object.fromEntries(inline.map((j) => [j, 1])),
  });
  if (counts) await ensureEvalCounter(doc, table, org, project, id);
  try {
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: next, ConditionExpression: 'attribute_exists(gsi1pk)' } },
          ...(status ? [{ Put: { TableName: table, Item: statusMemberItem(org, project, id, status, placement) } }] : []),
          ...inline.map((j) => ({ Put: { TableName: table, Item: judgeMemberItem(org, project, id, j, placement) } })),
          ...(counts ? [{ Update: counts }] : []),
        ],
      }),
    );
    return true;
  } catch (err) {
    // Rewritten meanwhile (another run, or an evaluation that rewrote the item first): nothing to do.
    if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

/** A v1 span's index keys to the sharded ones (the same item otherwise), while it is still v1 and unchanged. */
async function migrateSpan(doc: DynamoDBDocumentClient, table: string, old: Item): Promise<boolean> {
  // SPAN#<org>#<project>#<trace_id>: organization and project ids hold no '#'.
  const [, org, project] = String(old.pk).split('#');
  const record = toRecord(old);
  const next: Item = {
    ...spanItem({ organizationId: org!, projectId: project! }, record),
    ...(old.expires_at !== undefined ? { expires_at: old.expires_at } : {}),
  };
  try {
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: next,
        ConditionExpression: 'attribute_exists(gsi2pk) AND version = :v',
        ExpressionAttributeValues: { ':v': record.version },
      }),
    );
    return true;
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') return false;
    throw err;
  }
}

/**
 * A trace item read consistently for a request path (with `projection`), in the current layout: a
 * v1 trace the migration has not reached yet (no order key) is rewritten first, then read again.
 */
export async function readCurrentTrace(
  doc: DynamoDBDocumentClient,
  table: string,
  key: { pk: string; sk: string },
  read: Omit<ConstructorParameters<typeof GetCommand>[0], 'TableName' | 'Key' | 'ConsistentRead'> = {},
): Promise<Record<string, unknown> | undefined> {
  const get = async () => (await doc.send(new GetCommand({ ...read, TableName: table, Key: key, ConsistentRead: true }))).Item;
  const item = await get();
  if (!item || item.ok !== undefined) return item;
  await upgradeLegacyTrace(doc, table, key);
  return get();
}

/**
 * A v1 trace met on a request path (evaluated or deleted before the migration reached it) is
 * rewritten first, so its counts are moved by one of the two, never both. Answers whether the
 * trace exists.
 */
export async function upgradeLegacyTrace(doc: DynamoDBDocumentClient, table: string, key: { pk: string; sk: string }): Promise<boolean> {
  const out = await doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  if (!out.Item) return false;
  if (out.Item.type === 'trace' && out.Item.gsi1pk !== undefined) await migrateTrace(doc, table, out.Item);
  return true;
}
