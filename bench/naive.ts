/**
 * The naive ingest, as a user would first write it with SDK v3: read the
 * whole object into memory, split it into lines, JSON.parse each, and write
 * one PutItem per trace, each awaited before the next. No batching, no
 * concurrency, no streaming; nothing made slower on purpose either (no
 * sleeps, clients built once, SDK defaults).
 *
 * It writes the same attributes as our trace item (keys and the three index
 * keys, so DynamoDB maintains the same indexes; the document, the input and a
 * lower-cased search text, so items are about the same size), under its own
 * organization so it never touches the items our ingest writes.
 *
 * Run as its own process (bench/naive-worker.ts) so its peak RSS is its own.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
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
  doc: DynamoDBDocumentClient;
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
  return { s3, doc: DynamoDBDocumentClient.from(ddb) };
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
    const id = randomUUID();
    const source = typeof value.source === 'string' ? value.source : 's3';
    const input = value.input === undefined ? null : typeof value.input === 'string' ? value.input : JSON.stringify(value.input);
    const sortKey = `${createdAt}#${uploadId}#${String(i).padStart(10, '0')}`;
    await clients.doc.send(
      new PutCommand({
        TableName: t.table,
        Item: {
          pk: `T#${t.organizationId}#${t.projectId}#${id}`,
          sk: 'T',
          gsi1pk: `P#${t.organizationId}#${t.projectId}`,
          gsi1sk: sortKey,
          gsi2pk: `P#${t.organizationId}#${t.projectId}#S#${source}`,
          gsi2sk: sortKey,
          gsi3pk: `P#${t.organizationId}#${t.projectId}`,
          gsi3sk: `${filename}#${sortKey}`,
          type: 'trace',
          id,
          organization_id: t.organizationId,
          project_id: t.projectId,
          created_at: createdAt,
          filename,
          source,
          integration_id: null,
          upload_id: uploadId,
          position: i,
          doc: line,
          input,
          search: `${filename}\n${input ?? ''}\n${line}`.toLowerCase(),
        },
      }),
    );
    records++;
  }
  return { records, badLines };
}
