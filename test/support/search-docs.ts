/** Search documents for the search index's tests: deterministic, one tenant unless told. */
import type { SearchDocument } from '../../functions/domain/search/search-index.js';
import type { Tenant } from '../../functions/domain/tenancy.js';

export const SEARCH_TENANT: Tenant = { organizationId: 'org-s', projectId: 'proj-s' };

export function searchDoc(i: number, text: string, over: Partial<SearchDocument> = {}, tenant: Tenant = SEARCH_TENANT): SearchDocument {
  const createdAt = new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString();
  return {
    id: `doc-${String(i).padStart(6, '0')}`,
    organizationId: tenant.organizationId,
    projectId: tenant.projectId,
    createdAt,
    sortKey: `${createdAt}#u1#${String(i).padStart(10, '0')}`,
    source: 'upload',
    filename: `file-${i % 3}.jsonl`,
    text: text.toLowerCase(),
    ...over,
  };
}

/** `n` documents with a shared word, a word of their own and some filler. */
export function searchDocs(n: number, tenant: Tenant = SEARCH_TENANT): SearchDocument[] {
  return Array.from({ length: n }, (_, i) => searchDoc(i, `shared filler text number${i} ${'lorem ipsum dolor '.repeat(20)}`, {}, tenant));
}
