import { createTraces } from '../domain/uploads/create-traces.js';
import { CreateTracesRequest } from '../domain/uploads/upload-request.js';
import { HttpError, httpHandler, json, parseJsonBody, projectScope } from '../shared/http.js';
import { createTracesDeps } from '../shared/services.js';

/**
 * POST /api/v1/organizations/{organizationId}/projects/{projectId}/traces
 * body {"filename"}: the traces made from the latest upload of that file,
 * ingesting it on the spot if the queue has not yet (see createTraces).
 */
export const handler = httpHandler(async (event) => {
  const tenant = projectScope(event);
  const { filename } = parseJsonBody(CreateTracesRequest, event);
  const project = `/api/v1/organizations/${encodeURIComponent(tenant.organizationId)}/projects/${encodeURIComponent(tenant.projectId)}`;
  const result = await createTraces(createTracesDeps(), tenant, filename);
  switch (result.status) {
    case 'completed': {
      const u = result.upload;
      return json(200, {
        trace_ids: result.traceIds,
        upload_id: u.uploadId,
        status: 'completed',
        records: u.records,
        new_traces: u.newTraces,
        errors: u.errors,
        error_count: u.errorCount,
        ...(result.idsTruncated ? { trace_ids_truncated: true, trace_count: u.traces } : {}),
      });
    }
    case 'no-valid-records': {
      const u = result.upload;
      return json(422, {
        error: {
          code: 'no_valid_records',
          message: `${JSON.stringify(filename)} has no valid record (${u.errorCount} bad of ${u.records}); see errors`,
        },
        errors: u.errors,
        error_count: u.errorCount,
        upload_id: u.uploadId,
      });
    }
    case 'failed':
      return json(422, { error: { code: 'upload_failed', message: result.reason }, upload_id: result.upload.uploadId, status: 'failed' });
    case 'processing': {
      const poll = `${project}/uploads/${encodeURIComponent(result.uploadId)}`;
      return json(
        202,
        {
          status: 'processing',
          upload_id: result.uploadId,
          trace_ids: result.traceIds,
          errors: [],
          poll,
          ...(result.idsTruncated ? { trace_ids_truncated: true } : {}),
        },
        { location: poll, 'retry-after': '2' },
      );
    }
    case 'not-found':
      throw new HttpError(
        404,
        'not_found',
        `no upload named ${JSON.stringify(filename)}; PUT the file to the URL from POST ${project}/traces/upload first`,
      );
    case 'replaced':
      throw new HttpError(
        409,
        'conflict',
        `${JSON.stringify(filename)} was replaced or deleted while it was being ingested; call create again`,
      );
  }
});
