/**
 * Traces as the API serves them (the Stratix client's Trace and
 * TraceWithEvaluations models), and the list query.
 */
import type { Tenant } from './tenancy.js';

export interface LastEvaluation {
  evaluation_id?: string;
  judge_id: string;
  judge_name: string;
  judge_version: number;
  created_at: string;
  passed: boolean | null;
}

export interface TraceView {
  id: string;
  organizationId: string;
  projectId: string;
  createdAt: string;
  filename: string;
  source: string;
  integrationId: string | null;
  input: string | null;
  /** The record exactly as uploaded: JSON text, spliced into answers verbatim. */
  document: string;
  evaluationsCount: number;
  lastEvaluations: LastEvaluation[];
  uploadId: string;
}

/**
 * A trace as JSON. The document is inserted as the text it was uploaded as,
 * so numbers beyond double precision, key order and odd keys come back as sent.
 */
export function traceJson(t: TraceView): string {
  const s = JSON.stringify;
  return (
    `{"id":${s(t.id)},"organization_id":${s(t.organizationId)},"project_id":${s(t.projectId)},` +
    `"created_at":${s(t.createdAt)},"filename":${s(t.filename)},"data":${t.document},"input":${s(t.input)},` +
    `"integration_id":${s(t.integrationId)},"source":${s(t.source)},"upload_id":${s(t.uploadId)},` +
    `"evaluations_count":${t.evaluationsCount},"last_evaluations":${s(t.lastEvaluations)}}`
  );
}

export type SortBy = 'created_at' | 'filename';
export type EvalStatus = 'pass' | 'fail' | 'pending' | 'unevaluated';

export interface ListQuery {
  page: number;
  pageSize: number;
  source?: string | undefined;
  judgeId?: string | undefined;
  status?: EvalStatus | undefined;
  /** ISO 8601: only traces created at or after this instant. */
  since?: string | undefined;
  /** Lower-cased search text. */
  search?: string | undefined;
  sortBy: SortBy;
  sortOrder: 'asc' | 'desc';
  cursor?: string | undefined;
}

export interface ListPage {
  traces: TraceView[];
  totalCount: number;
  /** False when `totalCount` is a lower bound: the matches found so far by a search that has not yet read the whole project. */
  totalExact: boolean;
  nextCursor: string | null;
}

export interface TraceReader {
  get(tenant: Tenant, id: string): Promise<TraceView | null>;
  /** `timeRange`: the list's `time_range` as asked (`24h`); its cursors are bound to it. */
  list(tenant: Tenant, query: ListQuery, timeRange?: string): Promise<ListPage>;
}
