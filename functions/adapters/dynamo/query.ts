import { BatchGetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { backoffMs, isRetryable, sleep } from '../retry.js';

/** Every page of a Query, in order, until DynamoDB says there is no more. */
export async function* queryPages(doc: DynamoDBDocumentClient, input: QueryCommandInput): AsyncGenerator<Record<string, unknown>[]> {
  let start = input.ExclusiveStartKey;
  do {
    const page = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    yield page.Items ?? [];
    start = page.LastEvaluatedKey;
  } while (start);
}

/** How many items a Query matches (Select COUNT, over every page). */
export async function queryCount(doc: DynamoDBDocumentClient, input: QueryCommandInput): Promise<number> {
  let count = 0;
  let start = input.ExclusiveStartKey;
  do {
    const page = await doc.send(new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: start }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/**
 * The items under `keys` (any number of them: 100 per BatchGetItem), in no particular order; keys
 * DynamoDB leaves unprocessed, and throttled or failed calls, are asked again with backoff. Keys
 * still unprocessed after `maxAttempts` are a throttle, named as DynamoDB names it (callers answer 429).
 */
export async function batchGetAll(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  options: { consistent?: boolean; projection?: string; names?: Record<string, string>; maxAttempts?: number } = {},
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  const maxAttempts = options.maxAttempts ?? 10;
  for (let i = 0; i < keys.length; i += 100) {
    let pending: Record<string, unknown>[] = keys.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= maxAttempts) {
        const err = new Error(`BatchGetItem left ${pending.length} keys unread after ${attempt} attempts (throttled)`);
        err.name = 'ProvisionedThroughputExceededException';
        throw err;
      }
      if (attempt > 0) await sleep(backoffMs(attempt));
      try {
        const out = await doc.send(
          new BatchGetCommand({
            RequestItems: {
              [table]: {
                Keys: pending,
                ...(options.consistent ? { ConsistentRead: true } : {}),
                ...(options.projection ? { ProjectionExpression: options.projection } : {}),
                ...(options.names ? { ExpressionAttributeNames: options.names } : {}),
              },
            },
          }),
        );
        found.push(...(out.Responses?.[table] ?? []));
        pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
      } catch (err) {
        if (!isRetryable(err)) throw err;
      }
    }
  }
  return found;
}
