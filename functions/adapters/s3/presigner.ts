import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { UploadUrlSigner } from '../../domain/uploads/presign-upload.js';
import { config } from '../../shared/config.js';

/** The headers every upload URL is signed over (besides host): the PUT must send exactly these values. */
export const SIGNED_UPLOAD_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length']);

/** Presigned S3 PUT URLs (SigV4, query-string auth). The URL carries the signer's own permissions. */
export class S3UploadUrlSigner implements UploadUrlSigner {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async presignPut(input: { key: string; contentType: string; contentLength: number; expiresInSeconds: number }): Promise<string> {
    return getSignedUrl(
      this.s3,
      new PutObjectCommand({ Bucket: this.bucket, Key: input.key, ContentType: input.contentType, ContentLength: input.contentLength }),
      { expiresIn: input.expiresInSeconds, signableHeaders: new Set(SIGNED_UPLOAD_HEADERS) },
    );
  }
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
  const endpoint = c.S3_PUBLIC_ENDPOINT ?? c.AWS_ENDPOINT_URL_S3;
  presignClient ??= new S3Client({
    region: c.AWS_REGION,
    forcePathStyle: c.S3_FORCE_PATH_STYLE,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(endpoint ? { endpoint } : {}),
  });
  return presignClient;
}
