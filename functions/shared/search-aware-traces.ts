/**
 * The trace reader of the functions that export or delete by filter (and count what a deletion
 * would take): the list's own (search-services.ts), so a `search` goes where the list's goes, the
 * full-text index and its unindexed tail, and an export or a deletion of `search=X` takes exactly
 * the list's matches. Without SEARCH_INDEX_URI, the plain store's reading (the same word semantics,
 * by reading the traces), as the list's. The engine itself (LanceDB, a native module) loads on the
 * first search only (lance-search-index.ts).
 */
import type { JobDeps } from '../domain/jobs.js';
import { searchingTraceStore } from './search-services.js';
import { jobDeps } from './services.js';

/** The list's trace store: searches on the index (with its tail), the rest as the plain store reads them. */
export const searchAwareTraces = searchingTraceStore;

let jobs: JobDeps | undefined;

/** The jobs' adapters (services.ts jobDeps) with the list's trace store. */
export function searchJobDeps(): JobDeps {
  jobs ??= { ...jobDeps(), traces: searchingTraceStore() };
  return jobs;
}
