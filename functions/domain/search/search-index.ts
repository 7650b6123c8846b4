/**
 * Full-text search behind a port: what the domain needs from a search engine, and nothing of
 * DynamoDB's layout. The engine adapter (functions/adapters/search/lance-search-index.ts) keeps
 * one index per project; the query semantics are in ./terms.ts and the README ("How search works").
 *
 * Write-path contract (docs/decisions/search.md):
 * - `upsert` is idempotent, keyed by trace id: the same document again changes nothing, so a
 *   re-delivered event or a retry after a crash never indexes a trace twice;
 * - a batch is one atomic commit: a process killed mid-write leaves the batch absent, never half
 *   there, and the retry writes it whole;
 * - `remove` is a committed delete: a removed id is never found again, unless it is upserted again
 *   (which only an ingest of its upload does, and an upload is ingested to completion once);
 * - rows committed but not yet merged into the index segments (the unindexed tail) are answered by
 *   `query` as well, by scanning them: a trace is searchable as soon as its batch is committed, and
 *   `optimize` merges the tail into the index in the background.
 */
import type { Tenant } from '../tenancy.js';
import { searchText, type TraceDraft } from '../trace.js';

/** One trace as the index keeps it. */
export interface SearchDocument {
  id: string;
  organizationId: string;
  projectId: string;
  /** ISO 8601 with milliseconds (the list's time). */
  createdAt: string;
  /** The list's sort key by creation time: `<created_at>#<upload>#<position>`, unique per trace. */
  sortKey: string;
  source: string;
  filename: string;
  /** What search matches: filename, input and the document's string values (TraceDraft.searchText). */
  text: string;
}

export type SearchSortBy = 'created_at' | 'filename';
export type SearchSortOrder = 'asc' | 'desc';

/** Where a page ends: the last hit's order key. The next page starts strictly after it. */
export interface SearchPosition {
  /** `sortKey` when ordered by created_at; `filename` + NUL + `sortKey` when ordered by filename. */
  key: string;
}

export interface SearchQuery {
  tenant: Tenant;
  /** The user's search text, as typed (normalised by ./terms.ts). */
  text: string;
  source?: string | undefined;
  /** Inclusive lower bound on created_at (ISO 8601). */
  since?: string | undefined;
  /** Exclusive upper bound on created_at (ISO 8601). */
  until?: string | undefined;
  sortBy: SearchSortBy;
  sortOrder: SearchSortOrder;
  /** Answer the hits strictly after this position (a cursor); absent: from the start. */
  after?: SearchPosition | undefined;
  /** Page size. */
  limit: number;
}

export interface SearchHit {
  id: string;
  createdAt: string;
  sortKey: string;
  filename: string;
  source: string;
}

export interface SearchPage {
  hits: SearchHit[];
  /** Every match of the query and filters in the project (not only after the cursor): exact. */
  total: number;
  /** The position to pass as `after` for the next page; null on the last page. */
  next: SearchPosition | null;
}

export interface SearchIndexStatus {
  /** Documents in the project's index. */
  documents: number;
  /** Of those, the ones not yet merged into index segments (scanned by every query until `optimize`). */
  unindexed: number;
}

export interface SearchIndex {
  /**
   * Indexes documents, all of one tenant, in one atomic commit; a document whose id is already
   * indexed is left as it is. `fresh`: the caller knows none of these ids can be indexed yet (the
   * first attempt at an upload), so the engine may append without looking them up.
   */
  upsert(tenant: Tenant, docs: readonly SearchDocument[], options?: { fresh?: boolean }): Promise<void>;
  /** Removes ids from the tenant's index; ids not there are not an error. */
  remove(tenant: Tenant, ids: readonly string[]): Promise<void>;
  query(q: SearchQuery): Promise<SearchPage>;
  /** Merges the tenant's unindexed tail into its index and compacts it; cheap when there is nothing to do. */
  optimize(tenant: Tenant): Promise<SearchIndexStatus>;
  status(tenant: Tenant): Promise<SearchIndexStatus>;
}

/** The search document of a trace about to be stored. */
export function searchDocument(trace: TraceDraft): SearchDocument {
  return {
    id: trace.id,
    organizationId: trace.organizationId,
    projectId: trace.projectId,
    createdAt: trace.createdAt,
    sortKey: `${trace.createdAt}#${trace.uploadId}#${String(trace.position).padStart(10, '0')}`,
    source: trace.source,
    filename: trace.filename,
    text: searchText(trace.filename, trace.input, JSON.parse(trace.document)),
  };
}

/** The order key of a hit under a sort (what `SearchPosition.key` holds). */
export function orderKey(hit: Pick<SearchHit, 'sortKey' | 'filename'>, sortBy: SearchSortBy): string {
  return sortBy === 'created_at' ? hit.sortKey : `${hit.filename}\u0000${hit.sortKey}`;
}
