import { s3With, type S3ClientSource } from './lazy-sdk.js';
import type { ExportPart, ExportStorage } from '../../domain/jobs.js';
import { EXPORTS_PREFIX } from '../../domain/layout.js';

/** Exports under exports/ of the trace bucket: multipart uploads, carry objects, presigned downloads. */
export class S3ExportStorage implements ExportStorage {
  constructor(
    private readonly s3: S3ClientSource,
    private readonly bucket: string,
    /** Signs download URLs against the endpoint callers reach (s3-sdk.ts presignS3Client). */
    private readonly presigner: S3ClientSource = s3,
  ) {}

  private check(key: string): string {
    if (!key.startsWith(EXPORTS_PREFIX)) throw new Error(`refusing ${key}: not under ${EXPORTS_PREFIX}`);
    return key;
  }

  async createUpload(key: string): Promise<string> {
    const { sdk, client } = await s3With(this.s3);
    const out = await client.send(
      new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.check(key), ContentType: 'application/x-ndjson' }),
    );
    return out.UploadId!;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const { sdk, client } = await s3With(this.s3);
    const out = await client.send(
      new sdk.UploadPartCommand({
        Bucket: this.bucket,
        Key: this.check(key),
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      }),
    );
    return out.ETag!;
  }

  async completeUpload(key: string, uploadId: string, parts: readonly ExportPart[]): Promise<void> {
    const { sdk, client } = await s3With(this.s3);
    try {
      await client.send(
        new sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.check(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.number, ETag: p.etag })) },
        }),
      );
    } catch (err) {
      // Completed before (a step run again after a crash past the completion): the object is there.
      if ((err as { name?: string }).name === 'NoSuchUpload' && (await this.exists(key))) return;
      throw err;
    }
  }

  private async exists(key: string): Promise<boolean> {
    const { sdk, client } = await s3With(this.s3);
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  }

  async putObject(key: string, body: Buffer): Promise<void> {
    const { sdk, client } = await s3With(this.s3);
    await client.send(
      new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.check(key), Body: body, ContentType: 'application/x-ndjson' }),
    );
  }

  async getObject(key: string): Promise<Buffer> {
    const { sdk, client } = await s3With(this.s3);
    const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.check(key) }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async downloadUrl(key: string, filename: string, expiresInSeconds: number): Promise<string> {
    const { sdk, client } = await s3With(this.presigner);
    return sdk.getSignedUrl(
      client,
      new sdk.GetObjectCommand({
        Bucket: this.bucket,
        Key: this.check(key),
        ResponseContentDisposition: `attachment; filename="${filename}"`,
        ResponseContentType: 'application/x-ndjson',
      }),
      { expiresIn: expiresInSeconds },
    );
  }
}
