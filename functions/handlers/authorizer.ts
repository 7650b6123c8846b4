import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { authenticate, type Tenant, type TenantStore } from '../domain/tenancy.js';
import { config } from '../shared/config.js';
import { apiKeyOf } from '../shared/http.js';
import { tenantStore } from '../shared/services.js';
import { TtlCache } from '../shared/ttl-cache.js';

/**
 * Resolved keys, per warm container: API Gateway's own cache cannot be used
 * (it needs one mandatory identity header, and keys come as `x-api-key` or
 * `Authorization: Bearer`). Only valid keys are kept, for AUTHORIZER_CACHE_TTL_MS (a minute), so
 * a revoked key stops working within a minute.
 */
let resolved: TtlCache<Tenant> | undefined;

const cachedStore: Pick<TenantStore, 'resolveApiKey'> = {
  resolveApiKey: async (hash) => {
    const ttl = config().AUTHORIZER_CACHE_TTL_MS;
    if (ttl === 0) return tenantStore().resolveApiKey(hash);
    resolved ??= new TtlCache<Tenant>(ttl, 10_000);
    const hit = resolved.get(hash);
    if (hit) return hit;
    const tenant = await tenantStore().resolveApiKey(hash);
    if (tenant) resolved.set(hash, tenant);
    return tenant;
  },
};

/**
 * API Gateway HTTP API Lambda REQUEST authorizer (simple responses): resolves
 * `x-api-key` (or `Authorization: Bearer <key>`) to the caller's organization
 * and project. The local server calls this same function.
 */
export const handler = async (
  event: Pick<APIGatewayRequestAuthorizerEventV2, 'headers'>,
): Promise<APIGatewaySimpleAuthorizerWithContextResult<Tenant | Record<string, never>>> => {
  const tenant = await authenticate(cachedStore, apiKeyOf(event.headers));
  return tenant ? { isAuthorized: true, context: tenant } : { isAuthorized: false, context: {} };
};
