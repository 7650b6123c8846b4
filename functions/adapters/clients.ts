import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { config } from '../shared/config.js';

/** AWS clients, built once per module (per Lambda container) on first use. */
let dynamo: DynamoDBClient | undefined;
let doc: DynamoDBDocumentClient | undefined;
let s3: S3Client | undefined;

export function dynamoClient(): DynamoDBClient {
  const c = config();
  dynamo ??= new DynamoDBClient({
    region: c.AWS_REGION,
    maxAttempts: 3,
    ...(c.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: c.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  });
  return dynamo;
}

export function documentClient(): DynamoDBDocumentClient {
  doc ??= DynamoDBDocumentClient.from(dynamoClient(), {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
  return doc;
}

export function s3Client(): S3Client {
  const c = config();
  s3 ??= new S3Client({
    region: c.AWS_REGION,
    forcePathStyle: c.S3_FORCE_PATH_STYLE,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(c.AWS_ENDPOINT_URL_S3 ? { endpoint: c.AWS_ENDPOINT_URL_S3 } : {}),
  });
  return s3;
}
