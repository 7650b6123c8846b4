import { lookupKey, type ApiKeyState, type Tenant, type TenantStore } from '../domain/tenancy.js';
import { config } from './config.js';
import { apiKeyOf, HttpError, revokedKeyError } from './http.js';
import { tenantStore } from './services.js';
import { TtlCache } from './ttl-cache.js';

/** Resolved active keys, per warm container, for AUTHORIZER_CACHE_TTL_MS (why a minute: env-defaults.ts; why not API Gateway's cache: the authorizer in lib/stateless-stack.ts). */
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

/** The state of the request's key (`x-api-key` or `Authorization: Bearer`): null when it has none or an unknown one. */
export async function keyStateOf(headers: Record<string, string | undefined> | undefined): Promise<ApiKeyState | null> {
  return lookupKey(cachedStore, apiKeyOf(headers));
}

/**
 * The caller's tenant for a route that authenticates itself (auth `apiKeyInRoute` in
 * functions/routes.ts): a missing, unknown or revoked key is a 401 that says which.
 */
export async function tenantOfKey(headers: Record<string, string | undefined> | undefined): Promise<Tenant> {
  const state = await keyStateOf(headers);
  if (state?.status === 'active') return state.tenant;
  if (state?.status === 'revoked') throw revokedKeyError(state.revokedAt);
  if (apiKeyOf(headers) === undefined)
    throw new HttpError(401, 'unauthorized', 'an API key is required: the x-api-key header, or Authorization: Bearer <key>');
  throw new HttpError(401, 'unauthorized', 'this is not an API key of this service');
}
