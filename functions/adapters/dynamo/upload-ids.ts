import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ID_CHUNK_SIZE } from '../../domain/limits.js';
import { batchGetAll } from './query.js';
import { keys } from './keys.js';

/**
 * An upload's good trace ids in file order, ID_CHUNK_SIZE per item, each chunk in a partition
 * of its own (`U#<org>#<project>#<upload>#<n>`): a chunk is about 180 write units, and one
 * partition takes 1,000 a second.
 */
export async function putIdChunk(
  doc: DynamoDBDocumentClient,
  table: string,
  org: string,
  project: string,
  uploadId: string,
  index: number,
  ids: string[],
  expiresAt?: number,
): Promise<void> {
  await doc.send(
    new PutCommand({
      TableName: table,
      Item: {
        ...keys.uploadIds(org, project, uploadId, index),
        type: 'upload-ids',
        ids: ids.join(','),
        ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
      },
    }),
  );
}

/** One chunk's ids (empty when it does not exist). */
export async function readIdChunk(
  doc: DynamoDBDocumentClient,
  table: string,
  org: string,
  project: string,
  uploadId: string,
  index: number,
): Promise<string[]> {
  const out = await doc.send(
    new GetCommand({ TableName: table, Key: keys.uploadIds(org, project, uploadId, index), ProjectionExpression: 'ids' }),
  );
  return splitIds(out.Item?.ids);
}

/** The first `limit` ids of an upload of `chunks` chunks, in file order (the chunks read together, by key). */
export async function readIdChunks(
  doc: DynamoDBDocumentClient,
  table: string,
  org: string,
  project: string,
  uploadId: string,
  chunks: number,
  limit = Number.POSITIVE_INFINITY,
): Promise<string[]> {
  const wanted = Math.min(chunks, Math.ceil(limit / ID_CHUNK_SIZE));
  const all = Array.from({ length: wanted }, (_, n) => keys.uploadIds(org, project, uploadId, n));
  const found = new Map(
    (await batchGetAll(doc, table, all, { consistent: true, projection: 'pk, ids' })).map((item) => [String(item.pk), splitIds(item.ids)]),
  );
  const ids = all.flatMap((k) => found.get(k.pk) ?? []);
  return ids.length > limit ? ids.slice(0, limit) : ids;
}

function splitIds(v: unknown): string[] {
  return typeof v === 'string' && v !== '' ? v.split(',') : [];
}
