import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { indexAll, indexProject, type IndexRun } from '../domain/search/indexer.js';
import type { Tenant } from '../domain/tenancy.js';
import { sleep } from '../adapters/retry.js';
import { indexerDeps } from '../shared/search-services.js';

/** Time left to finish a commit and release the lease, when a run stops early (the work stays for the next). */
export const STOP_MARGIN_MS = 60_000;

/**
 * The search indexer. Started by the table's stream when work is recorded (the event source
 * mapping lets through only new search work items, `SQ#…` keys), and by a schedule as a safety net
 * (any other event: every project with work). A project another indexer holds is waited for,
 * then the batch fails so the stream delivers it again: work is never dropped.
 */
export async function handler(
  event: Partial<DynamoDBStreamEvent> | undefined,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<IndexRun[]> {
  const deps = indexerDeps();
  const shouldStop = () => (context ? context.getRemainingTimeInMillis() < STOP_MARGIN_MS : false);
  if (!Array.isArray(event?.Records)) {
    const runs = await indexAll(deps, { shouldStop });
    console.log(JSON.stringify({ level: 'info', msg: 'search indexer (scheduled)', projects: runs.length, runs }));
    return runs;
  }
  const tenants = new Map<string, Tenant>();
  for (const r of event.Records) {
    const tenant = tenantOfWorkKey(r.dynamodb?.Keys?.pk?.S);
    if (tenant) tenants.set(`${tenant.organizationId}\u0000${tenant.projectId}`, tenant);
  }
  const runs: IndexRun[] = [];
  for (const tenant of tenants.values()) {
    let run = await indexProject(deps, tenant, { shouldStop });
    for (let attempt = 1; !run.acquired && attempt <= 5 && !shouldStop(); attempt++) {
      await sleep(2_000 * attempt);
      run = await indexProject(deps, tenant, { shouldStop });
    }
    if (!run.acquired)
      throw new Error(`the search index of ${tenant.organizationId}/${tenant.projectId} is busy; the stream will deliver this batch again`);
    runs.push(run);
  }
  console.log(JSON.stringify({ level: 'info', msg: 'search indexer', projects: runs.length, runs }));
  return runs;
}

/** The project of a work item's key `SQ#<org>#<project>#<shard>` (search-work.ts), or null for any other key. */
export function tenantOfWorkKey(pk: string | undefined): Tenant | null {
  const parts = pk?.split('#');
  if (parts?.length !== 4 || parts[0] !== 'SQ' || !parts[1] || !parts[2]) return null;
  return { organizationId: parts[1], projectId: parts[2] };
}
