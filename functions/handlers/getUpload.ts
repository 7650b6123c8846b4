import { readUpload } from '../domain/uploads/create-traces.js';
import { HttpError, httpHandler, json, pathParam, projectScope } from '../shared/http.js';
import { uploadStore } from '../shared/services.js';

/** Upload ids are UUID-shaped; anything else cannot exist. */
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * GET /api/v1/organizations/{organizationId}/projects/{projectId}/uploads/{uploadId}:
 * the upload record (status, counts, per-line errors, timings), and its trace
 * ids once completed. Another tenant's upload is a 404.
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const uploadId = pathParam(event, 'uploadId');
  const found = UPLOAD_ID.test(uploadId) ? await readUpload(uploadStore(), tenant, uploadId) : null;
  if (!found) throw new HttpError(404, 'not_found', `no upload ${JSON.stringify(uploadId)} in this project`);
  const u = found.upload;
  return json(200, {
    upload_id: u.uploadId,
    organization_id: u.organizationId,
    project_id: u.projectId,
    status: u.status,
    filename: u.filename,
    source: u.source,
    size: u.size,
    records: u.records,
    traces: u.traces,
    new_traces: u.newTraces,
    error_count: u.errorCount,
    errors: u.errors,
    reason: u.reason,
    last_error: u.lastError,
    attempts: u.attempts,
    created_at: u.createdAt,
    started_at: u.startedAt,
    completed_at: u.completedAt,
    duration_ms: u.durationMs,
    ...(found.traceIds ? { trace_ids: found.traceIds } : {}),
    ...(found.idsTruncated ? { trace_ids_truncated: true } : {}),
  });
});
