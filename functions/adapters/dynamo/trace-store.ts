import { GetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { CursorError, decodeCursor, encodeCursor } from '../../domain/list-query.js';
import type { Tenant } from '../../domain/tenancy.js';
import type { LastEvaluation, ListPage, ListQuery, TraceReader, TraceView } from '../../domain/traces.js';
import { HOUR_COUNTER_PREFIX, keys, sourcePartition } from './keys.js';
import { queryCount, queryPages } from './query.js';

interface PayloadReader {
  read(key: string): Promise<{ input: string | null; document: string }>;
}

/** How one list query reads: which index, its key condition, and what is left to a filter. */
interface Plan {
  index: 'gsi1' | 'gsi2' | 'gsi3';
  pkAttr: string;
  skAttr: string;
  keyCondition: string;
  filter: string | undefined;
  names: Record<string, string>;
  values: Record<string, unknown>;
  forward: boolean;
  /** A sort key an inclusive range bound may include although the page must start after it. */
  exclude?: string;
}

/** Items of one Query page per request while skipping or filtering (DynamoDB also stops at 1 MB). */
const SCAN_PAGE = 1000;

export class DynamoTraceStore implements TraceReader {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly payloads: PayloadReader,
  ) {}

  async get(tenant: Tenant, id: string): Promise<TraceView | null> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.trace(tenant.organizationId, tenant.projectId, id) }));
    if (!out.Item || out.Item.type !== 'trace') return null;
    return this.view(out.Item);
  }

  /**
   * One page of a project's traces. Key conditions do the work wherever they
   * can (project, source, time range, sort order); the rest is a filter.
   * Deep pages by cursor cost the same as the first page.
   */
  async list(tenant: Tenant, q: ListQuery, timeRange?: string): Promise<ListPage> {
    const fromCursor = q.cursor ? decodeCursor(tenant, q, timeRange, q.cursor) : null;
    const query = fromCursor?.since ? { ...q, since: fromCursor.since } : q;
    const plan = planFor(tenant, query);
    const counting = planFor(tenant, query); // the whole query's range, for totals
    const filtered = plan.filter !== undefined;

    if (fromCursor) {
      const after = fromCursor.key.s;
      if (typeof after !== 'string' || !after) throw new CursorError('cursor does not belong to this query');
      resumeAfter(plan, after);
    } else if (q.page > 1) {
      const skip = (q.page - 1) * q.pageSize;
      const skipped = await this.collect(plan, skip, true);
      if (skipped.items.length < skip || !skipped.lastSortKey) {
        return { traces: [], totalCount: await this.total(tenant, query, counting, undefined), nextCursor: null };
      }
      resumeAfter(plan, skipped.lastSortKey);
    }

    const [page, totalCount] = await Promise.all([this.collect(plan, q.pageSize, false), this.total(tenant, query, counting, fromCursor?.total)]);
    const traces = await Promise.all(page.items.map((i) => this.view(i)));
    const nextCursor =
      page.more && page.lastSortKey ? encodeCursor(tenant, query, timeRange, { s: page.lastSortKey }, filtered ? totalCount : undefined) : null;
    return { traces, totalCount, nextCursor };
  }

  /**
   * Reads matching items in index order until `want` are found. Answers them,
   * the index sort key of the last one, and whether more may follow it.
   */
  private async collect(plan: Plan, want: number, keysOnly: boolean): Promise<{ items: Record<string, unknown>[]; lastSortKey: string | undefined; more: boolean }> {
    const items: Record<string, unknown>[] = [];
    const done = (more: boolean) => ({ items, lastSortKey: items.length ? String(items[items.length - 1]![plan.skAttr]) : undefined, more });
    let exclusive: Record<string, unknown> | undefined;
    for (;;) {
      const need = want - items.length;
      const input: QueryCommandInput = {
        TableName: this.table,
        IndexName: plan.index,
        KeyConditionExpression: plan.keyCondition,
        ExpressionAttributeNames: { ...plan.names, ...(keysOnly ? { '#isk': plan.skAttr } : {}) },
        ExpressionAttributeValues: plan.values,
        ScanIndexForward: plan.forward,
        ExclusiveStartKey: exclusive,
        // Unfiltered, every item read is a match: read what is needed, one more to know whether more follow,
        // and one more again when the range's inclusive bound may hand back the item the cursor ended on.
        Limit: plan.filter ? SCAN_PAGE : Math.min(need + 1 + (plan.exclude ? 1 : 0), SCAN_PAGE),
        ...(plan.filter ? { FilterExpression: plan.filter } : {}),
        ...(keysOnly ? { ProjectionExpression: '#isk' } : {}),
      };
      const out = await this.doc.send(new QueryCommand(input));
      for (const item of out.Items ?? []) {
        if (plan.exclude !== undefined && item[plan.skAttr] === plan.exclude) continue;
        if (items.length === want) return done(true);
        items.push(item);
      }
      if (!out.LastEvaluatedKey) return done(false);
      if (items.length === want) return done(true);
      exclusive = out.LastEvaluatedKey;
    }
  }

  /** Exact totals: the project's counters when no filter needs the items, else a count (once per query, carried by its cursor). */
  private async total(tenant: Tenant, q: ListQuery, plan: Plan, carried: number | undefined): Promise<number> {
    const countersServe = !q.judgeId && !q.status && !q.since && !q.search;
    if (countersServe) {
      const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.counter(tenant.organizationId, tenant.projectId) }));
      const c = out.Item as { traces?: number; by_source?: Record<string, number> } | undefined;
      return q.source ? (c?.by_source?.[q.source] ?? 0) : (c?.traces ?? 0);
    }
    if (carried !== undefined) return carried;
    if (!q.judgeId && !q.status && !q.search && q.since) return this.countSince(tenant, q.source, q.since);
    return queryCount(this.doc, {
      TableName: this.table,
      IndexName: plan.index,
      KeyConditionExpression: plan.keyCondition,
      ExpressionAttributeNames: plan.names,
      ExpressionAttributeValues: plan.values,
      ...(plan.filter ? { FilterExpression: plan.filter } : {}),
    });
  }

  /**
   * Traces created at or after `since` (of one source, or all): the hourly
   * counters of every later hour, plus an exact count of the part of the
   * first hour that the range covers. Costs one hour's items at most, not the range's.
   */
  private async countSince(tenant: Tenant, source: string | undefined, since: string): Promise<number> {
    const firstHour = since.slice(0, 13);
    const nextHourIso = new Date(Date.parse(`${firstHour}:00:00.000Z`) + 3_600_000).toISOString();
    const project = keys.projectPartition(tenant.organizationId, tenant.projectId);
    let total = 0;
    const hours = queryPages(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': project, ':from': `${HOUR_COUNTER_PREFIX}${nextHourIso.slice(0, 13)}`, ':to': `${HOUR_COUNTER_PREFIX}~` },
    });
    for await (const items of hours) {
      for (const c of items as Array<{ traces?: number; by_source?: Record<string, number> }>) {
        total += source ? (c.by_source?.[source] ?? 0) : (c.traces ?? 0);
      }
    }

    const index = source ? 'gsi2' : 'gsi1';
    total += await queryCount(this.doc, {
      TableName: this.table,
      IndexName: index,
      // Sort keys start with the ISO creation time; the next hour's first instant sorts after every key of this hour.
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :since AND :next',
      ExpressionAttributeNames: { '#pk': `${index}pk`, '#sk': `${index}sk` },
      ExpressionAttributeValues: {
        ':pk': source ? sourcePartition(tenant.organizationId, tenant.projectId, source) : project,
        ':since': since,
        ':next': nextHourIso,
      },
    });
    return total;
  }

  private async view(i: Record<string, unknown>): Promise<TraceView> {
    let input = (i.input as string | null | undefined) ?? null;
    let document = i.doc as string | undefined;
    if (document === undefined && typeof i.payload_key === 'string') {
      const payload = await this.payloads.read(i.payload_key);
      input = payload.input;
      document = payload.document;
    }
    return {
      id: String(i.id),
      organizationId: String(i.organization_id),
      projectId: String(i.project_id),
      createdAt: String(i.created_at),
      filename: String(i.filename),
      source: String(i.source),
      integrationId: typeof i.integration_id === 'string' ? i.integration_id : null,
      input,
      document: document ?? 'null',
      evaluationsCount: typeof i.evaluations_count === 'number' ? i.evaluations_count : 0,
      lastEvaluations: Array.isArray(i.last_evaluations) ? (i.last_evaluations as LastEvaluation[]).map(lastEvaluation) : [],
      uploadId: String(i.upload_id),
    };
  }
}

