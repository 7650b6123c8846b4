/**
 * `trace-ingest drop <files...>`: puts files into the S3 drop folder, then
 * waits for the pipeline to ingest each one and reports it. The S3 target is
 * the local stack (its local-stack.json) unless `--bucket` names a bucket,
 * which is then reached with the AWS environment's credentials and region.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { uploadId as deriveUploadId } from '../functions/domain/ids.js';
import { TraceIngestError, type TraceIngestClient } from '../sdk/index.js';

export interface DropOptions {
  bucket?: string | undefined;
  prefix?: string | undefined;
  timeoutMs: number;
  env: Record<string, string | undefined>;
}

export interface DropResult {
  file: string;
  key: string;
  uploadId: string;
  status: string;
  traces: number;
  errorCount: number;
  errors: Array<{ line: number; message: string }>;
  reason: string | null;
}

interface Target {
  s3: S3Client;
  bucket: string;
}

/** The local stack's S3 (s3rver), or a real bucket through the AWS environment. */
function target(o: DropOptions): Target {
  if (o.bucket) return { s3: new S3Client({}), bucket: o.bucket };
  const file = join(resolve(o.env.DATA_DIR?.trim() || '.data'), 'local-stack.json');
  if (!existsSync(file)) {
    throw new TraceIngestError(0, 'not_configured', `no --bucket and no ${file}: start the local stack (npm start) or name the bucket`);
  }
  const info = JSON.parse(readFileSync(file, 'utf8')) as { s3Endpoint: string; bucket: string; region: string; s3AccessKeyId: string; s3SecretAccessKey: string };
  return {
    bucket: info.bucket,
    s3: new S3Client({
      endpoint: info.s3Endpoint,
      region: info.region,
      forcePathStyle: true,
      credentials: { accessKeyId: info.s3AccessKeyId, secretAccessKey: info.s3SecretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  };
}

/** Drops each file and waits for its upload record to complete or fail (or the timeout). */
export async function dropFiles(client: TraceIngestClient, files: string[], o: DropOptions, onResult: (r: DropResult) => void): Promise<void> {
  const { s3, bucket } = target(o);
  const tenant = await client.tenant();
  const prefix = o.prefix ?? `drop/${tenant.organizationId}/${tenant.projectId}/`;
  if (!prefix.startsWith(`drop/${tenant.organizationId}/${tenant.projectId}/`)) {
    throw new TraceIngestError(0, 'invalid_request', `--prefix must be under drop/${tenant.organizationId}/${tenant.projectId}/ (the key's project)`);
  }
  for (const file of files) {
    const key = `${prefix}${basename(file)}`;
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size }),
    );
    // The same id the worker gives this object version (see ingestObject).
    const version = put.VersionId && put.VersionId !== 'null' ? put.VersionId : (put.ETag ?? '').replace(/"/g, '');
    const id = deriveUploadId({ organizationId: tenant.organizationId, projectId: tenant.projectId, objectKey: key, version });
    onResult(await waitFor(client, file, key, id, o.timeoutMs));
  }
}

async function waitFor(client: TraceIngestClient, file: string, key: string, uploadId: string, timeoutMs: number): Promise<DropResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const u = await client.uploads.get(uploadId);
      if (u.status === 'completed' || u.status === 'failed' || Date.now() > deadline) {
        return {
          file,
          key,
          uploadId,
          status: u.status === 'completed' || u.status === 'failed' ? u.status : 'timed out',
          traces: u.traces ?? 0,
          errorCount: u.error_count ?? 0,
          errors: u.errors ?? [],
          reason: u.reason ?? u.last_error ?? null,
        };
      }
    } catch (e) {
      // 404: the worker has not recorded the upload yet.
      if (!(e instanceof TraceIngestError && e.status === 404)) throw e;
      if (Date.now() > deadline) return { file, key, uploadId, status: 'timed out', traces: 0, errorCount: 0, errors: [], reason: 'no upload record yet' };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
