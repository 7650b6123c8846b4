import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ExportPart, ExportStorage } from '../../domain/jobs.js';
import { EXPORTS_PREFIX } from '../../domain/layout.js';


/** Exports under exports/ of the trace bucket: multipart uploads, carry objects, presigned downloads. */
export class S3ExportStorage implements ExportStorage {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    /** Signs download URLs against the endpoint callers reach (presigner.ts's client). */
    private readonly presigner: () => S3Client = () => s3,
  ) {}

  private check(key: string): string {
    if (!key.startsWith(EXPORTS_PREFIX)) throw new Error(`refusing ${key}: not under ${EXPORTS_PREFIX}`);
    return key;
  }

  async createUpload(key: string): Promise<string> {
    const out = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.check(key), ContentType: 'application/x-ndjson' }));
    return out.UploadId!;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const out = await this.s3.send(new UploadPartCommand({ Bucket: this.bucket, Key: this.check(key), UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }));
    return out.ETag!;
  }

  async completeUpload(key: string, uploadId: string, parts: readonly ExportPart[]): Promise<void> {
    try {
      await this.s3.send(
        new CompleteMultipartUploadCommand({
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
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  }

  async putObject(key: string, body: Buffer): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.check(key), Body: body, ContentType: 'application/x-ndjson' }));
  }

  async getObject(key: string): Promise<Buffer> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.check(key) }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async downloadUrl(key: string, filename: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(
      this.presigner(),
      new GetObjectCommand({ Bucket: this.bucket, Key: this.check(key), ResponseContentDisposition: `attachment; filename="${filename}"`, ResponseContentType: 'application/x-ndjson' }),
      { expiresIn: expiresInSeconds },
    );
  }
}
