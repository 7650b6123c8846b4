import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { authenticate, type Tenant } from '../domain/tenancy.js';
import { apiKeyOf } from '../shared/http.js';
import { tenantStore } from '../shared/services.js';

/**
 * API Gateway HTTP API Lambda REQUEST authorizer (simple responses): resolves
 * `x-api-key` (or `Authorization: Bearer <key>`) to the caller's organization
 * and project. The local server calls this same function.
 */
export const handler = async (
  event: Pick<APIGatewayRequestAuthorizerEventV2, 'headers'>,
): Promise<APIGatewaySimpleAuthorizerWithContextResult<Tenant | Record<string, never>>> => {
  const tenant = await authenticate(tenantStore(), apiKeyOf(event.headers));
  return tenant ? { isAuthorized: true, context: tenant } : { isAuthorized: false, context: {} };
};
