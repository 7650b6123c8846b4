import { TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { deriveEvalStatus, outcomeOf } from '../../domain/evaluations.js';
import type {
  CommitResult,
  Evaluation,
  EvaluationFilter,
  EvaluationOutcome,
  EvaluationPage,
  EvaluationStatus,
  EvaluationStore,
  EvaluationSummary,
  NextTraceEvaluationState,
  ResultDetails,
  TraceEvaluationState,
} from '../../domain/evaluations.js';
import { evaluationJson } from '../../domain/evaluations.js';
import { CursorError } from '../../domain/list-query.js';
import { batchGetAll, queryCount, queryPages } from './query.js';
import type { Tenant } from '../../domain/tenancy.js';
import type { EvaluationCleaner } from '../../domain/trace-maintenance.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { ensureEvalCounter, evalCounterUpdate, forgetEvalCounter } from './eval-counters.js';
import { readCurrentTrace } from './migration.js';
import { EVAL_COUNTER_SHARDS, allShards, keys, shardOf } from './keys.js';
import { judgeMemberItem, statusMemberItem } from './trace-members.js';
import { EXPIRY_GRACE_DAYS, expiresAt, withExpiry } from '../../domain/expiry.js';

/**
 * Evaluation items. Their index keys carry an `EVALS` segment, so they never
 * share an index partition with traces:
 *   pk EV#<org>#<project>#<evaluationId>       sk EV
 *   gsi1pk P#<org>#<project>#EVALS              gsi1sk <created_at>#<evaluationId>   (all, newest first)
 *   gsi2pk P#<org>#<project>#EVALS#T#<traceId>  gsi2sk (as gsi1sk)                   (one trace's)
 *   gsi3pk P#<org>#<project>#EVALS#J#<judgeId>  gsi3sk (as gsi1sk)                   (one judge's)
 */
export const evaluationKeys = {
  item: (org: string, project: string, evaluationId: string) => ({ pk: `EV#${org}#${project}#${evaluationId}`, sk: 'EV' }),
  all: (org: string, project: string) => `P#${org}#${project}#EVALS`,
  byTrace: (org: string, project: string, traceId: string) => `P#${org}#${project}#EVALS#T#${traceId}`,
  byJudge: (org: string, project: string, judgeId: string) => `P#${org}#${project}#EVALS#J#${judgeId}`,
  sort: (createdAt: string, evaluationId: string) => `${createdAt}#${evaluationId}`,
  /** One shard of the project's evaluation counters (by outcome, judge, judge and outcome). */
  counter: (org: string, project: string, shard: number) => ({ pk: `EVN#${org}#${project}#${String(shard).padStart(2, '0')}`, sk: 'N' }),
};

/** The counter attributes an evaluation of this judge and outcome is counted in. */
function counterAttrs(judgeId: string, outcome: EvaluationOutcome): string[] {
  return ['n', `o:${outcome}`, `j:${judgeId}`, `jo:${JSON.stringify([judgeId, outcome])}`];
}

/** The Update (for a transaction) that moves an evaluation's counter shard by these differences. */
export function counterUpdate(table: string, e: Pick<Evaluation, 'organizationId' | 'projectId' | 'id'>, add: Map<string, number>) {
  const moved = [...add].filter(([, by]) => by !== 0);
  const names: Record<string, string> = { '#t': 'type' };
  const values: Record<string, unknown> = { ':t': 'counter' };
  moved.forEach(([attr, by], i) => {
    names[`#a${i}`] = attr;
    values[`:d${i}`] = by;
  });
  return {
    TableName: table,
    Key: evaluationKeys.counter(e.organizationId, e.projectId, shardOf(e.id, EVAL_COUNTER_SHARDS)),
    UpdateExpression: `SET #t = :t${moved.length ? ` ADD ${moved.map((_, i) => `#a${i} :d${i}`).join(', ')}` : ''}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

export const counted = (judgeId: string, outcome: EvaluationOutcome, by: number, into = new Map<string, number>()) => {
  for (const a of counterAttrs(judgeId, outcome)) into.set(a, (into.get(a) ?? 0) + by);
  return into;
};

/** How long a filtered list may read before it answers what it found (ms). */
const LIST_BUDGET_MS = 5_000;

const ListCursor = z.object({
  v: z.literal(1),
  b: z.string(),
  k: z
    .string()
    .min(1)
    .refine((k) => Buffer.byteLength(k) <= 1024),
  m: z.number().int().nonnegative().optional(),
  s: z.string().optional(),
});

export class DynamoEvaluationStore implements EvaluationStore, EvaluationCleaner {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** retentionDays: an evaluation expires (DynamoDB TTL) that long after it is made, after its trace (the sweep deletes both first). */
    private readonly options: { retentionDays?: number | undefined } = {},
  ) {}

  async readTraceState(tenant: Tenant, traceId: string): Promise<TraceEvaluationState | null> {
    const item = await readCurrentTrace(this.doc, this.table, keys.trace(tenant.organizationId, tenant.projectId, traceId), {
      ProjectionExpression: 'pk, evaluations_count, last_evaluations, eval_version, judge_ids, #source, ok',
      ExpressionAttributeNames: { '#source': 'source' },
    });
    if (!item) return null;
    return {
      count: typeof item.evaluations_count === 'number' ? item.evaluations_count : 0,
      last: Array.isArray(item.last_evaluations) ? (item.last_evaluations as unknown[]).map(summaryFromItem) : [],
      version: typeof item.eval_version === 'number' ? item.eval_version : 0,
      judgeIds: item.judge_ids instanceof Set ? [...(item.judge_ids as Set<string>)] : [],
      source: String(item.source),
      order: String(item.ok),
    };
  }

  /**
   * One transaction: the evaluation; the trace's summary (if still at the version read); the
   * trace's status member item moved to its new status (the status indexes follow); a judge member
   * item for a judge new to the trace; and the evaluation counters (by status, by judge) moved by
   * the difference, so the status and judge totals stay exact.
   */
  async commit(e: Evaluation, current: TraceEvaluationState, next: NextTraceEvaluationState): Promise<CommitResult> {
    const { organizationId: org, projectId: project, traceId } = e;
    const expectedVersion = current.version;
    const previous = deriveEvalStatus(current.last);
    const newJudge = !current.judgeIds.includes(e.judgeId);
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.table,
          // A backstop only, after the grace: the sweep deletes it with its trace and moves the counters; DynamoDB's TTL would move none.
          Item: withExpiry(
            evaluationItem(e),
            expiresAt(this.options.retentionDays, Date.parse(e.createdAt) || Date.now(), EXPIRY_GRACE_DAYS),
          ),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: keys.trace(org, project, traceId),
          UpdateExpression:
            'SET evaluations_count = :count, last_evaluations = :last, eval_status = :status, eval_version = :next ADD judge_ids :judge',
          // A trace never evaluated has no version; any other must still be at the one we read.
          ConditionExpression:
            expectedVersion === 0
              ? 'attribute_exists(pk) AND attribute_not_exists(eval_version)'
              : 'attribute_exists(pk) AND eval_version = :expected',
          ExpressionAttributeValues: {
            ':count': next.count,
            ':last': next.last.map(summaryItem),
            ':status': next.status,
            ':next': next.version,
            ':judge': new Set([e.judgeId]),
            ...(expectedVersion === 0 ? {} : { ':expected': expectedVersion }),
          },
        },
      },
    ];
    if (previous !== next.status)
      items.push({ Put: { TableName: this.table, Item: statusMemberItem(org, project, traceId, next.status, current) } });
    if (newJudge) items.push({ Put: { TableName: this.table, Item: judgeMemberItem(org, project, traceId, e.judgeId, current) } });
    const counters = evalCounterUpdate(this.table, org, project, traceId, {
      source: current.source,
      status: previous === next.status ? {} : { ...(previous ? { [previous]: -1 } : {}), [next.status]: 1 },
      judges: newJudge ? { [e.judgeId]: 1 } : {},
    });
    if (counters) {
      await ensureEvalCounter(this.doc, this.table, org, project, traceId);
      items.push({ Update: counters });
    }
    items.push({ Update: counterUpdate(this.table, e, counted(e.judgeId, outcomeOf(e), 1)) });
    const out = await this.summaryTransaction(e, items, counters !== null);
    if (out === 'not-pending') throw new Error(`an evaluation ${e.id} exists already`);
    return out;
  }

  /**
   * Sends a transaction whose first item is the evaluation's, its second the trace's summary and
   * its last the evaluation counters: 'conflict' when the summary changed since it was read (or
   * another transaction held an item), 'not-pending' when the evaluation's own condition failed.
   */
  private async summaryTransaction(
    e: Evaluation,
    items: NonNullable<TransactWriteCommandInput['TransactItems']>,
    movesTraceCounters: boolean,
  ): Promise<CommitResult | 'not-pending'> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return 'committed';
    } catch (err) {
      // The trace changed (or went away) since it was read, or another transaction held it: read again and retry.
      if (err instanceof TransactionConflictException) return 'conflict';
      if (err instanceof TransactionCanceledException) {
        const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
        if (codes[1] === 'ConditionalCheckFailed' || codes.includes('TransactionConflict')) return 'conflict';
        if (codes[0] === 'ConditionalCheckFailed') return 'not-pending';
        // The counter shard lost its maps (a table emptied under a warm process): make them again and retry.
        if (movesTraceCounters && codes[codes.length - 2] === 'ValidationError') {
          forgetEvalCounter(this.doc, this.table, e.organizationId, e.projectId, e.traceId);
          return 'conflict';
        }
      }
      throw err;
    }
  }

  async get(tenant: Tenant, evaluationId: string): Promise<Evaluation | null> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: evaluationKeys.item(tenant.organizationId, tenant.projectId, evaluationId),
        ConsistentRead: true,
      }),
    );
    return out.Item ? evaluationFromItem(out.Item) : null;
  }

  /**
   * One page from the index that narrows the filter most (one trace's evaluations, one judge's,
   * or the project's), newest first (or oldest): a time range and the cursor are key conditions,
   * a judge within a trace and the outcome are filter expressions, the search is tested on the
   * items read. Totals come from the counters (the project's, a judge's, an outcome's, both) or,
   * for one trace, a count of its few evaluations; with a time range or a search they are counted
   * while reading, for as long as the page took again (at most the budget), exact when the range
   * was read to its end. A page by number skips its predecessors' entries; a cursor (X-Next-Cursor)
   * starts right after them.
   */
  async list(tenant: Tenant, filter: EvaluationFilter, window: { offset: number; limit: number }): Promise<EvaluationPage> {
    const started = Date.now();
    const deadline = started + LIST_BUDGET_MS;
    const { organizationId: org, projectId: project } = tenant;
    const [index, partition] =
      filter.traceId !== undefined
        ? ['gsi2', evaluationKeys.byTrace(org, project, filter.traceId)]
        : filter.judgeId !== undefined
          ? ['gsi3', evaluationKeys.byJudge(org, project, filter.judgeId)]
          : ['gsi1', evaluationKeys.all(org, project)];
    const sk = `${index}sk`;
    const forward = filter.sortOrder === 'asc';
    const bind = listBinding(tenant, filter);
    let since = filter.since;
    let after: string | undefined;
    /** Matches before the cursor (served on earlier pages). */
    let before = 0;
    if (filter.cursor !== undefined) {
      const c = decodeListCursor(filter.cursor, bind);
      after = c.k;
      since = c.s ?? since;
      before = c.m ?? 0;
    }
    const names: Record<string, string> = { '#pk': `${index}pk`, '#sk': sk };
    const values: Record<string, unknown> = { ':p': partition };
    const conditions = ['#pk = :p'];
    if (since !== undefined && after !== undefined && !forward) {
      conditions.push('#sk BETWEEN :since AND :after');
      values[':since'] = since;
      values[':after'] = after;
    } else if (after !== undefined) {
      conditions.push(`#sk ${forward ? '>' : '<'} :after`);
      values[':after'] = after;
    } else if (since !== undefined) {
      conditions.push('#sk >= :since');
      values[':since'] = since;
    }
    const filters: string[] = [];
    if (filter.traceId !== undefined && filter.judgeId !== undefined) {
      filters.push('judge_id = :j');
      values[':j'] = filter.judgeId;
    }
    if (filter.outcome === 'pass' || filter.outcome === 'fail') {
      filters.push('passed = :o');
      values[':o'] = filter.outcome === 'pass';
    } else if (filter.outcome === 'pending') {
      filters.push('(attribute_not_exists(passed) OR attribute_type(passed, :null))');
      values[':null'] = 'NULL';
    }
    const search = filter.search;
    const matches = (e: Evaluation) =>
      search === undefined || [e.judgeId, e.judgeName, e.traceId, e.reasoning ?? ''].some((t) => t.toLowerCase().includes(search));
    const countedByReading = since !== undefined || search !== undefined;

    const items: Evaluation[] = [];
    let matched = 0;
    let position: string | undefined;
    let full: number | null = null;
    let fullAt: number | null = null;
    let exhausted = false;
    let start: Record<string, unknown> | undefined;
    let limit = Math.min(1000, window.offset + window.limit + 1);
    for (;;) {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index,
          KeyConditionExpression: conditions.join(' AND '),
          ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
          ExpressionAttributeNames: conditions.length > 1 ? names : { '#pk': names['#pk']! },
          ExpressionAttributeValues: values,
          ScanIndexForward: forward,
          Limit: limit,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const e = evaluationFromItem(item);
        // A BETWEEN bound is inclusive: the cursor's own entry is not served again.
        if (after !== undefined && String(item[sk]) === after) continue;
        if (!matches(e)) continue;
        matched++;
        if (full !== null) continue;
        if (matched > window.offset) {
          items.push(e);
          position = String(item[sk]);
          if (items.length === window.limit) full = matched;
        }
      }
      start = out.LastEvaluatedKey;
      limit = Math.min(limit * 2, 1000);
      if (start === undefined) {
        exhausted = true;
        break;
      }
      if (full !== null) {
        if (fullAt === null) fullAt = Date.now();
        // The page is full: counting on only when the total needs it, for as long again as the page took.
        if (!countedByReading || Date.now() - started > Math.min(LIST_BUDGET_MS, 2 * Math.max(25, fullAt - started))) break;
      } else if (Date.now() > deadline) {
        // Out of time before the page filled: what was found, and a cursor from where the reading stopped.
        position = String(start[sk]);
        break;
      }
    }
    const more = full !== null ? !exhausted || matched > full : !exhausted;
    const servedThrough = before + (full ?? matched);
    const nextCursor = more && position !== undefined ? encodeListCursor(bind, position, since, servedThrough) : null;
    let total: number;
    let totalExact = true;
    if (countedByReading) {
      total = before + matched;
      totalExact = exhausted;
    } else if (filter.traceId !== undefined) {
      total = exhausted && filter.cursor === undefined ? matched : await this.countPartition(index, partition, filters, values);
    } else {
      total = await this.counterTotal(tenant, filter);
    }
    return { items, total, totalExact, nextCursor };
  }

  /** A trace's evaluations (few), counted with the list's filter expression. */
  private async countPartition(index: string, partition: string, filters: string[], values: Record<string, unknown>): Promise<number> {
    const v: Record<string, unknown> = { ':p': partition };
    for (const k of [':j', ':o', ':null']) if (k in values) v[k] = values[k];
    return queryCount(this.doc, {
      TableName: this.table,
      IndexName: index,
      KeyConditionExpression: '#pk = :p',
      ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
      ExpressionAttributeNames: { '#pk': `${index}pk` },
      ExpressionAttributeValues: v,
    });
  }

  /** The project's evaluations of a judge and/or outcome (or all): the counter shards, added up. */
  private async counterTotal(tenant: Tenant, filter: EvaluationFilter): Promise<number> {
    const attr =
      filter.judgeId !== undefined && filter.outcome !== undefined
        ? `jo:${JSON.stringify([filter.judgeId, filter.outcome])}`
        : filter.judgeId !== undefined
          ? `j:${filter.judgeId}`
          : filter.outcome !== undefined
            ? `o:${filter.outcome}`
            : 'n';
    const shards = allShards(EVAL_COUNTER_SHARDS).map((s) => evaluationKeys.counter(tenant.organizationId, tenant.projectId, s));
    let total = 0;
    for (const i of await batchGetAll(this.doc, this.table, shards, { projection: '#a', names: { '#a': attr } }))
      if (typeof i[attr] === 'number') total += i[attr] as number;
    return Math.max(0, total);
  }

  /**
   * One transaction: the evaluation (if still without a verdict) with its result; the trace's
   * summary (if still at the version read), its status member and counters as `commit` moves
   * them; the evaluation counters from pending to its outcome.
   */
  async complete(e: Evaluation, current: TraceEvaluationState, next: NextTraceEvaluationState): Promise<CommitResult | 'not-pending'> {
    const { organizationId: org, projectId: project, traceId } = e;
    const previous = deriveEvalStatus(current.last);
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.table,
          Item: evaluationItem(e),
          // Still pending, and counted as it was read (the migration may count an old one meanwhile).
          ConditionExpression: `attribute_exists(pk) AND (attribute_not_exists(passed) OR attribute_type(passed, :null)) AND ${e.counted ? 'counted = :true' : 'attribute_not_exists(counted)'}`,
          ExpressionAttributeValues: { ':null': 'NULL', ...(e.counted ? { ':true': true } : {}) },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: keys.trace(org, project, traceId),
          UpdateExpression: 'SET last_evaluations = :last, eval_status = :status, eval_version = :next',
          ConditionExpression:
            current.version === 0
              ? 'attribute_exists(pk) AND attribute_not_exists(eval_version)'
              : 'attribute_exists(pk) AND eval_version = :expected',
          ExpressionAttributeValues: {
            ':last': next.last.map(summaryItem),
            ':status': next.status,
            ':next': next.version,
            ...(current.version === 0 ? {} : { ':expected': current.version }),
          },
        },
      },
    ];
    if (previous !== next.status)
      items.push({ Put: { TableName: this.table, Item: statusMemberItem(org, project, traceId, next.status, current) } });
    const counters =
      previous === next.status
        ? null
        : evalCounterUpdate(this.table, org, project, traceId, {
            source: current.source,
            status: { ...(previous ? { [previous]: -1 } : {}), [next.status]: 1 },
            judges: {},
          });
    if (counters) {
      await ensureEvalCounter(this.doc, this.table, org, project, traceId);
      items.push({ Update: counters });
    }
    // Counted while pending: it moves to its outcome; stored before the counters: it is counted now.
    const moves = e.counted ? counted(e.judgeId, 'pending', -1) : new Map<string, number>();
    counted(e.judgeId, outcomeOf(e), 1, moves);
    items.push({ Update: counterUpdate(this.table, e, moves) });
    return this.summaryTransaction(e, items, counters !== null);
  }

  /** Deletes every evaluation of one trace, each with its counters' share (one transaction each); answers how many. */
  async deleteForTrace(tenant: Tenant, traceId: string): Promise<number> {
    const found: Record<string, unknown>[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :p',
      ProjectionExpression: 'pk, sk, id, judge_id, passed, #counted',
      ExpressionAttributeNames: { '#counted': 'counted' },
      ExpressionAttributeValues: { ':p': evaluationKeys.byTrace(tenant.organizationId, tenant.projectId, traceId) },
    });
    for await (const items of pages) found.push(...items);
    await Promise.all(
      found.map(async (item) => {
        const e = { organizationId: tenant.organizationId, projectId: tenant.projectId, id: String(item.id) };
        const outcome = outcomeOf({ passed: typeof item.passed === 'boolean' ? item.passed : null });
        const del = {
          Delete: { TableName: this.table, Key: { pk: String(item.pk), sk: String(item.sk) }, ConditionExpression: 'attribute_exists(pk)' },
        };
        for (let attempt = 0; ; attempt++) {
          try {
            // One the counters never counted (stored before them, not migrated yet) goes alone.
            await this.doc.send(
              new TransactWriteCommand({
                TransactItems:
                  item.counted === true
                    ? [del, { Update: counterUpdate(this.table, e, counted(String(item.judge_id), outcome, -1)) }]
                    : [del],
              }),
            );
            return;
          } catch (err) {
            // Already gone (another delete of the same trace): its counters moved with it.
            if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return;
            if (attempt >= 10 || !(isRetryable(err) || err instanceof TransactionCanceledException)) throw err;
            await sleep(backoffMs(attempt + 1));
          }
        }
      }),
    );
    return found.length;
  }
}

