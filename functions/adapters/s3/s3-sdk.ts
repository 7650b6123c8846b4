/**
 * The functions' one static import of the S3 SDK (client, commands, presigner) and their S3
 * clients, built once per module on first use. The adapters load this module with s3Sdk() on their
 * first call, so a function whose requests seldom touch S3 (a trace read, an OTLP export, a list)
 * does not evaluate the S3 client at init; tests and tools import it directly.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { config } from '../../shared/config.js';

export {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
export { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** The SDK's logger middleware runs its sensitive-data filter over every request even without a logger (clients.ts). */
function withoutLogger<T extends { middlewareStack: { remove(name: string): boolean } }>(client: T): T {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

let s3: S3Client | undefined;

/** The functions' S3 client (as configured by s3Options). */
export function s3Client(): S3Client {
  s3 ??= withoutLogger(new S3Client(s3Options(config())));
  return s3;
}

let presignClient: S3Client | undefined;

/**
 * The S3 client that signs upload URLs, built once per module. Its endpoint
 * is the one callers can reach: S3_PUBLIC_ENDPOINT when set (a local stack
 * behind another host name), else AWS_ENDPOINT_URL_S3, else AWS's own. No
 * checksum is computed up front: a presigned URL must not bind a body the
 * signer has never seen.
 */
export function presignS3Client(): S3Client {
  const c = config();
  presignClient ??= new S3Client(s3Options({ ...c, AWS_ENDPOINT_URL_S3: c.S3_PUBLIC_ENDPOINT ?? c.AWS_ENDPOINT_URL_S3 }));
  return presignClient;
}

function s3Options(c: Pick<ReturnType<typeof config>, 'AWS_REGION' | 'S3_FORCE_PATH_STYLE' | 'AWS_ENDPOINT_URL_S3'>): S3ClientConfig {
  return {
    region: c.AWS_REGION,
    forcePathStyle: c.S3_FORCE_PATH_STYLE,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(c.AWS_ENDPOINT_URL_S3 ? { endpoint: c.AWS_ENDPOINT_URL_S3 } : {}),
  };
}
