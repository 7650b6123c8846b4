import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import type { Tenant } from '../domain/tenancy.js';
import { keyStateOf } from '../shared/api-key-auth.js';
import type { RevokedKeyContext } from '../shared/http.js';

/**
 * API Gateway HTTP API Lambda REQUEST authorizer (simple responses): resolves
 * `x-api-key` (or `Authorization: Bearer <key>`) to the caller's organization
 * and project. A missing or unknown key is denied (the gateway answers 403
 * `{"message":"Forbidden"}`). A revoked key is let through with no tenant, only
 * its revocation time, so the route can say it was revoked (401 `api_key_revoked`,
 * from tenantOf) rather than the gateway's bare "Forbidden": a revoked key reaches
 * no data, only that answer. The local server calls this same function.
 */
export const handler = async (
  event: Pick<APIGatewayRequestAuthorizerEventV2, 'headers'>,
): Promise<APIGatewaySimpleAuthorizerWithContextResult<Tenant | RevokedKeyContext | Record<string, never>>> => {
  const state = await keyStateOf(event.headers);
  if (state?.status === 'active') return { isAuthorized: true, context: state.tenant };
  if (state?.status === 'revoked') return { isAuthorized: true, context: { revokedAt: state.revokedAt } };
  return { isAuthorized: false, context: {} };
};
