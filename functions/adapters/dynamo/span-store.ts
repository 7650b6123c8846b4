import { queryPages } from './query.js';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { MAX_SPAN_ID_BYTES, type ExperimentSpan, type SpanPosition, type SpanRecord, type SpanStore } from '../../domain/trace-logs.js';
import type { Tenant } from '../../domain/tenancy.js';
import { backoffMs, sleep } from '../retry.js';

/**
 * Experiment trace log spans in the single table:
 *
 *   span   pk SPAN#<org>#<project>#<trace_id>   sk S
 *          gsi1pk X#<org>#<project>#<experiment_uuid>   gsi1sk <root>#<trace_id>   (only with an experiment: sparse)
 *          gsi2pk R#<org>#<project>#<root_trace_id>     gsi2sk <trace_id>
 *          base, patches, doc (JSON texts), version (N), trace_id, root_trace_id, parent_trace_id, experiment_uuid
 *
 * `<root>` in gsi1sk is root_trace_id with `%` and `#` percent-encoded (`%25`, `%23`; a UUID is
 * unchanged), so the first `#` always ends it: every span of one tree sorts next to the others,
 * and `>= <root>$` starts right after a tree.
 */
export const spanKeys = {
  span: (org: string, project: string, traceId: string) => ({ pk: `SPAN#${org}#${project}#${traceId}`, sk: 'S' }),
  experiment: (org: string, project: string, experimentUuid: string) => `X#${org}#${project}#${experimentUuid}`,
  tree: (org: string, project: string, rootTraceId: string) => `R#${org}#${project}#${rootTraceId}`,
  /** A tree's part of the experiment index's sort key. */
  rootPart: (rootTraceId: string) => rootTraceId.replace(/%/g, '%25').replace(/#/g, '%23'),
};

/** The span's item (DocumentClient form). */
export function spanItem(tenant: Tenant, r: SpanRecord): Record<string, unknown> {
  const { organizationId: org, projectId: project } = tenant;
  const item: Record<string, unknown> = {
    ...spanKeys.span(org, project, r.traceId),
    type: 'span',
    trace_id: r.traceId,
    root_trace_id: r.rootTraceId,
    patches: r.patches,
    version: r.version,
    gsi2pk: spanKeys.tree(org, project, r.rootTraceId),
    gsi2sk: r.traceId,
  };
  if (r.parentTraceId !== null) item.parent_trace_id = r.parentTraceId;
  if (r.base !== null) item.base = r.base;
  if (r.doc !== null) item.doc = r.doc;
  if (r.experimentUuid !== null) {
    item.experiment_uuid = r.experimentUuid;
    item.gsi1pk = spanKeys.experiment(org, project, r.experimentUuid);
    item.gsi1sk = `${spanKeys.rootPart(r.rootTraceId)}#${r.traceId}`;
  }
  return item;
}

function toRecord(i: Record<string, unknown>): SpanRecord {
  return {
    traceId: String(i.trace_id),
    rootTraceId: String(i.root_trace_id),
    parentTraceId: typeof i.parent_trace_id === 'string' ? i.parent_trace_id : null,
    experimentUuid: typeof i.experiment_uuid === 'string' ? i.experiment_uuid : null,
    base: typeof i.base === 'string' ? i.base : null,
    patches: Array.isArray(i.patches) ? i.patches.map(String) : [],
    doc: typeof i.doc === 'string' ? i.doc : null,
    version: Number(i.version ?? 0),
  };
}

export class DynamoSpanStore implements SpanStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(tenant: Tenant, traceId: string): Promise<SpanRecord | null> {
    // No span has a longer id (writes refuse one), and the key would overflow DynamoDB's 2,048 bytes.
    if (Buffer.byteLength(traceId) > MAX_SPAN_ID_BYTES) return null;
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: spanKeys.span(tenant.organizationId, tenant.projectId, traceId), ConsistentRead: true }),
    );
    return out.Item ? toRecord(out.Item) : null;
  }

  /** BatchGetItem, consistent; unprocessed keys (throttling) are asked again with backoff. */
  async getMany(tenant: Tenant, traceIds: readonly string[]): Promise<Map<string, SpanRecord>> {
    if (traceIds.length > 100) throw new Error('getMany reads at most 100 spans');
    const found = new Map<string, SpanRecord>();
    let pending: Record<string, unknown>[] = traceIds
      .filter((id) => Buffer.byteLength(id) <= MAX_SPAN_ID_BYTES)
      .map((id) => spanKeys.span(tenant.organizationId, tenant.projectId, id));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 8) {
        // Keys left unprocessed are throttled reads: named as DynamoDB names the throttle, so callers answer 429.
        const err = new Error(`BatchGetItem left ${pending.length} spans unread after ${attempt} attempts (throttled)`);
        err.name = 'ProvisionedThroughputExceededException';
        throw err;
      }
      if (attempt > 0) await sleep(backoffMs(attempt));
      const out = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } } }));
      for (const item of out.Responses?.[this.table] ?? []) found.set(String(item.trace_id), toRecord(item));
      pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return found;
  }

  async save(tenant: Tenant, next: SpanRecord): Promise<boolean> {
    const expected = next.version - 1;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: spanItem(tenant, next),
          ...(expected === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': expected } }),
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async treeDocs(tenant: Tenant, rootTraceId: string): Promise<string[]> {
    const docs: string[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :p',
      FilterExpression: 'attribute_exists(#doc)',
      ProjectionExpression: '#doc',
      ExpressionAttributeNames: { '#doc': 'doc' },
      ExpressionAttributeValues: { ':p': spanKeys.tree(tenant.organizationId, tenant.projectId, rootTraceId) },
    });
    for await (const items of pages) for (const i of items) if (typeof i.doc === 'string') docs.push(i.doc);
    return docs;
  }

  async *experimentSpans(tenant: Tenant, experimentUuid: string, from: SpanPosition | null): AsyncGenerator<ExperimentSpan> {
    // No span is listed under a longer experiment id (writes refuse one); its key would overflow DynamoDB's limit.
    if (Buffer.byteLength(experimentUuid) > MAX_SPAN_ID_BYTES) return;
    const pk = spanKeys.experiment(tenant.organizationId, tenant.projectId, experimentUuid);
    const fromKey = from === null ? null : `${spanKeys.rootPart(from.rootTraceId)}${from.include ? '#' : '$'}`;
    const query = (start: Record<string, unknown> | undefined): Promise<QueryCommandOutput> =>
      this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'gsi1',
          KeyConditionExpression: fromKey === null ? 'gsi1pk = :p' : 'gsi1pk = :p AND gsi1sk >= :from',
          FilterExpression: 'attribute_exists(#doc)',
          ProjectionExpression: '#doc, root_trace_id',
          ExpressionAttributeNames: { '#doc': 'doc' },
          ExpressionAttributeValues: fromKey === null ? { ':p': pk } : { ':p': pk, ':from': fromKey },
          ExclusiveStartKey: start,
        }),
      );
    let pending: Promise<QueryCommandOutput> | null = query(undefined);
    while (pending !== null) {
      const page: QueryCommandOutput = await pending;
      // The next page is read while the caller works on this one.
      pending = page.LastEvaluatedKey ? query(page.LastEvaluatedKey) : null;
      // A caller that stops early leaves at most one read in flight: never an unhandled rejection.
      pending?.catch(() => {});
      for (const i of page.Items ?? []) {
        if (typeof i.doc === 'string') yield { rootTraceId: String(i.root_trace_id), doc: i.doc };
      }
    }
  }
}
