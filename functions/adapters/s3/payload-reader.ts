import { s3With, type S3ClientSource } from './lazy-sdk.js';

/** Reads the documents that were too large for a DynamoDB item (payloads/). */
export class S3PayloadReader {
  constructor(
    private readonly s3: S3ClientSource,
    private readonly bucket: string,
  ) {}

  async read(key: string): Promise<{ input: string | null; document: string }> {
    const { sdk, client } = await s3With(this.s3);
    const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return splitPayload(await out.Body!.transformToString('utf8'));
  }
}

/**
 * The payload body is `{"input":<JSON string or null>,"data":<the document's text>}`
 * (see payloadBody in functions/domain/trace.ts). The document is cut out as
 * text, never re-serialized, so it comes back exactly as uploaded.
 */
export function splitPayload(body: string): { input: string | null; document: string } {
  const parsed = JSON.parse(body) as { input: string | null };
  const head = `{"input":${JSON.stringify(parsed.input)},"data":`;
  if (!body.startsWith(head) || !body.endsWith('}')) throw new Error('payload object is not in the expected form');
  return { input: parsed.input, document: body.slice(head.length, -1) };
}
