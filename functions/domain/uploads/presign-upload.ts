import type { Tenant } from '../tenancy.js';
import { uploadObjectKey, type PresignRequest } from './upload-request.js';

/** How long a presigned upload URL stays valid: 15 minutes, never more. */
export const UPLOAD_URL_TTL_SECONDS = 900;

/** Signs a URL that lets its holder PUT one object, and nothing else. */
export interface UploadUrlSigner {
  /**
   * A URL for `PUT <key>` that is valid for `expiresInSeconds` and binds the
   * request's Content-Type and Content-Length to the values given.
   */
  presignPut(input: { key: string; contentType: string; contentLength: number; expiresInSeconds: number }): Promise<string>;
}

export interface PresignedUpload {
  organizationId: string;
  projectId: string;
  url: string;
  /** The object key the URL writes. */
  key: string;
  expiresAt: string;
  /** The headers the PUT must carry (exactly these values). */
  headers: { 'Content-Type': string };
}

/** A presigned PUT for a trace file into the tenant's uploads folder. */
export async function presignUpload(
  signer: UploadUrlSigner,
  tenant: Tenant,
  request: PresignRequest,
  now: () => number = Date.now,
): Promise<PresignedUpload> {
  const key = uploadObjectKey(tenant, request.filename);
  const issuedAt = now();
  const url = await signer.presignPut({
    key,
    contentType: request.type,
    contentLength: request.size,
    expiresInSeconds: UPLOAD_URL_TTL_SECONDS,
  });
  return {
    organizationId: tenant.organizationId,
    projectId: tenant.projectId,
    url,
    key,
    expiresAt: new Date(issuedAt + UPLOAD_URL_TTL_SECONDS * 1000).toISOString(),
    headers: { 'Content-Type': request.type },
  };
}
