/**
 * `trace-ingest drop <files...>`: puts files into the S3 drop folder, then
 * waits for the pipeline to ingest each one and reports it. The S3 target is
 * the local stack (its local-stack.json) unless `--bucket` names a bucket,
 * which is then reached with the AWS environment's credentials and region.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { uploadId as deriveUploadId } from '../functions/domain/ids.js';
import { MAX_FILE_BYTES } from '../functions/domain/limits.js';
import { parserFor } from '../functions/domain/parse/index.js';
import { findLocalStackFile, TraceIngestError, type TraceIngestClient, type UploadStatus } from '../sdk/index.js';

export interface DropOptions {
  bucket?: string | undefined;
  prefix?: string | undefined;
  timeoutMs: number;
  env: Record<string, string | undefined>;
  /** How often the upload record is read while waiting (default 300 ms). */
  pollMs?: number;
}

export interface DropResult {
  file: string;
  /** Null when the file was refused before anything was sent. */
  key: string | null;
  uploadId: string | null;
  /** `completed`, `failed`, `timed out` (the ingest goes on), or `refused` (not sent: no such file, wrong type, too big). */
  status: string;
  traces: number;
  /** Of traces, those this upload stored (the rest an earlier upload of identical content had stored); null when unknown. */
  newTraces: number | null;
  errorCount: number;
  errors: Array<{ line: number; message: string }>;
  reason: string | null;
}

/** What the wait sees of a file in the pipeline: its upload record, or null before the worker has made one. */
export type DropProgress = (file: string, upload: UploadStatus | null) => void;

interface Target {
  s3: S3Client;
  bucket: string;
}

/** The local stack's S3 (s3rver), or a real bucket through the AWS environment. */
function target(o: DropOptions): Target {
  if (o.bucket) return { s3: new S3Client({}), bucket: o.bucket };
  const file = findLocalStackFile(o.env);
  if (file === null) {
    const where = o.env.DATA_DIR?.trim()
      ? `${o.env.DATA_DIR.trim()}/local-stack.json`
      : '.data/local-stack.json (here or in a folder above)';
    throw new TraceIngestError(0, 'not_configured', `no --bucket and no ${where}: start the local stack (npm start) or name the bucket`);
  }
  const info = JSON.parse(readFileSync(file, 'utf8')) as {
    s3Endpoint: string;
    bucket: string;
    region: string;
    s3AccessKeyId: string;
    s3SecretAccessKey: string;
  };
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

/** Why the pipeline would refuse this file, found before sending it (the worker's own rules): null when it would not. */
function refusalOf(file: string): { size: number } | string {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) return `is a directory: ${file}`;
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no such file: ${file}` : code === 'EACCES' ? `permission denied: ${file}` : String(err);
  }
  if (parserFor(basename(file)) === null) return `unsupported file type: ${JSON.stringify(basename(file))} must end in .json or .jsonl`;
  if (size > MAX_FILE_BYTES) return `file is ${size} bytes; the limit is ${MAX_FILE_BYTES} bytes (50 MiB)`;
  return { size };
}

/**
 * Drops each file and waits for its upload record to complete or fail (or the timeout). A file the
 * pipeline would refuse (missing, another type, over 50 MiB) is reported as refused and never sent.
 */
export async function dropFiles(
  client: TraceIngestClient,
  files: string[],
  o: DropOptions,
  onResult: (r: DropResult) => void,
  onProgress: DropProgress = () => {},
): Promise<void> {
  const { s3, bucket } = target(o);
  const tenant = await client.tenant();
  const prefix = o.prefix ?? `drop/${tenant.organizationId}/${tenant.projectId}/`;
  if (!prefix.startsWith(`drop/${tenant.organizationId}/${tenant.projectId}/`)) {
    throw new TraceIngestError(
      0,
      'invalid_request',
      `--prefix must be under drop/${tenant.organizationId}/${tenant.projectId}/ (the key's project)`,
    );
  }
  try {
    for (const file of files) {
      const checked = refusalOf(file);
      if (typeof checked === 'string') {
        onResult({
          file,
          key: null,
          uploadId: null,
          status: 'refused',
          traces: 0,
          newTraces: null,
          errorCount: 0,
          errors: [],
          reason: checked,
        });
        continue;
      }
      const key = `${prefix}${basename(file)}`;
      const put = await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: checked.size }),
      );
      // The same id the worker gives this object version (see ingestObject).
      const version = put.VersionId && put.VersionId !== 'null' ? put.VersionId : (put.ETag ?? '').replace(/"/g, '');
      const id = deriveUploadId({ organizationId: tenant.organizationId, projectId: tenant.projectId, objectKey: key, version });
      onResult(await waitFor(client, file, key, id, o, onProgress));
    }
  } finally {
    s3.destroy();
  }
}

async function waitFor(
  client: TraceIngestClient,
  file: string,
  key: string,
  uploadId: string,
  o: DropOptions,
  onProgress: DropProgress,
): Promise<DropResult> {
  const deadline = Date.now() + o.timeoutMs;
  const seconds = Math.round(o.timeoutMs / 1000);
  const follow = `the ingest goes on: follow it with "trace-ingest status ${uploadId}"`;
  for (;;) {
    let u: UploadStatus | null = null;
    try {
      u = await client.uploads.get(uploadId);
    } catch (e) {
      // 404: the worker has not recorded the upload yet.
      if (!(e instanceof TraceIngestError && e.status === 404)) throw e;
    }
    const settled = u !== null && (u.status === 'completed' || u.status === 'failed');
    if (settled || Date.now() > deadline) {
      return {
        file,
        key,
        uploadId,
        status: settled ? u!.status : 'timed out',
        traces: u?.traces ?? 0,
        newTraces: u?.new_traces ?? null,
        errorCount: u?.error_count ?? 0,
        errors: u?.errors ?? [],
        reason: settled
          ? (u!.reason ?? u!.last_error ?? null)
          : u === null
            ? `the worker has not picked it up after ${seconds} s; ${follow}`
            : `still ${u.status} after ${seconds} s (${u.records ?? 0} records so far); ${follow}`,
      };
    }
    onProgress(file, u);
    await sleep(o.pollMs ?? 300);
  }
}
