/**
 * The full-text index's wiring, apart from services.ts: only the functions that search (list
 * traces) or index (the indexer) import this module and load the engine (LanceDB, a native
 * module); every other function stays as small as it was.
 */
import { documentClient } from '../adapters/clients.js';
import { functionsS3 } from '../adapters/s3/lazy-sdk.js';
import { DynamoSearchSource, DynamoSearchWork } from '../adapters/dynamo/search-work.js';
import { IndexedSearch } from '../adapters/dynamo/search-list.js';
import { DynamoTraceStore } from '../adapters/dynamo/trace-store.js';
import { S3PayloadReader } from '../adapters/s3/payload-reader.js';
import { LanceSearchIndex } from '../adapters/search/lance-search-index.js';
import type { SearchIndex, SearchWork, TraceRangeReader, TraceReader } from '../domain/ports.js';
import type { IndexerDeps } from '../domain/search/indexer.js';
import { config } from './config.js';
import { traceStore } from './services.js';

let index: SearchIndex | null | undefined;

/** The index (SEARCH_INDEX_URI: a directory, or `s3+ddb://<bucket>/search?ddbTableName=<commit table>` on AWS), or null without one. */
export function searchIndex(): SearchIndex | null {
  if (index !== undefined) return index;
  const c = config();
  const uri = c.SEARCH_INDEX_URI;
  index =
    uri === undefined ? null : new LanceSearchIndex({ uri, ...(uri.startsWith('s3') ? { storageOptions: { region: c.AWS_REGION } } : {}) });
  return index;
}

let work: SearchWork | undefined;

export function searchWorkStore(): SearchWork {
  work ??= new DynamoSearchWork(documentClient(), config().TABLE_NAME);
  return work;
}

let searching: (TraceReader & TraceRangeReader) | undefined;

/** The trace store whose searches go to the index (and its unindexed tail); the plain store without an index. */
export function searchingTraceStore(): TraceReader & TraceRangeReader {
  if (searching) return searching;
  const engine = searchIndex();
  const c = config();
  searching =
    engine === null
      ? traceStore()
      : new DynamoTraceStore(documentClient(), c.TABLE_NAME, new S3PayloadReader(functionsS3, c.BUCKET_NAME), {
          search: new IndexedSearch(documentClient(), c.TABLE_NAME, engine, searchWorkStore()),
        });
  return searching;
}

/** The indexer's adapters; throws without SEARCH_INDEX_URI. */
export function indexerDeps(): IndexerDeps {
  const engine = searchIndex();
  if (engine === null) throw new Error('SEARCH_INDEX_URI is not set: there is no search index to build');
  return {
    index: engine,
    work: searchWorkStore(),
    source: new DynamoSearchSource(documentClient(), config().TABLE_NAME),
    log: (entry) => console.log(JSON.stringify({ level: 'info', ...entry })),
  };
}