/** The wire shape the Stratix client's model needs (judge_name, judge_version and created_at present, not null). */
function lastEvaluation(e: LastEvaluation): LastEvaluation {
  return {
    ...(e.evaluation_id ? { evaluation_id: e.evaluation_id } : {}),
    judge_id: String(e.judge_id),
    judge_name: String(e.judge_name ?? e.judge_id),
    judge_version: Number(e.judge_version ?? 1),
    created_at: String(e.created_at),
    passed: typeof e.passed === 'boolean' ? e.passed : null,
  };
}

function planFor(tenant: Tenant, q: ListQuery): Plan {
  const project = keys.projectPartition(tenant.organizationId, tenant.projectId);
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const filters: string[] = [];
  let index: Plan['index'];
  let pk: string;
  let keyCondition: string;

  if (q.sortBy === 'filename') {
    index = 'gsi3';
    pk = project;
    keyCondition = '#pk = :pk';
    if (q.source) {
      names['#source'] = 'source';
      values[':source'] = q.source;
      filters.push('#source = :source');
    }
    if (q.since) {
      names['#created'] = 'created_at';
      values[':since'] = q.since;
      filters.push('#created >= :since');
    }
  } else {
    index = q.source ? 'gsi2' : 'gsi1';
    pk = q.source ? sourcePartition(tenant.organizationId, tenant.projectId, q.source) : project;
    keyCondition = '#pk = :pk';
    if (q.since) {
      // Sort keys start with the ISO creation time: a time range is a key condition.
      values[':since'] = q.since;
      keyCondition += ' AND #sk >= :since';
    }
  }
  names['#pk'] = `${index}pk`;
  if (keyCondition.includes('#sk')) names['#sk'] = `${index}sk`;
  values[':pk'] = pk;

  if (q.judgeId) {
    names['#judges'] = 'judge_ids';
    values[':judge'] = q.judgeId;
    filters.push('contains(#judges, :judge)');
  }
  if (q.status) {
    names['#status'] = 'eval_status';
    if (q.status === 'unevaluated') filters.push('attribute_not_exists(#status)');
    else {
      values[':status'] = q.status;
      filters.push('#status = :status');
    }
  }
  if (q.search) {
    names['#search'] = 'search';
    values[':search'] = q.search;
    filters.push('contains(#search, :search)');
  }
  return {
    index,
    pkAttr: `${index}pk`,
    skAttr: `${index}sk`,
    keyCondition,
    filter: filters.length ? filters.join(' AND ') : undefined,
    names,
    values,
    forward: q.sortOrder === 'asc',
  };
}

/**
 * Makes the plan start after the item whose index sort key is `after`. Sort
 * keys are unique per trace, so "after" is a key condition: reaching page
 * 1,000 costs what reaching page 1 does (an ExclusiveStartKey would too on
 * DynamoDB, but DynamoDB Local walks to it).
 */
function resumeAfter(plan: Plan, after: string): void {
  plan.values[':after'] = after;
  plan.names['#sk'] = plan.skAttr;
  const hasSince = plan.keyCondition.includes(':since');
  if (plan.forward) {
    // Every item after the cursor is also at or after the time range's start.
    plan.keyCondition = '#pk = :pk AND #sk > :after';
    if (hasSince) delete plan.values[':since'];
  } else if (hasSince) {
    // A cursor of this query never points before its own time range; only a hand-made one could.
    if (after < String(plan.values[':since'])) throw new CursorError('cursor does not belong to this query');
    // One condition per sort key: an inclusive range, dropping the cursor's own item.
    plan.keyCondition = '#pk = :pk AND #sk BETWEEN :since AND :after';
    plan.exclude = after;
  } else {
    plan.keyCondition = '#pk = :pk AND #sk < :after';
  }
}
