/**
 * Trace retention: deletes the traces created more than `retentionDays` ago,
 * project by project, through the same use case as `DELETE .../traces/{id}`
 * (trace-maintenance.ts). So the counters (project, per-source, hourly) move
 * exactly, the sources are pruned, and the evaluations and the offloaded
 * document go with their trace. A DynamoDB TTL on traces would move no
 * counter, and expiring payloads/ alone would leave traces pointing at
 * nothing; the bucket only expires payloads/ later, as a backstop.
 *
 * Trace-log spans the same way, where a counter counts them: a root span (the
 * `get_trace_logs` root index's member and counters hang off it) is retired at
 * its retention horizon (first stored + retention, kept on its member) through
 * the span delete's transaction, so the index's totals move exactly; its TTL is
 * only a backstop, days later, and a member whose span that backstop removed
 * first still goes with its counters. Other spans, which nothing counts, expire
 * by their TTL at the horizon. Roots are retired by the horizon they were stored
 * with, with or without `retentionDays` now.
 *
 * Every read is a Query (organizations, their projects, a project's traces
 * by creation time, its roots by horizon), never a Scan. A run is bounded
 * (`maxDeletes`, and `shouldStop`, e.g. the Lambda's remaining time): the next
 * run continues from the oldest trace (and horizon) left.
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

/** A root of the trace-log root index whose span's horizon has passed. */
export interface RetiringRoot {
  rootTraceId: string;
  /** The root span's id. */
  traceId: string;
  /** Its place in the retirement order (the store's; unchanged while the member is). */
  key: string;
}

export interface ExpiredRoots {
  /** The project's roots whose horizon is at or before `nowSeconds` (epoch seconds), oldest first. */
  retiring(tenant: Tenant, nowSeconds: number): AsyncIterable<RetiringRoot>;
  /**
   * Deletes the root span and its member, moving the root index's counters, in one transaction
   * (or the member alone, with its counters, when the span is gone already); 'skipped' when the
   * root was stored again since (a later horizon) or changed meanwhile.
   */
  retireRoot(tenant: Tenant, root: RetiringRoot, nowSeconds: number): Promise<'retired' | 'skipped'>;
}

export interface RetentionDeps extends TraceMaintenanceDeps {
  projects: ProjectDirectory;
  expired: ExpiredTraceFinder;
  roots: ExpiredRoots;
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
  /** Root spans retired (with their root-index members and counters). */
  roots: number;
  /** False when the run stopped at `maxDeletes` or `shouldStop`: older traces may remain for the next run. */
  complete: boolean;
}

/** The creation time before which traces are expired. */
export function retentionCutoff(now: Date, retentionDays: number): string {
  return new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
}

export async function sweepExpired(deps: RetentionDeps, options: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { projects: 0, deleted: 0, roots: 0, complete: true };
  const { retentionDays } = options;
  if (retentionDays !== undefined && (!Number.isInteger(retentionDays) || retentionDays < 1))
    throw new Error(`retentionDays must be a positive integer, got ${retentionDays}`);
  const maxDeletes = options.maxDeletes ?? DEFAULT_MAX_DELETES;
  const cutoff = retentionDays === undefined ? null : retentionCutoff(options.now, retentionDays);
  const nowSeconds = Math.floor(options.now.getTime() / 1000);
  let handled = 0;
  const exhausted = () => handled >= maxDeletes || options.shouldStop?.() === true;

  for (const organization of await deps.projects.listOrganizations()) {
    for (const project of await deps.projects.listProjects(organization.id)) {
      if (exhausted()) return { ...result, complete: false };
      result.projects++;
      const tenant: Tenant = { organizationId: organization.id, projectId: project.id };
      if (cutoff !== null) {
        for await (const page of deps.expired.tracesCreatedBefore(tenant, cutoff)) {
          for (const traceId of page) {
            if (exhausted()) return { ...result, complete: false };
            handled++;
            if ((await deleteTrace(deps, tenant, traceId)) === 'deleted') result.deleted++;
          }
        }
      }
      for await (const root of deps.roots.retiring(tenant, nowSeconds)) {
        if (exhausted()) return { ...result, complete: false };
        handled++;
        if ((await deps.roots.retireRoot(tenant, root, nowSeconds)) === 'retired') result.roots++;
      }
    }
  }
  return result;
}
