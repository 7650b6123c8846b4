import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { lookupKey, type ApiKeyState, type Tenant, type TenantStore } from '../domain/tenancy.js';
import { config } from '../shared/config.js';
import { apiKeyOf, type RevokedKeyContext } from '../shared/http.js';
import { tenantStore } from '../shared/services.js';
import { TtlCache } from '../shared/ttl-cache.js';

/**
 * Resolved keys, per warm container: API Gateway's own cache cannot be used
 * (it needs one mandatory identity header, and keys come as `x-api-key` or
 * `Authorization: Bearer`). Only active keys are kept, for AUTHORIZER_CACHE_TTL_MS (a minute), so
 * a revoked key stops working within a minute.
 */
let resolved: TtlCache<Tenant> | undefined;

const cachedStore: Pick<TenantStore, 'lookupApiKey'> = {
  lookupApiKey: async (hash): Promise<ApiKeyState | null> => {
    const ttl = config().AUTHORIZER_CACHE_TTL_MS;
    if (ttl === 0) return tenantStore().lookupApiKey(hash);
    resolved ??= new TtlCache<Tenant>(ttl, 10_000);
    const hit = resolved.get(hash);
    if (hit) return { status: 'active', tenant: hit };
    const state = await tenantStore().lookupApiKey(hash);
    if (state?.status === 'active') resolved.set(hash, state.tenant);
    return state;
  },
};

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
  const state = await lookupKey(cachedStore, apiKeyOf(event.headers));
  if (state?.status === 'active') return { isAuthorized: true, context: state.tenant };
  if (state?.status === 'revoked') return { isAuthorized: true, context: { revokedAt: state.revokedAt } };
  return { isAuthorized: false, context: {} };
};
