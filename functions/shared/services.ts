import { DynamoTenantStore } from '../adapters/dynamo/tenant-store.js';
import { DynamoTraceWriter } from '../adapters/dynamo/trace-writer.js';
import { DynamoUploadStore } from '../adapters/dynamo/upload-store.js';
import { S3ObjectStorage } from '../adapters/s3/object-storage.js';
import { documentClient, dynamoClient, s3Client } from '../adapters/clients.js';
import type { IngestDeps } from '../domain/ingest/ingest-object.js';
import { config } from './config.js';

/** The adapters the handlers use, wired from the environment once per module. */
let tenants: DynamoTenantStore | undefined;
let ingest: IngestDeps | undefined;

export function tenantStore(): DynamoTenantStore {
  tenants ??= new DynamoTenantStore(documentClient(), config().TABLE_NAME);
  return tenants;
}

export function ingestDeps(): IngestDeps {
  if (ingest) return ingest;
  const c = config();
  ingest = {
    storage: new S3ObjectStorage(s3Client(), c.BUCKET_NAME),
    uploads: new DynamoUploadStore(documentClient(), c.TABLE_NAME),
    traces: new DynamoTraceWriter(dynamoClient(), c.TABLE_NAME),
    tenants: tenantStore(),
    writeConcurrency: c.INGEST_WRITE_CONCURRENCY,
    log: (entry) => console.log(JSON.stringify({ level: 'info', ...entry })),
  };
  return ingest;
}
