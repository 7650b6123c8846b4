import { newApiKey, newId, sha256Hex } from './ids.js';
import type { TenantDirectory } from './ports.js';

export interface Organization {
  id: string;
  name: string;
  createdAt: string;
}

export interface Project {
  id: string;
  organizationId: string;
  name: string;
  createdAt: string;
}

/** What an API key lets its holder reach: one project of one organization. */
export interface Tenant {
  organizationId: string;
  projectId: string;
}

export interface TenantStore extends TenantDirectory {
  getOrganization(id: string): Promise<Organization | null>;
  getProject(organizationId: string, projectId: string): Promise<Project | null>;
  /** Get-or-create by name; concurrent callers get the same organization. */
  ensureOrganization(name: string, newIdValue: string): Promise<Organization>;
  ensureProject(organizationId: string, name: string, newIdValue: string): Promise<Project>;
  storeApiKey(hash: string, tenant: Tenant, createdAt: string): Promise<void>;
  resolveApiKey(hash: string): Promise<Tenant | null>;
}

export function hashApiKey(apiKey: string): string {
  return sha256Hex(apiKey);
}

/**
 * Creates (or reuses, by name) an organization and project and a new API key
 * for them. The key is answered once and stored only as its SHA-256 hash.
 */
export async function createApiKey(
  store: TenantStore,
  names: { organization: string; project: string },
): Promise<{ apiKey: string; organizationId: string; projectId: string }> {
  const org = await store.ensureOrganization(names.organization, newId());
  const project = await store.ensureProject(org.id, names.project, newId());
  const apiKey = newApiKey();
  await store.storeApiKey(hashApiKey(apiKey), { organizationId: org.id, projectId: project.id }, new Date().toISOString());
  return { apiKey, organizationId: org.id, projectId: project.id };
}

/** The tenant an API key belongs to, or null for a missing, malformed or unknown key. */
export async function authenticate(store: Pick<TenantStore, 'resolveApiKey'>, apiKey: string | undefined): Promise<Tenant | null> {
  if (!apiKey || apiKey.length > 512) return null;
  return store.resolveApiKey(hashApiKey(apiKey));
}
