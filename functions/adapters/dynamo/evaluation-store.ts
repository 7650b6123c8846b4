import { TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  GetCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { deriveEvalStatus } from '../../domain/evaluations.js';
import type {
  CommitResult,
  Evaluation,
  EvaluationFilter,
  EvaluationStatus,
  EvaluationStore,
  EvaluationSummary,
  NextTraceEvaluationState,
  TraceEvaluationState,
} from '../../domain/evaluations.js';
import { evaluationJson } from '../../domain/evaluations.js';
import { batchGetAll, queryPages } from './query.js';
import type { Tenant } from '../../domain/tenancy.js';
import type { EvaluationCleaner } from '../../domain/trace-maintenance.js';
import { backoffMs, isRetryable, sleep } from '../retry.js';
import { ensureEvalCounter, evalCounterUpdate, forgetEvalCounter } from './eval-counters.js';
import { readCurrentTrace } from './migration.js';
import { keys } from './keys.js';
import { judgeMemberItem, statusMemberItem } from './trace-members.js';
import { expiresAt, withExpiry } from '../../domain/expiry.js';

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
};

type Key = { pk: string; sk: string };

const PAGE_READ_LIMIT = 1000;

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
      { Put: { TableName: this.table, Item: withExpiry(evaluationItem(e), expiresAt(this.options.retentionDays, Date.parse(e.createdAt) || Date.now())), ConditionExpression: 'attribute_not_exists(pk)' } },
      {
        Update: {
          TableName: this.table,
          Key: keys.trace(org, project, traceId),
          UpdateExpression:
            'SET evaluations_count = :count, last_evaluations = :last, eval_status = :status, eval_version = :next ADD judge_ids :judge',
          // A trace never evaluated has no version; any other must still be at the one we read.
          ConditionExpression:
            expectedVersion === 0 ? 'attribute_exists(pk) AND attribute_not_exists(eval_version)' : 'attribute_exists(pk) AND eval_version = :expected',
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
    if (previous !== next.status) items.push({ Put: { TableName: this.table, Item: statusMemberItem(org, project, traceId, next.status, current) } });
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
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return 'committed';
    } catch (err) {
      // The trace changed (or went away) since it was read, or another transaction held it: read again and retry.
      if (err instanceof TransactionConflictException) return 'conflict';
      if (err instanceof TransactionCanceledException) {
        const codes = (err.CancellationReasons ?? []).map((r) => r.Code);
        if (codes[1] === 'ConditionalCheckFailed' || codes.includes('TransactionConflict')) return 'conflict';
        // The counter shard lost its maps (a table emptied under a warm process): make them again and retry.
        if (counters && codes[codes.length - 1] === 'ValidationError') {
          forgetEvalCounter(this.doc, this.table, org, project, traceId);
          return 'conflict';
        }
      }
      throw err;
    }
  }

  async get(tenant: Tenant, evaluationId: string): Promise<Evaluation | null> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: evaluationKeys.item(tenant.organizationId, tenant.projectId, evaluationId), ConsistentRead: true }),
    );
    return out.Item ? evaluationFromItem(out.Item) : null;
  }

  /**
   * One pass over the matching index partition, newest first, reading keys
   * only: it counts every match (the total) and keeps the keys of the
   * requested window; then the window's items are read by key.
   */
  async list(tenant: Tenant, filter: EvaluationFilter, window: { offset: number; limit: number }): Promise<{ items: Evaluation[]; total: number }> {
    const { organizationId: org, projectId: project } = tenant;
    const [index, partition] =
      filter.traceId !== undefined
        ? ['gsi2', evaluationKeys.byTrace(org, project, filter.traceId)]
        : filter.judgeId !== undefined
          ? ['gsi3', evaluationKeys.byJudge(org, project, filter.judgeId)]
          : ['gsi1', evaluationKeys.all(org, project)];
    // By trace and by judge: the trace's partition, filtered on the judge.
    const judgeFilter = filter.traceId !== undefined && filter.judgeId !== undefined;
    const windowKeys: Key[] = [];
    let total = 0;
    const pages = queryPages(this.doc, {
      TableName: this.table,
      IndexName: index,
      KeyConditionExpression: '#pk = :p',
      ...(judgeFilter ? { FilterExpression: 'judge_id = :j' } : {}),
      ProjectionExpression: 'pk, sk',
      ExpressionAttributeNames: { '#pk': `${index}pk` },
      ExpressionAttributeValues: { ':p': partition, ...(judgeFilter ? { ':j': filter.judgeId } : {}) },
      ScanIndexForward: false,
      Limit: PAGE_READ_LIMIT,
    });
    for await (const items of pages) {
      for (const item of items) {
        if (total >= window.offset && total < window.offset + window.limit) windowKeys.push({ pk: String(item.pk), sk: String(item.sk) });
        total++;
      }
    }
    const items = await this.getMany(windowKeys);
    return { items: windowKeys.map((k) => items.get(k.pk)).filter((e): e is Evaluation => e !== undefined), total };
  }

  /** Deletes every evaluation of one trace; answers how many. */
  async deleteForTrace(tenant: Tenant, traceId: string): Promise<number> {
    const found: Key[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :p',
      ProjectionExpression: 'pk, sk',
      ExpressionAttributeValues: { ':p': evaluationKeys.byTrace(tenant.organizationId, tenant.projectId, traceId) },
    });
    for await (const items of pages) for (const item of items) found.push({ pk: String(item.pk), sk: String(item.sk) });
    for (let i = 0; i < found.length; i += 25) {
      await this.batchWrite(found.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })));
    }
    return found.length;
  }

  private async getMany(wanted: Key[]): Promise<Map<string, Evaluation>> {
    return new Map((await batchGetAll(this.doc, this.table, wanted)).map((item) => [String(item.pk), evaluationFromItem(item)]));
  }

  private async batchWrite(requests: NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 10) throw new Error('BatchWriteItem left items unprocessed after 10 attempts');
      if (attempt > 0) await sleep(backoffMs(attempt));
      try {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
        pending = out.UnprocessedItems?.[this.table] ?? [];
      } catch (err) {
        if (!isRetryable(err)) throw err;
      }
    }
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
  };
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
