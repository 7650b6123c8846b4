import { DynamoDBClient, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { FinalizeHandler, FinalizeHandlerArguments, FinalizeRequestMiddleware } from '@smithy/types';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '../shared/config.js';
import { countThrottle, isThrottle } from '../shared/throttles.js';

/**
 * Counts every DynamoDB attempt that was throttled: a throttling error (the SDK retries it), or a
 * batch answer with unprocessed items or keys (we retry those): the ThrottledRetries metric.
 */
function countingThrottles(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.addRelativeTo(
    ((next: FinalizeHandler<ServiceInputTypes, ServiceOutputTypes>) => async (args: FinalizeHandlerArguments<ServiceInputTypes>) => {
      try {
        const out = await next(args);
        const o = out.output as { UnprocessedItems?: Record<string, unknown[]>; UnprocessedKeys?: Record<string, unknown> };
        if (Object.keys(o?.UnprocessedItems ?? {}).length > 0 || Object.keys(o?.UnprocessedKeys ?? {}).length > 0) countThrottle();
        return out;
      } catch (err) {
        if (isThrottle(err)) countThrottle();
        throw err;
      }
    }) as FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes>,
    { relation: 'after', toMiddleware: 'retryMiddleware', name: 'throttleCounter' },
  );
  return client;
}

/**
 * AWS clients, built once per module (per Lambda container) on first use. S3's are in
 * s3/s3-sdk.ts, which the S3 adapters load on their first call (s3/lazy-sdk.ts).
 *
 * We configure no SDK logger, yet the SDK's logger middleware still runs its
 * sensitive-data filter over every request and response (the no-op logger has
 * an `info` method, so the arguments are built). For 25-item batches that
 * filter costs more CPU than our own parsing; the middleware is removed.
 */
function withoutLogger<T extends { middlewareStack: { remove(name: string): boolean } }>(client: T): T {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

let dynamo: DynamoDBClient | undefined;
let doc: DynamoDBDocumentClient | undefined;

export function dynamoClient(): DynamoDBClient {
  dynamo ??= newDynamoClient();
  return dynamo;
}

export function documentClient(): DynamoDBDocumentClient {
  doc ??= newDocumentClient(dynamoClient());
  return doc;
}

/** A new DynamoDB client configured as the functions' own, on their endpoint or another (tests put a fault-injecting proxy there). */
export function newDynamoClient(endpoint = config().AWS_ENDPOINT_URL_DYNAMODB): DynamoDBClient {
  return countingThrottles(
    withoutLogger(
      new DynamoDBClient({
        region: config().AWS_REGION,
        maxAttempts: 3,
        ...(endpoint ? { endpoint } : {}),
      }),
    ),
  );
}

/** The document client the functions use, over the given client. */
export function newDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}
