/**
 * Deleting a trace, and the project's list of sources.
 *
 * A delete removes the trace item and moves the project's counters down by
 * one in a single transaction (so a repeated or concurrent delete can never
 * subtract twice), then drops the source from the project's sources once
 * its count is zero, then removes what hung off the trace: its evaluations
 * and its offloaded document. A delete of a trace that is already gone still
 * sweeps those, so a retry finishes the cleanup of a delete that failed
 * half-way, and answers not-found.
 */
import { backoff } from './backoff.js';
import type { Tenant } from './tenancy.js';
import { payloadKey } from './trace.js';

export interface TraceToDelete {
  source: string;
  /** The S3 key of the offloaded document, if it was offloaded. */
  payloadKey: string | null;
  /** Its creation time: which hourly counter counts it. */
  createdAt: string | null;
  /** Its evaluation status (null: never evaluated) and judges: which status and judge counts include it. */
  evalStatus: string | null;
  judgeIds: readonly string[];
}

/** `deleted` with `counted: false` when the counters did not include the trace (they are never moved below zero). */
export type DeleteResult = { outcome: 'deleted'; counted: boolean } | { outcome: 'missing' } | { outcome: 'conflict' };

export interface TraceMaintenanceStore {
  findTrace(tenant: Tenant, traceId: string): Promise<TraceToDelete | null>;
  /**
   * In one transaction: deletes the trace (if it still exists) and its status and judge members,
   * and decrements `traces` and the source's count in the project's and the hour's counters, and
   * its status and judges in the evaluation counters.
   */
  deleteTrace(tenant: Tenant, traceId: string, trace: TraceToDelete): Promise<DeleteResult>;
  /** Removes the source from the project's sources if (and only if) its count is zero now. */
  pruneSource(tenant: Tenant, source: string): Promise<void>;
  /** The project's sources, from its counter item. */
  sources(tenant: Tenant): Promise<string[]>;
}

export interface EvaluationCleaner {
  deleteForTrace(tenant: Tenant, traceId: string): Promise<number>;
}

export interface PayloadRemover {
  /** Deletes an offloaded document; deleting one that does not exist is not an error. */
  deletePayload(key: string): Promise<void>;
}

export interface TraceMaintenanceDeps {
  store: TraceMaintenanceStore;
  evaluations: EvaluationCleaner;
  payloads: PayloadRemover;
  log?: (entry: Record<string, unknown>) => void;
  maxAttempts?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function deleteTrace(deps: TraceMaintenanceDeps, tenant: Tenant, traceId: string): Promise<'deleted' | 'not-found'> {
  const maxAttempts = deps.maxAttempts ?? 10;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (attempt > 0) await backoff(attempt, 20, Number.POSITIVE_INFINITY);
    const trace = await deps.store.findTrace(tenant, traceId);
    if (trace === null) {
      await sweep(deps, tenant, traceId, null);
      return 'not-found';
    }
    const result = await deps.store.deleteTrace(tenant, traceId, trace);
    if (result.outcome === 'conflict') continue;
    if (result.outcome === 'missing') {
      await sweep(deps, tenant, traceId, null);
      return 'not-found';
    }
    if (!result.counted)
      deps.log?.({ level: 'warn', msg: 'deleted a trace the project counters did not include', traceId, source: trace.source });
    await deps.store.pruneSource(tenant, trace.source);
    await sweep(deps, tenant, traceId, trace.payloadKey);
    return 'deleted';
  }
  throw new Error(`could not delete trace ${traceId}: still conflicting after ${maxAttempts} attempts`);
}

/**
 * The trace's evaluations and its offloaded document. For a trace already
 * gone the document's key is not known any more, but it is deterministic.
 */
async function sweep(deps: TraceMaintenanceDeps, tenant: Tenant, traceId: string, key: string | null): Promise<void> {
  await deps.evaluations.deleteForTrace(tenant, traceId);
  const payload =
    key ?? (UUID.test(traceId) ? payloadKey({ organizationId: tenant.organizationId, projectId: tenant.projectId, id: traceId }) : null);
  if (payload !== null) await deps.payloads.deletePayload(payload);
}

/** The project's sources, sorted. */
export async function listSources(deps: Pick<TraceMaintenanceDeps, 'store'>, tenant: Tenant): Promise<string[]> {
  return [...(await deps.store.sources(tenant))].sort();
}
