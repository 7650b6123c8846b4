/**
 * The schemas the SDK validates with: the server's own request schemas, and
 * the answer schemas of the shared wire contract (functions/domain/wire.ts).
 */
export { ListQuerySchema } from '../functions/domain/list-query.js';
export { PresignRequest, CreateTracesRequest } from '../functions/domain/uploads/upload-request.js';
export { TraceLogFilter } from '../functions/domain/parea/filter.js';
export * from '../functions/domain/wire.js';
