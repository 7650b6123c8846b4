/** Search documents for the search index's tests: deterministic, one upload unless told. */
import type { SearchDocument } from '../../functions/domain/search/search-index.js';

export function searchDoc(i: number, text: string, over: Partial<SearchDocument> = {}): SearchDocument {
  const createdAt = new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString();
  const uploadId = over.uploadId ?? 'u1';
  return {
    id: `doc-${String(i).padStart(6, '0')}`,
    uploadId,
    sortKey: `${createdAt}#${uploadId.padEnd(16, '0').slice(0, 16)}#${String(i).padStart(10, '0')}`,
    createdAt,
    source: 'upload',
    filename: `file-${i % 3}.jsonl`,
    text,
    ...over,
  };
}

/** `n` documents with a shared word, a word of their own and some filler. */
export function searchDocs(n: number, over: Partial<SearchDocument> = {}, from = 0): SearchDocument[] {
  return Array.from({ length: n }, (_, k) =>
    searchDoc(from + k, `shared filler text number${from + k} ${'lorem ipsum dolor '.repeat(20)}`, over),
  );
}
