/**
 * A lease on one item of the table, held with conditional updates of two attributes, `lease_owner`
 * and `lease_until` (epoch ms): acquired when the item has none, when it lapsed, or when it is ours
 * already; renewed and released only while it is ours. A lapsed lease is taken over by whoever asks
 * next, so a worker that died does not hold its work for longer than the lease.
 *
 * Two leases are this one: an object's ingest (upload-store.ts, on the object's item) and a
 * project's search indexer (search-work.ts, on the project's search lease item).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The item a lease lives on. */
export interface LeaseItem {
  doc: DynamoDBDocumentClient;
  table: string;
  key: Record<string, string>;
}

export interface AcquireExtras {
  /** More attributes the acquiring update sets (`SET name = value`). */
  set?: Record<string, unknown>;
  /** Numbers the acquiring update adds to (`ADD name n`). */
  add?: Record<string, number>;
}

const ACQUIRABLE = 'attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :o';
const OURS = 'lease_owner = :o';

/**
 * Takes the lease for `leaseMs` from `nowMs` unless another owner holds it unlapsed. Acquired: the
 * attributes the update wrote, as they were before it (DynamoDB's UPDATED_OLD); refused: null.
 */
export async function acquireLease(
  item: LeaseItem,
  owner: string,
  nowMs: number,
  leaseMs: number,
  extras: AcquireExtras = {},
): Promise<Record<string, unknown> | null> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':o': owner, ':until': nowMs + leaseMs, ':now': nowMs };
  const sets = ['lease_owner = :o', 'lease_until = :until'];
  const adds: string[] = [];
  for (const [i, [name, value]] of Object.entries(extras.set ?? {}).entries()) {
    names[`#s${i}`] = name;
    values[`:s${i}`] = value;
    sets.push(`#s${i} = :s${i}`);
  }
  for (const [i, [name, value]] of Object.entries(extras.add ?? {}).entries()) {
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    adds.push(`#a${i} :a${i}`);
  }
  const out = await unlessConditionFails(() =>
    item.doc.send(
      new UpdateCommand({
        TableName: item.table,
        Key: item.key,
        UpdateExpression: `SET ${sets.join(', ')}${adds.length ? ` ADD ${adds.join(', ')}` : ''}`,
        ConditionExpression: ACQUIRABLE,
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
        ReturnValues: 'UPDATED_OLD',
      }),
    ),
  );
  return out ? (out.Attributes ?? {}) : null;
}

/** Extends the lease to `leaseMs` from `nowMs` if it is still ours: false when it is not (lapsed and taken, or released). */
export async function renewLease(item: LeaseItem, owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
  const out = await unlessConditionFails(() =>
    item.doc.send(
      new UpdateCommand({
        TableName: item.table,
        Key: item.key,
        UpdateExpression: 'SET lease_until = :until',
        ConditionExpression: OURS,
        ExpressionAttributeValues: { ':o': owner, ':until': nowMs + leaseMs },
      }),
    ),
  );
  return out !== null;
}

/** Gives the lease up if it is ours (another owner's, or none, is left as it is). */
export async function releaseLease(item: LeaseItem, owner: string): Promise<void> {
  await unlessConditionFails(() =>
    item.doc.send(
      new UpdateCommand({
        TableName: item.table,
        Key: item.key,
        UpdateExpression: 'REMOVE lease_owner, lease_until',
        ConditionExpression: OURS,
        ExpressionAttributeValues: { ':o': owner },
      }),
    ),
  );
}

/** Until when the lease is held, read consistently (`nowMs` when it is not held at all). */
export async function leaseHeldUntil(item: LeaseItem, nowMs: number): Promise<number> {
  const current = await item.doc.send(new GetCommand({ TableName: item.table, Key: item.key, ConsistentRead: true }));
  return Number(current.Item?.lease_until ?? nowMs);
}

/** A transaction's check that the lease is still `owner`'s (document-client form). */
export function leaseCheck(item: Pick<LeaseItem, 'table' | 'key'>, owner: string) {
  return {
    ConditionCheck: { TableName: item.table, Key: item.key, ConditionExpression: OURS, ExpressionAttributeValues: { ':o': owner } },
  };
}

/** A conditional write's answer, or null when its condition did not hold (any other error is thrown). */
async function unlessConditionFails<T>(write: () => Promise<T>): Promise<T | null> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return null;
    throw err;
  }
}
