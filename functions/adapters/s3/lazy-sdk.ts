import type { S3Client } from '@aws-sdk/client-s3';

/** The S3 SDK module (s3-sdk.ts), loaded once, on the first S3 call. */
export type S3Sdk = typeof import('./s3-sdk.js');

/** An adapter's client: a client given as is (tests), or picked from the SDK once it is loaded (the functions' own). */
export type S3ClientSource = S3Client | ((sdk: S3Sdk) => S3Client);

let sdk: Promise<S3Sdk> | undefined;

export function s3Sdk(): Promise<S3Sdk> {
  sdk ??= import('./s3-sdk.js');
  return sdk;
}

/** The SDK and the client to send with. */
export async function s3With(source: S3ClientSource): Promise<{ sdk: S3Sdk; client: S3Client }> {
  const loaded = await s3Sdk();
  return { sdk: loaded, client: typeof source === 'function' ? source(loaded) : source };
}

/** The functions' own clients (s3-sdk.ts), for the adapters' constructors. */
export const functionsS3: S3ClientSource = (loaded) => loaded.s3Client();
export const presignS3: S3ClientSource = (loaded) => loaded.presignS3Client();
