import type { UploadUrlSigner } from '../../domain/uploads/presign-upload.js';
import { s3With, type S3ClientSource } from './lazy-sdk.js';

/** The headers every upload URL is signed over (besides host): the PUT must send exactly these values. */
export const SIGNED_UPLOAD_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length']);

/** Presigned S3 PUT URLs (SigV4, query-string auth). The URL carries the signer's own permissions. */
export class S3UploadUrlSigner implements UploadUrlSigner {
  constructor(
    private readonly s3: S3ClientSource,
    private readonly bucket: string,
  ) {}

  async presignPut(input: { key: string; contentType: string; contentLength: number; expiresInSeconds: number }): Promise<string> {
    const { sdk, client } = await s3With(this.s3);
    return sdk.getSignedUrl(
      client,
      new sdk.PutObjectCommand({ Bucket: this.bucket, Key: input.key, ContentType: input.contentType, ContentLength: input.contentLength }),
      { expiresIn: input.expiresInSeconds, signableHeaders: new Set(SIGNED_UPLOAD_HEADERS) },
    );
  }
}
