/**
 * The indexer: builds the search index from the work the table records (./search-index.ts), off
 * the ingest's path. On AWS its own function, started by the table's stream when work is recorded
 * (and by a schedule, as a safety net); locally a job in the stack's process.
 *
 * One indexer per project at a time (a lease, renewed while it works and checked before every
 * commit). A round reads the project's work once, then:
 * 1. traces to refresh (deleted, or changed OTel traces): their entries removed, then an entry
 *    appended for each OTel trace that still exists, read as stored now (an uploaded trace's
 *    entry only ever comes with its upload, so a trace deleted and uploaded again is indexed once);
 * 2. uploads: each one not in the index yet has all the traces it owns appended, several uploads
 *    in one commit (an upload's entries are all there or none: a commit is atomic);
 * 3. the work read is dropped (an item recorded again since keeps its new token and stays);
 * 4. upkeep: a full segment is sealed.
 * A crash anywhere leaves the work recorded and the lease to expire: the next run does the round
 * again, and finds what a commit already wrote (an upload in the index is not appended twice; a
 * refreshed trace's entries are removed before its entry is appended), so an entry is never lost
 * or doubled. Work recorded after the round read it (a delete during the round) is the next
 * round's, so a deleted trace's entry never outlives its delete's work item.
 */
import { randomUUID } from 'node:crypto';
import type { Tenant } from '../tenancy.js';
import type { SearchDocument, SearchIndex, SearchSource, SearchWork, SearchWorkItem } from './search-index.js';

export interface IndexerDeps {
  index: SearchIndex;
  work: SearchWork;
  source: SearchSource;
  now?: () => number;
  leaseMs?: number;
  log?: (entry: Record<string, unknown>) => void;
}

export interface IndexRun {
  /** False when another indexer holds the project's lease (it will do the work). */
  acquired: boolean;
  rounds: number;
  uploads: number;
  traces: number;
  refreshed: number;
}

/** Characters of text per commit: several small uploads go in one, a big one alone. */
const COMMIT_CHARS = 64 * 1024 * 1024;
const MAX_ROUNDS = 50;

/** Does the project's outstanding work, round after round, until none is left (or `shouldStop`). */
export async function indexProject(deps: IndexerDeps, tenant: Tenant, options: { shouldStop?: () => boolean } = {}): Promise<IndexRun> {
  const now = deps.now ?? Date.now;
  const leaseMs = deps.leaseMs ?? 120_000;
  const owner = randomUUID();
  const run: IndexRun = { acquired: false, rounds: 0, uploads: 0, traces: 0, refreshed: 0 };
  if (!(await deps.work.acquire(tenant, owner, now(), leaseMs))) return run;
  run.acquired = true;
  let heldUntil = now() + leaseMs;
  let lost = false;
  const timer = setInterval(
    () => {
      const at = now();
      deps.work
        .renew(tenant, owner, at, leaseMs)
        .then((ok) => {
          if (ok) heldUntil = at + leaseMs;
          else lost = true;
        })
        .catch((e: unknown) => deps.log?.({ msg: 'search lease renewal failed', error: String(e) }));
    },
    Math.max(50, Math.floor(leaseMs / 4)),
  );
  timer.unref();
  /** Before a commit: the lease is ours for a while yet, so no other indexer can be writing. */
  const check = () => {
    if (lost || now() > heldUntil - leaseMs / 4) throw new Error('lost the search index lease; the work stays for the next run');
  };
  try {
    while (run.rounds < MAX_ROUNDS && options.shouldStop?.() !== true) {
      const items = await deps.work.pending(tenant);
      if (items.length === 0) break;
      run.rounds++;
      await round(deps, tenant, items, check, run);
      check();
      await deps.work.done(tenant, items);
      check();
      await deps.index.maintain(tenant);
    }
    return run;
  } finally {
    clearInterval(timer);
    await deps.work.release(tenant, owner).catch(() => {});
  }
}

async function round(deps: IndexerDeps, tenant: Tenant, items: SearchWorkItem[], check: () => void, run: IndexRun): Promise<void> {
  const refresh = [...new Set(items.flatMap((i) => (i.kind === 'trace' ? [i.traceId] : [])))];
  if (refresh.length > 0) {
    check();
    await deps.index.remove(tenant, refresh);
    const docs = await deps.source.documents(tenant, refresh);
    check();
    await deps.index.append(tenant, docs);
    run.refreshed += refresh.length;
  }
  let batch: SearchDocument[] = [];
  let chars = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    check();
    await deps.index.append(tenant, batch);
    run.traces += batch.length;
    batch = [];
    chars = 0;
  };
  const uploads = [...new Set(items.flatMap((i) => (i.kind === 'upload' ? [i.uploadId] : [])))];
  for (const uploadId of uploads) {
    if (await deps.index.hasUpload(tenant, uploadId)) continue;
    const docs = await deps.source.uploadDocuments(tenant, uploadId);
    const size = docs.reduce((n, d) => n + d.text.length, 0);
    if (chars > 0 && chars + size > COMMIT_CHARS) await flush();
    batch.push(...docs);
    chars += size;
    run.uploads++;
  }
  await flush();
}

/** Every project with work, one after another (the local job's and the scheduled run's loop). */
export async function indexAll(
  deps: IndexerDeps & { work: SearchWork },
  options: { shouldStop?: () => boolean; maxProjects?: number } = {},
): Promise<IndexRun[]> {
  const runs: IndexRun[] = [];
  for (const tenant of await deps.work.projectsWithWork(options.maxProjects ?? 100)) {
    if (options.shouldStop?.() === true) break;
    runs.push(await indexProject(deps, tenant, options));
  }
  return runs;
}
