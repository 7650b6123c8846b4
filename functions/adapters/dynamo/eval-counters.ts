import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EVAL_COUNTER_PREFIX, EVAL_COUNTER_SHARDS, keys, shardOf } from './keys.js';

/**
 * How many traces have each evaluation status and each judge, alone and with a source: what the
 * list's totals for `status` and `judge_id` read. Spread over EVAL_COUNTER_SHARDS items (a trace's
 * shard is fixed by its id), each with four maps: `st` (status), `sst` ([status, source]),
 * `j` (judge) and `js` ([judge, source]); the pairs are keyed by their JSON. They move in the same
 * transactions that change a trace's status or judges (an evaluation, a delete), so they stay exact.
 */
export interface EvalTotals {
  byStatus: Record<string, number>;
  byStatusSource: Record<string, number>;
  byJudge: Record<string, number>;
  byJudgeSource: Record<string, number>;
}

/** The counter shard a trace's changes move. */
export function evalCounterKey(org: string, project: string, traceId: string) {
  return keys.evalCounter(org, project, shardOf(traceId, EVAL_COUNTER_SHARDS));
}

export async function evalCounterTotals(doc: DynamoDBDocumentClient, table: string, org: string, project: string): Promise<EvalTotals> {
  const out = await doc.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.projectPartition(org, project), ':prefix': EVAL_COUNTER_PREFIX },
    }),
  );
  const totals: EvalTotals = { byStatus: {}, byStatusSource: {}, byJudge: {}, byJudgeSource: {} };
  const add = (into: Record<string, number>, from: unknown) => {
    if (from === null || typeof from !== 'object') return;
    for (const [k, v] of Object.entries(from)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
  };
  for (const item of out.Items ?? []) {
    add(totals.byStatus, item.st);
    add(totals.byStatusSource, item.sst);
    add(totals.byJudge, item.j);
    add(totals.byJudgeSource, item.js);
  }
  return totals;
}

/** A change of the counters: +1 or -1 per status and judge, of one trace of one source. */
export interface EvalCounterChange {
  source: string;
  status: Record<string, number>;
  judges: Record<string, number>;
}

/** The Update (for a transaction) that applies a change to the trace's counter shard, or null when it changes nothing. */
export function evalCounterUpdate(table: string, org: string, project: string, traceId: string, change: EvalCounterChange) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':z': 0 };
  const sets: string[] = [];
  let n = 0;
  const move = (map: string, key: string, by: number) => {
    if (by === 0) return;
    const name = `#k${n}`;
    const value = `:d${n++}`;
    names[name] = key;
    values[value] = by;
    sets.push(`${map}.${name} = if_not_exists(${map}.${name}, :z) + ${value}`);
  };
  for (const [status, by] of Object.entries(change.status)) {
    move('st', status, by);
    move('sst', JSON.stringify([status, change.source]), by);
  }
  for (const [judge, by] of Object.entries(change.judges)) {
    move('j', judge, by);
    move('js', JSON.stringify([judge, change.source]), by);
  }
  if (sets.length === 0) return null;
  return {
    TableName: table,
    Key: evalCounterKey(org, project, traceId),
    UpdateExpression: `SET ${sets.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** Counter shards known to exist, per client (a test may point a new client at a new table of the same name). */
const ready = new WeakMap<DynamoDBDocumentClient, Set<string>>();
const shardId = (table: string, org: string, project: string, traceId: string) => {
  const key = evalCounterKey(org, project, traceId);
  return `${table}\u0000${key.pk}\u0000${key.sk}`;
};

/** The counter shard exists with its four maps (nested paths can only be set inside a map that exists). Once per shard per client. */
export async function ensureEvalCounter(
  doc: DynamoDBDocumentClient,
  table: string,
  org: string,
  project: string,
  traceId: string,
): Promise<void> {
  const key = evalCounterKey(org, project, traceId);
  const id = shardId(table, org, project, traceId);
  if (ready.get(doc)?.has(id)) return;
  await doc.send(
    new UpdateCommand({
      TableName: table,
      Key: key,
      UpdateExpression:
        'SET st = if_not_exists(st, :e), sst = if_not_exists(sst, :e), j = if_not_exists(j, :e), js = if_not_exists(js, :e), #t = :t',
      ExpressionAttributeNames: { '#t': 'type' },
      ExpressionAttributeValues: { ':e': {}, ':t': 'counter' },
    }),
  );
  if (!ready.has(doc)) ready.set(doc, new Set());
  ready.get(doc)!.add(id);
}

/** After a transaction found the shard without its maps: the next ensure writes them again. */
export function forgetEvalCounter(doc: DynamoDBDocumentClient, table: string, org: string, project: string, traceId: string): void {
  ready.get(doc)?.delete(shardId(table, org, project, traceId));
}