export function evaluationItem(e: Evaluation): Record<string, unknown> {
  const sort = evaluationKeys.sort(e.createdAt, e.id);
  return {
    ...evaluationKeys.item(e.organizationId, e.projectId, e.id),
    gsi1pk: evaluationKeys.all(e.organizationId, e.projectId),
    gsi1sk: sort,
    gsi2pk: evaluationKeys.byTrace(e.organizationId, e.projectId, e.traceId),
    gsi2sk: sort,
    gsi3pk: evaluationKeys.byJudge(e.organizationId, e.projectId, e.judgeId),
    gsi3sk: sort,
    type: 'evaluation',
    // Stored in its wire shape: reads answer it as it is.
    ...evaluationJson(e),
    ...(e.result ? { result: e.result } : {}),
    // Written only with its counters' move (create, result): the evaluation counters count it.
    counted: true,
  };
}

export function evaluationFromItem(i: Record<string, unknown>): Evaluation {
  return {
    id: String(i.id),
    organizationId: String(i.organization_id),
    projectId: String(i.project_id),
    traceId: String(i.trace_id),
    judgeId: String(i.judge_id),
    judgeName: String(i.judge_name),
    judgeVersion: typeof i.judge_version === 'number' ? i.judge_version : 1,
    status: String(i.status) as EvaluationStatus,
    passed: typeof i.passed === 'boolean' ? i.passed : null,
    score: typeof i.score === 'number' ? i.score : null,
    reasoning: typeof i.reasoning === 'string' ? i.reasoning : null,
    createdAt: String(i.created_at),
    result: i.result && typeof i.result === 'object' ? (i.result as ResultDetails) : null,
    counted: i.counted === true,
  };
}

