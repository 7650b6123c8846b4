/**
 * A writer process for the search index's crash test: upserts `count` documents of one tenant in
 * one commit into the index at `dir`, printing "writing" just before, so the parent can SIGKILL it
 * mid-write. Usage: tsx test/support/search-child.ts <dir> <count>
 */
import { LanceSearchIndex } from '../../functions/adapters/search/lance-search-index.js';
import { searchDocs, SEARCH_TENANT } from './search-docs.js';

const [dir, count] = process.argv.slice(2);
const index = new LanceSearchIndex({ uri: dir! });
const docs = searchDocs(Number(count));
// The first commit creates the table and its index; the one killed is the second, a big one.
await index.upsert(SEARCH_TENANT, docs.slice(0, 10), { fresh: true });
process.stdout.write('writing\n');
await index.upsert(SEARCH_TENANT, docs.slice(10));
process.stdout.write('done\n');
