/**
 * Trace retention: deletes the traces created more than `retentionDays` ago,
 * project by project, through the same use case as `DELETE .../traces/{id}`
 * (trace-maintenance.ts). So the counters (project, per-source, hourly) move
 * exactly, the sources are pruned, and the evaluations and the offloaded
 * document go with their trace. A DynamoDB TTL on traces would move no
 * counter, and expiring payloads/ alone would leave traces pointing at
 * nothing; the bucket only expires payloads/ later, as a backstop.
 *
 * Every read is a Query (organizations, their projects, a project's traces
 * by creation time), never a Scan. A run is bounded (`maxDeletes`, and
 * `shouldStop`, e.g. the Lambda's remaining time): the next run continues
 * from the oldest trace left.
 */
import type { Organization, Project, Tenant } from './tenancy.js';
import { deleteTrace, type TraceMaintenanceDeps } from './trace-maintenance.js';

export const DEFAULT_MAX_DELETES = 10_000;
const DAY_MS = 86_400_000;

/** Where the projects are: organizations from their index item, projects per organization. */
export interface ProjectDirectory {
  listOrganizations(): Promise<Organization[]>;
  listProjects(organizationId: string): Promise<Project[]>;
}

export interface ExpiredTraceFinder {
  /** The ids of the project's traces created before `cutoff` (ISO 8601), oldest first, page by page. */
  tracesCreatedBefore(tenant: Tenant, cutoff: string): AsyncIterable<string[]>;
}

export interface RetentionDeps extends TraceMaintenanceDeps {
  projects: ProjectDirectory;
  expired: ExpiredTraceFinder;
}

export interface SweepOptions {
  /** Days to keep a trace; absent: keep forever (the sweep does nothing). */
  retentionDays: number | undefined;
  now: Date;
  /** At most this many traces are deleted per run (default 10,000). */
  maxDeletes?: number;
  /** Asked before each delete: true ends the run early (e.g. the function is running out of time). */
  shouldStop?: () => boolean;
}

export interface SweepResult {
  /** Projects looked at. */
  projects: number;
  /** Traces deleted. */
  deleted: number;
  /** False when the run stopped at `maxDeletes` or `shouldStop`: older traces may remain for the next run. */
  complete: boolean;
}

/** The creation time before which traces are expired. */
export function retentionCutoff(now: Date, retentionDays: number): string {
  return new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
}

export async function sweepExpired(deps: RetentionDeps, options: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { projects: 0, deleted: 0, complete: true };
  const { retentionDays } = options;
  if (retentionDays === undefined) return result;
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`retentionDays must be a positive integer, got ${retentionDays}`);
  const maxDeletes = options.maxDeletes ?? DEFAULT_MAX_DELETES;
  const cutoff = retentionCutoff(options.now, retentionDays);
  let handled = 0;
  const exhausted = () => handled >= maxDeletes || options.shouldStop?.() === true;

  for (const organization of await deps.projects.listOrganizations()) {
    for (const project of await deps.projects.listProjects(organization.id)) {
      if (exhausted()) return { ...result, complete: false };
      result.projects++;
      const tenant: Tenant = { organizationId: organization.id, projectId: project.id };
      for await (const page of deps.expired.tracesCreatedBefore(tenant, cutoff)) {
        for (const traceId of page) {
          if (exhausted()) return { ...result, complete: false };
          handled++;
          if ((await deleteTrace(deps, tenant, traceId)) === 'deleted') result.deleted++;
        }
      }
    }
  }
  return result;
}
