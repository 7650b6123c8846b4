/**
 * Full-text search behind ports: what the domain needs from a search engine (SearchIndex), from
 * the table that says what is still to be indexed (SearchWork), and from the traces themselves
 * (SearchSource). Nothing of DynamoDB or LanceDB here; the query semantics are in ./terms.ts and the
 * README ("How search works"); the design and its figures in docs/decisions/search.md.
 *
 * Write path (./indexer.ts): the ingest only records, in its completion transaction, that an
 * upload's traces are to be indexed; a delete (and an OTel trace's update) records that a trace's
 * entry is to be refreshed, before it changes the trace. The indexer, one at a time per project,
 * reads those records, builds the entries from the traces as stored, and drops the records once
 * the engine has them. Until then every query answers those uploads and traces from the table (the
 * unindexed tail), so results are complete and a deleted trace is never found.
 */
import type { Tenant } from '../tenancy.js';

/** One trace as the index keeps it. */
export interface SearchDocument {
  id: string;
  uploadId: string;
  /** The list's order key (`<created_at>#<upload>#<position>`): unique per trace, the time order. */
  sortKey: string;
  /** ISO 8601 with milliseconds. */
  createdAt: string;
  source: string;
  filename: string;
  /** What search matches: filename, input and the document's string values (trace.ts `searchText`). */
  text: string;
}

export type SearchSortBy = 'created_at' | 'filename';
export type SearchSortOrder = 'asc' | 'desc';

/** A hit's place in its order: the sort key, and the filename when ordered by filename. */
export interface SearchPosition {
  sortKey: string;
  filename?: string | undefined;
}

export interface SearchQuery {
  tenant: Tenant;
  /** The user's search text, as typed (cut into words by ./terms.ts). */
  text: string;
  source?: string | undefined;
  /** Inclusive lower bound on created_at (ISO 8601). */
  since?: string | undefined;
  sortBy: SearchSortBy;
  sortOrder: SearchSortOrder;
  /** Answer the hits strictly after this position; absent: from the start. */
  after?: SearchPosition | undefined;
  /** Hits to answer at most. */
  limit: number;
  /** Trace ids whose entries must not be answered (they are being refreshed: the tail answers them). */
  exclude?: ReadonlySet<string> | undefined;
}

export interface SearchHit {
  id: string;
  uploadId: string;
  sortKey: string;
  filename: string;
}

export interface SearchPage {
  /** In order, at most `limit`. */
  hits: SearchHit[];
  /** Every entry matching the words and filters (cursor aside), excluded ids not counted: exact. */
  total: number;
  /** More matching entries follow the last hit. */
  more: boolean;
}

export interface SearchIndexStatus {
  /** Entries in the project's index. */
  documents: number;
  /** Segments (sealed: with their word index; open: scanned until sealed). */
  segments: { sealed: number; open: number };
}

/** The engine. Writes come from the indexer only, one writer per project at a time. */
export interface SearchIndex {
  /** Whether the upload's entries are in the index (an upload's entries are appended in one commit: all or none). */
  hasUpload(tenant: Tenant, uploadId: string): Promise<boolean>;
  /** Appends entries in one atomic commit (the caller ensures none of them is there yet). */
  append(tenant: Tenant, docs: readonly SearchDocument[]): Promise<void>;
  /** Removes the entries of these trace ids (absent ids are no error); answers how many went. */
  remove(tenant: Tenant, ids: readonly string[]): Promise<number>;
  /** Background upkeep: seals a full open segment (builds its word index). Cheap when there is nothing to do. */
  maintain(tenant: Tenant): Promise<void>;
  query(q: SearchQuery): Promise<SearchPage>;
  status(tenant: Tenant): Promise<SearchIndexStatus>;
}

/** A record of work for the indexer. */
export type SearchWorkItem =
  /** Index an upload's traces (recorded by its completion transaction). */
  | { kind: 'upload'; uploadId: string; createdAt: string; token: string }
  /** Refresh one trace's entry from the trace as stored, or drop it if the trace is gone (a delete, an OTel update). */
  | { kind: 'trace'; traceId: string; token: string };

export interface SearchWork {
  /** The project's outstanding work, oldest first (a consistent read). */
  pending(tenant: Tenant): Promise<SearchWorkItem[]>;
  /** Drops work done; an item recorded again since it was read (a new token) stays. */
  done(tenant: Tenant, items: readonly SearchWorkItem[]): Promise<void>;
  /** Projects with outstanding work (from a small sparse index; never a scan). */
  projectsWithWork(limit: number): Promise<Tenant[]>;
  /** One indexer per project at a time: a lease, renewed while held. */
  acquire(tenant: Tenant, owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  renew(tenant: Tenant, owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  release(tenant: Tenant, owner: string): Promise<void>;
}

/** The traces the index is built from: read as stored, consistently. */
export interface SearchSource {
  /** The upload's traces that it owns (not those an identical earlier upload wrote), as documents. */
  uploadDocuments(tenant: Tenant, uploadId: string): Promise<SearchDocument[]>;
  /**
   * The documents of those of these traces that exist and are indexed on their own (OTel traces,
   * whose text changes as spans arrive); an uploaded trace's entry comes with its upload only.
   */
  documents(tenant: Tenant, ids: readonly string[]): Promise<SearchDocument[]>;
}
