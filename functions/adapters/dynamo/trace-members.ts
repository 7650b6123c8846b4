import type { TraceEvaluationState } from '../../domain/evaluations.js';
import { judgeMember, keys, shardOf, STATUS_MEMBER, traceIndex, TRACE_SHARDS } from './keys.js';

/**
 * A trace's status member: listed under its status (gsi2) and its status and source (gsi3), in
 * the trace's list order, in the trace's shard. Small (keys only), so those indexes hold it whole.
 */
export function statusMemberItem(
  org: string,
  project: string,
  traceId: string,
  status: string,
  t: Pick<TraceEvaluationState, 'source' | 'order'>,
): Record<string, unknown> {
  const shard = shardOf(traceId, TRACE_SHARDS);
  return {
    ...keys.traceMember(org, project, traceId, STATUS_MEMBER),
    type: 'trace-status',
    trace_id: traceId,
    gsi2pk: traceIndex.status(org, project, status, shard),
    gsi2sk: t.order,
    gsi3pk: traceIndex.statusSource(org, project, status, shard, t.source),
    gsi3sk: t.order,
  };
}

/** A judge of a trace: listed under the judge (gsi2) and the judge and source (gsi3), in the trace's list order. */
export function judgeMemberItem(
  org: string,
  project: string,
  traceId: string,
  judgeId: string,
  t: Pick<TraceEvaluationState, 'source' | 'order'>,
): Record<string, unknown> {
  const shard = shardOf(traceId, TRACE_SHARDS);
  return {
    ...keys.traceMember(org, project, traceId, judgeMember(judgeId)),
    type: 'trace-judge',
    trace_id: traceId,
    gsi2pk: traceIndex.judge(org, project, shard, judgeId),
    gsi2sk: t.order,
    gsi3pk: traceIndex.judgeSource(org, project, shard, judgeId, t.source),
    gsi3sk: t.order,
  };
}
