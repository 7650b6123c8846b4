import { presignUpload } from '../domain/uploads/presign-upload.js';
import { PresignRequest } from '../domain/uploads/upload-request.js';
import { httpHandler, json, parseJsonBody, projectScope } from '../shared/http.js';
import { uploadUrlSigner } from '../shared/services.js';

/**
 * POST /api/v1/organizations/{organizationId}/projects/{projectId}/traces/upload
 * body {filename, type, size}: a presigned S3 PUT URL for the file, valid
 * 15 minutes, bound to its key, content type and size.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const request = parseJsonBody(PresignRequest, event);
  const upload = await presignUpload(uploadUrlSigner(), tenant, request);
  return json(200, {
    organization_id: upload.organizationId,
    project_id: upload.projectId,
    url: upload.url,
    upload_key: upload.key,
    expires_at: upload.expiresAt,
    headers: upload.headers,
  });
});