/** What a list cursor is bound to: the caller and every part of the filter but the page. */
function listBinding(tenant: Tenant, f: EvaluationFilter): string {
  const parts = [
    tenant.organizationId,
    tenant.projectId,
    f.traceId,
    f.judgeId,
    f.outcome,
    f.since !== undefined,
    f.search,
    f.sortOrder ?? 'desc',
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

function encodeListCursor(b: string, position: string, since: string | undefined, matchedBefore: number): string {
  return Buffer.from(JSON.stringify({ v: 1, b, k: position, m: matchedBefore, ...(since !== undefined ? { s: since } : {}) })).toString(
    'base64url',
  );
}

function decodeListCursor(cursor: string, b: string): { k: string; m?: number | undefined; s?: string | undefined } {
  let body: z.infer<typeof ListCursor>;
  try {
    body = ListCursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new CursorError('cursor is not a cursor this API issued');
  }
  if (body.b !== b) throw new CursorError('cursor belongs to another query or caller; start again without it');
  if (body.s !== undefined && (Number.isNaN(Date.parse(body.s)) || body.s.length > 40))
    throw new CursorError('cursor is not a cursor this API issued');
  return body;
}

/** One entry of the trace's `last_evaluations` (the names the trace list reads). */
export function summaryItem(s: EvaluationSummary): Record<string, unknown> {
  return {
    evaluation_id: s.evaluationId,
    judge_id: s.judgeId,
    judge_name: s.judgeName,
    judge_version: s.judgeVersion,
    created_at: s.createdAt,
    passed: s.passed,
  };
}

export function summaryFromItem(v: unknown): EvaluationSummary {
  const i = (v ?? {}) as Record<string, unknown>;
  return {
    evaluationId: String(i.evaluation_id),
    judgeId: String(i.judge_id),
    judgeName: String(i.judge_name),
    judgeVersion: typeof i.judge_version === 'number' ? i.judge_version : 1,
    createdAt: String(i.created_at),
    passed: typeof i.passed === 'boolean' ? i.passed : null,
  };
}
