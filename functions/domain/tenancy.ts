import { newApiKey, newId, sha256Hex } from './ids.js';
import type { TenantDirectory } from './ports.js';
import { DomainError } from './errors.js';

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

/** A key about to be stored: its hash (never the key itself), its display prefix and what it reaches. */
export interface NewApiKey extends Tenant {
  hash: string;
  prefix: string;
  createdAt: string;
}

/** What is kept about a key, and all that is ever shown of it after creation. */
export interface ApiKeyRecord extends Tenant {
  /** The public handle: the first 16 hex characters of the key's SHA-256 hash. */
  keyId: string;
  /** The key's first 8 characters (`tik_` and 4 more), to recognise it by. */
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A key as `listApiKeys` answers it, with the names of its organization and project. */
export interface ApiKeyInfo extends ApiKeyRecord {
  organizationName: string;
  projectName: string | null;
}

export interface TenantStore extends TenantDirectory {
  getOrganization(id: string): Promise<Organization | null>;
  findOrganizationByName(name: string): Promise<Organization | null>;
  /** Every organization (from an index item per organization, never a table scan). */
  listOrganizations(): Promise<Organization[]>;
  getProject(organizationId: string, projectId: string): Promise<Project | null>;
  /** The projects of one organization. */
  listProjects(organizationId: string): Promise<Project[]>;
  /** Get-or-create by name; concurrent callers get the same organization. */
  ensureOrganization(name: string, newIdValue: string): Promise<Organization>;
  ensureProject(organizationId: string, name: string, newIdValue: string): Promise<Project>;
  /** Stores the key's lookup item, its listing item under the organization and its key-id item, all at once. */
  storeApiKey(key: NewApiKey): Promise<void>;
  resolveApiKey(hash: string): Promise<Tenant | null>;
  /** What the key's lookup item says, in one read: its tenant while active, when it was revoked, or null for no such key. */
  lookupApiKey(hash: string): Promise<ApiKeyState | null>;
  /** The keys of one organization, revoked ones included. */
  listApiKeys(organizationId: string): Promise<ApiKeyRecord[]>;
  /** The hash of the key with this key id, or null if there is none. */
  findApiKeyHash(keyId: string): Promise<string | null>;
  /**
   * Marks the key revoked (it no longer authenticates). Null for an unknown
   * hash; a key revoked before keeps its first `revokedAt`.
   */
  revokeApiKey(hash: string, revokedAt: string): Promise<ApiKeyRecord | null>;
}

export function hashApiKey(apiKey: string): string {
  return sha256Hex(apiKey);
}

const KEY_ID_LENGTH = 16;
const PREFIX_LENGTH = 8;
const KEY_ID = /^[0-9a-f]{16}$/i;

/** A key's public handle, from its hash. */
export function apiKeyId(hash: string): string {
  return hash.slice(0, KEY_ID_LENGTH);
}

/** What of a key may be displayed: its first 8 characters. */
export function apiKeyPrefix(apiKey: string): string {
  return apiKey.slice(0, PREFIX_LENGTH);
}

/** A key id (16 hex characters) rather than a key (keys start with `tik_`). */
export function isApiKeyId(value: string): boolean {
  return KEY_ID.test(value);
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
  await store.storeApiKey({
    hash: hashApiKey(apiKey),
    prefix: apiKeyPrefix(apiKey),
    organizationId: org.id,
    projectId: project.id,
    createdAt: new Date().toISOString(),
  });
  return { apiKey, organizationId: org.id, projectId: project.id };
}

/** An API key as the authorizer finds it. */
export type ApiKeyState = { status: 'active'; tenant: Tenant } | { status: 'revoked'; revokedAt: string };

/** A key's state, or null for a missing, malformed or unknown key (one read). */
export async function lookupKey(store: Pick<TenantStore, 'lookupApiKey'>, apiKey: string | undefined): Promise<ApiKeyState | null> {
  if (!apiKey || apiKey.length > 512) return null;
  return store.lookupApiKey(hashApiKey(apiKey));
}

/** The tenant an API key belongs to, or null for a missing, malformed or unknown key. */
export async function authenticate(store: Pick<TenantStore, 'resolveApiKey'>, apiKey: string | undefined): Promise<Tenant | null> {
  if (!apiKey || apiKey.length > 512) return null;
  return store.resolveApiKey(hashApiKey(apiKey));
}

/** `listApiKeys` was asked for an organization that does not exist. */
export class UnknownOrganizationError extends DomainError<'not_found'> {
  constructor(readonly organization: string) {
    super('not_found', `no organization named ${JSON.stringify(organization)}`);
  }
}

/**
 * The keys of one organization (by name) or of every organization, oldest
 * first, revoked ones included. Never the key, never its full hash.
 */
export async function listApiKeys(store: TenantStore, filter: { organization?: string | undefined } = {}): Promise<ApiKeyInfo[]> {
  let organizations: Organization[];
  if (filter.organization !== undefined) {
    const org = await store.findOrganizationByName(filter.organization);
    if (!org) throw new UnknownOrganizationError(filter.organization);
    organizations = [org];
  } else {
    organizations = await store.listOrganizations();
  }
  const projectNames = new Map<string, Promise<string | null>>();
  const projectName = (organizationId: string, projectId: string) => {
    const id = `${organizationId}/${projectId}`;
    let name = projectNames.get(id);
    if (!name) {
      name = store.getProject(organizationId, projectId).then((p) => p?.name ?? null);
      projectNames.set(id, name);
    }
    return name;
  };
  const perOrganization = await Promise.all(
    organizations.map(async (org) => {
      const records = await store.listApiKeys(org.id);
      return Promise.all(
        records.map(
          async (r): Promise<ApiKeyInfo> => ({ ...r, organizationName: org.name, projectName: await projectName(org.id, r.projectId) }),
        ),
      );
    }),
  );
  return perOrganization
    .flat()
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
}

/**
 * Revokes a key, named by its key id or by the key itself. Null when no such
 * key exists. Revoking again is harmless and answers the first revocation time.
 */
export async function revokeApiKey(
  store: TenantStore,
  keyIdOrKey: string,
  now: Date = new Date(),
): Promise<{ keyId: string; revokedAt: string } | null> {
  const hash = isApiKeyId(keyIdOrKey) ? await store.findApiKeyHash(keyIdOrKey.toLowerCase()) : hashApiKey(keyIdOrKey);
  if (!hash) return null;
  const revoked = await store.revokeApiKey(hash, now.toISOString());
  return revoked ? { keyId: revoked.keyId, revokedAt: revoked.revokedAt ?? now.toISOString() } : null;
}
