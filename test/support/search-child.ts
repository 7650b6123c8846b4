/**
 * A writer process for the search index's crash tests, SIGKILLed by the parent part-way:
 * `append <dir> <count>`: one commit of `count` documents (upload "big"), after a small first one;
 * `seal <dir> <count>`: `count` documents in commits of 1,000 (sealRows 1,000), then the seals.
 * It prints "writing" just before the step the parent kills. Usage: tsx test/support/search-child.ts <mode> <dir> <count>
 */
import { LanceSearchIndex } from '../../functions/adapters/search/lance-search-index.js';
import { searchDocs } from './search-docs.js';

const [mode, dir, count] = process.argv.slice(2);
const n = Number(count);
const tenant = { organizationId: 'org-s', projectId: 'proj-s' };
const index = new LanceSearchIndex({ uri: dir!, sealRows: 1_000 });
if (mode === 'append') {
  await index.append(tenant, searchDocs(10, { uploadId: 'small' }));
  process.stdout.write('writing\n');
  await index.append(tenant, searchDocs(n, { uploadId: 'big' }, 10));
} else {
  for (let from = 0; from < n; from += 1_000)
    await index.append(tenant, searchDocs(Math.min(1_000, n - from), { uploadId: `u${from}` }, from));
  process.stdout.write('writing\n');
  await index.maintain(tenant);
}
process.stdout.write('done\n');
