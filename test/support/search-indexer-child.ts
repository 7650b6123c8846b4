/**
 * The search indexer in a process of its own, for the crash test: the environment names the local
 * stack's table and index (inherited from the test's process); it indexes one project with a short
 * lease and prints "committing" as it hands the engine its commit, when the parent SIGKILLs it.
 * Usage: tsx test/support/search-indexer-child.ts <organizationId> <projectId> <leaseMs>
 */
import { indexProject } from '../../functions/domain/search/indexer.js';
import { indexerDeps } from '../../functions/shared/search-services.js';

const [organizationId, projectId, leaseMs] = process.argv.slice(2);
const deps = indexerDeps();
const index = deps.index;
const run = await indexProject(
  {
    ...deps,
    index: {
      hasUpload: (t, u) => index.hasUpload(t, u),
      remove: (t, ids) => index.remove(t, ids),
      maintain: (t) => index.maintain(t),
      query: (q) => index.query(q),
      status: (t) => index.status(t),
      append: (t, docs) => {
        process.stdout.write('committing\n');
        return index.append(t, docs);
      },
    },
    leaseMs: Number(leaseMs),
    log: () => {},
  },
  { organizationId: organizationId!, projectId: projectId! },
);
process.stdout.write(`done ${JSON.stringify(run)}\n`);
