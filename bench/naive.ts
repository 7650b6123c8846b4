/**
 * The naive ingest, as a user would first write it with SDK v3: read the
 * whole object into memory, split it into lines, JSON.parse each, and write
 * one PutItem per trace, each awaited before the next. No batching, no
 * concurrency, no streaming; nothing made slower on purpose either (no
 * sleeps, clients built once, SDK defaults).
 *
 * It writes the same item as our ingest (traceItem of the same trace: the same
 * attributes and index keys, so DynamoDB maintains the same indexes and the
 * items are the same size), under its own organization so it never touches
 * the items our ingest writes: what differs is the loop alone.
 *
 * Run as its own process (bench/naive-worker.ts) so its peak RSS is its own.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { traceItem } from '../functions/adapters/dynamo/trace-writer.js';
import { buildTrace, storedTrace } from '../functions/domain/trace.js';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface NaiveTarget {
  bucket: string;
  key: string;
  table: string;
  /** Kept apart from our ingest's items: its own organization. */
  organizationId: string;
  projectId: string;
}

export interface NaiveClients {
  s3: S3Client;
  ddb: DynamoDBClient;
}

/** The user's clients, from the usual environment (the endpoints are the local stack's). */
export function naiveClients(): NaiveClients {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const s3 = new S3Client({
    region,
    ...(process.env.AWS_ENDPOINT_URL_S3 ? { endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true } : {}),
  });
  const ddb = new DynamoDBClient({
    region,
    ...(process.env.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  });
  return { s3, ddb };
}

export async function naiveIngest(clients: NaiveClients, t: NaiveTarget): Promise<{ records: number; badLines: number }> {
  const obj = await clients.s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: t.key }));
  const text = await obj.Body!.transformToString();
  const lines = text.split('\n');
  const filename = t.key.split('/').pop()!;
  const createdAt = new Date().toISOString();
  const uploadId = randomUUID();
  let records = 0;
  let badLines = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      badLines++;
      continue;
    }
    const draft = buildTrace(
      { organizationId: t.organizationId, projectId: t.projectId, objectKey: t.key, filename, defaultSource: 's3', createdAt, uploadId },
      { kind: 'record', position: i + 1, raw: line, value },
    );
    await clients.ddb.send(new PutItemCommand({ TableName: t.table, Item: traceItem(storedTrace({ ...draft, id: randomUUID() }).stored) }));
    records++;
  }
  return { records, badLines };
}
