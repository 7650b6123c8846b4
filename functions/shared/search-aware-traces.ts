/**
 * The trace reader of the functions that export or delete by filter (and count what a deletion
 * would take): a `search` goes where the list's goes, the full-text index and its unindexed tail
 * (search-services.ts, imported on the first search only, so the engine, a native module, loads
 * only then), so an export or a deletion of `search=X` takes exactly the list's matches; every
 * other filter goes to the plain store. Without SEARCH_INDEX_URI, the plain store's reading (the
 * same word semantics, by reading the traces), as the list's.
 */
import type { JobDeps, TraceRangeReader } from '../domain/jobs.js';
import type { TraceReader } from '../domain/traces.js';
import { config } from './config.js';
import { jobDeps, traceStore } from './services.js';

type Reader = TraceReader & TraceRangeReader;

let reader: Reader | undefined;
let searching: Promise<Reader> | undefined;

function searchReader(): Promise<Reader> {
  searching ??= config().SEARCH_INDEX_URI === undefined ? Promise.resolve(traceStore()) : import('./search-services.js').then((m) => m.searchingTraceStore());
  return searching;
}

export function searchAwareTraces(): Reader {
  if (reader) return reader;
  const plain = traceStore();
  reader = {
    get: (tenant, id) => plain.get(tenant, id),
    list: async (tenant, q) => (q.search !== undefined ? (await searchReader()).list(tenant, q) : plain.list(tenant, q)),
    range: async (tenant, q) => (q.filters.search !== undefined ? (await searchReader()).range(tenant, q) : plain.range(tenant, q)),
  };
  return reader;
}

let jobs: JobDeps | undefined;

/** The jobs' adapters (services.ts jobDeps) with this reader. */
export function searchJobDeps(): JobDeps {
  jobs ??= { ...jobDeps(), traces: searchAwareTraces() };
  return jobs;
}
