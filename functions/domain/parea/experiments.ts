/**
 * Parea experiments (docs/parea-experiments-api.md): create, finish (stats computed and pinned),
 * stats, list. An experiment is its own item; its spans are trace logs that carry its uuid
 * (./read.ts). Stats are computed from the experiment's trees, the same
 * trees `POST /experiment/{uuid}/trace_logs` serves, once at `finished`, and kept with it.
 *
 * No AWS types here: functions/adapters/dynamo/experiment-store.ts implements the port.
 */
import * as z from 'zod';
import { DomainError } from '../errors.js';
import { ID_TOO_LONG, MAX_ID_CHARS, newId } from '../ids.js';
import type { Tenant } from '../tenancy.js';
import { MAX_SPAN_ID_BYTES } from './limits.js';
import type { SpanStore } from './ports.js';
import { normalizeScores, parseTimestampMicros, stringifyValue, toFiniteNumber } from './span.js';
import { buildForest, walkForest, type TreeNode } from './tree.js';

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/** Parea's ExperimentStatus. */
export const EXPERIMENT_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

/** Parea's ExperimentPinnedStatistic (operation one of its StatisticOperation values). */
export interface PinnedStatistic {
  var1: string;
  operation: 'mean' | 'custom';
  value: number;
}

/** A score as the stats carry it (EvaluationResultSchema). */
export interface StatScore {
  name: string;
  score: number;
  reason?: string;
}

/** One root tree's figures (Parea's TraceStatsSchema). */
export interface TraceStats {
  trace_id: string;
  latency: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cost: number;
  scores: StatScore[];
}

export interface Experiment {
  uuid: string;
  name: string;
  runName: string;
  metadata: Record<string, string> | null;
  createdAt: string;
  status: ExperimentStatus;
  finishedAt: string | null;
  /** Root trees counted when it finished (null before). */
  numSamples: number | null;
  pinnedStats: PinnedStatistic[];
  datasetLevelStats: StatScore[];
}

// ---------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------

export interface ExperimentListQuery {
  /** Exact experiment name. */
  name?: string | undefined;
  /** Start after this experiment (a cursor's position: its created_at#uuid). */
  after?: string | undefined;
}

export interface ExperimentStore {
  /** Stores a new experiment unless its run name is taken in its experiment name: then answers the experiment that has it. */
  create(tenant: Tenant, e: Experiment): Promise<{ created: true } | { created: false; existing: Experiment | null }>;
  get(tenant: Tenant, uuid: string): Promise<Experiment | null>;
  getMany(tenant: Tenant, uuids: readonly string[]): Promise<Experiment[]>;
  /** Pins the finished experiment and its per-tree stats (replacing any of an earlier finish). */
  finish(tenant: Tenant, e: Experiment, stats: readonly TraceStats[]): Promise<void>;
  /** The pinned per-tree stats of a finished experiment (null: never finished). */
  stats(tenant: Tenant, uuid: string): Promise<TraceStats[] | null>;
  /** The project's experiments newest first (of one name when given), with each one's position. */
  list(tenant: Tenant, q: ExperimentListQuery): AsyncIterable<{ experiment: Experiment; position: string }>;
}

export interface ExperimentDeps {
  experiments: ExperimentStore;
  spans: SpanStore;
  now?: () => Date;
  newId?: () => string;
  /** How long computing an experiment's stats may read its spans (ms). */
  statsBudgetMs?: number;
}

/** An experiment request refused: unknown experiment, run name taken, stats too large to compute in one answer, foreign cursor. */
export class ExperimentError extends DomainError<'not_found' | 'run_name_taken' | 'answer_too_large' | 'invalid_cursor'> {}

// ---------------------------------------------------------------------------
// Bodies (zod at the edge: the handlers parse with these)
// ---------------------------------------------------------------------------

const name = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(MAX_ID_CHARS, ID_TOO_LONG);
/** Metadata values are kept as strings (Parea's `Dict[str, str]`): anything else as its JSON. */
const metadata = z
  .record(z.string(), z.unknown(), { error: 'must be an object of names to values' })
  .nullish()
  .transform((m) =>
    m
      ? Object.fromEntries(
          Object.entries(m)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, stringifyValue(v)]),
        )
      : null,
  )
  .refine(
    (m) => m === null || (Object.keys(m).length <= 100 && Buffer.byteLength(JSON.stringify(m)) <= 16 * 1024),
    'must have at most 100 keys and 16 KB',
  );

export const CreateExperimentBody = z.looseObject({
  name,
  run_name: name,
  metadata,
  // The SDKs send the uuid from POST /project; experiments land in the key's project, as spans do.
  project_uuid: z.string().max(MAX_ID_CHARS).nullish(),
});

const scoreInput = z.looseObject({
  name: z.string({ error: 'must be a string' }).min(1).max(MAX_ID_CHARS),
  score: z.number({ error: 'must be a number' }).refine(Number.isFinite, 'must be finite'),
  reason: z
    .string()
    .max(16 * 1024)
    .nullish(),
});

export const FinishExperimentBody = z.looseObject({
  status: z.enum(EXPERIMENT_STATUSES, { error: `must be one of ${EXPERIMENT_STATUSES.join(', ')}` }).nullish(),
  dataset_level_stats: z.array(scoreInput).max(1000).nullish(),
});

export const ListExperimentsBody = z.looseObject({
  project_name: z.string().max(MAX_ID_CHARS).nullish(),
  metadata_filter: z.record(z.string(), z.unknown(), { error: 'must be an object of names to values' }).nullish(),
  experiment_name_filter: z.string().max(MAX_ID_CHARS).nullish(),
  run_name_filter: z.string().max(MAX_ID_CHARS).nullish(),
  experiment_uuids: z.array(z.string().max(MAX_SPAN_ID_BYTES)).max(100, 'at most 100 uuids').nullish(),
});

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

/** POST /experiment: a new experiment (running), or, for the same name and run name while it runs with the same metadata, that one again (a retried create). */
export async function createExperiment(
  deps: ExperimentDeps,
  tenant: Tenant,
  body: z.infer<typeof CreateExperimentBody>,
): Promise<Experiment> {
  const e: Experiment = {
    uuid: (deps.newId ?? newId)(),
    name: body.name,
    runName: body.run_name,
    metadata: body.metadata,
    createdAt: (deps.now?.() ?? new Date()).toISOString(),
    status: 'running',
    finishedAt: null,
    numSamples: null,
    pinnedStats: [],
    datasetLevelStats: [],
  };
  const out = await deps.experiments.create(tenant, e);
  if (out.created) return e;
  const existing = out.existing;
  if (existing && existing.status === 'running' && JSON.stringify(existing.metadata) === JSON.stringify(e.metadata)) return existing;
  throw new ExperimentError(
    'run_name_taken',
    `run name ${JSON.stringify(e.runName)} is already used by experiment ${existing?.uuid ?? '(unknown)'} of ${JSON.stringify(e.name)}: run names are unique per experiment name`,
  );
}

/** The stats the SDKs read: per root tree, and the dataset-level scores the runner sent. */
export interface ExperimentStats {
  parent_trace_stats: TraceStats[];
  dataset_level_stats: StatScore[];
}

/** POST /experiment/{uuid}/finished: computes the stats from its trees, pins them, marks it finished. */
export async function finishExperiment(
  deps: ExperimentDeps,
  tenant: Tenant,
  uuid: string,
  body: z.infer<typeof FinishExperimentBody>,
): Promise<ExperimentStats> {
  const e = await experimentOrThrow(deps, tenant, uuid);
  const stats = await computeTraceStats(deps, tenant, uuid);
  const datasetLevel = (body.dataset_level_stats ?? []).map(scoreOf);
  const finished: Experiment = {
    ...e,
    status: body.status ?? 'completed',
    finishedAt: (deps.now?.() ?? new Date()).toISOString(),
    numSamples: stats.length,
    pinnedStats: pinned(stats, datasetLevel),
    datasetLevelStats: datasetLevel,
  };
  await deps.experiments.finish(tenant, finished, stats);
  return { parent_trace_stats: stats, dataset_level_stats: datasetLevel };
}

/** GET /experiment/{uuid}/stats: the pinned stats once finished; before, computed from its trees as they are now. */
export async function experimentStats(deps: ExperimentDeps, tenant: Tenant, uuid: string): Promise<ExperimentStats> {
  const e = await experimentOrThrow(deps, tenant, uuid);
  const pinnedStats = e.finishedAt === null ? null : await deps.experiments.stats(tenant, uuid);
  return { parent_trace_stats: pinnedStats ?? (await computeTraceStats(deps, tenant, uuid)), dataset_level_stats: e.datasetLevelStats };
}

async function experimentOrThrow(deps: ExperimentDeps, tenant: Tenant, uuid: string): Promise<Experiment> {
  const e = Buffer.byteLength(uuid) <= MAX_SPAN_ID_BYTES ? await deps.experiments.get(tenant, uuid) : null;
  if (e === null) throw new ExperimentError('not_found', `no experiment ${uuid} in this project (create it with POST /experiment)`);
  return e;
}

export const MAX_LIST = 1000;

/** POST /experiments: the project's experiments, newest first, that pass every filter given; `limit` and `cursor` page them. */
export async function listExperiments(
  deps: ExperimentDeps,
  tenant: Tenant,
  body: z.infer<typeof ListExperimentsBody>,
  page: { limit?: number | undefined; cursor?: string | undefined },
): Promise<{ experiments: Experiment[]; nextCursor: string | null }> {
  const limit = page.limit ?? MAX_LIST;
  const metadataFilter = body.metadata_filter ? Object.entries(body.metadata_filter).map(([k, v]) => [k, stringifyValue(v)] as const) : [];
  const matches = (e: Experiment) =>
    (!body.run_name_filter || e.runName === body.run_name_filter) &&
    (!body.experiment_name_filter || e.name === body.experiment_name_filter) &&
    metadataFilter.every(([k, v]) => e.metadata !== null && e.metadata[k] === v);
  if (body.experiment_uuids) {
    const found = await deps.experiments.getMany(tenant, body.experiment_uuids);
    const order = new Map(body.experiment_uuids.map((u, i) => [u, i]));
    return { experiments: found.filter(matches).sort((a, b) => order.get(a.uuid)! - order.get(b.uuid)!), nextCursor: null };
  }
  const after = page.cursor === undefined ? undefined : decodeListCursor(page.cursor);
  const out: Experiment[] = [];
  let last: string | undefined;
  const it = deps.experiments.list(tenant, { name: body.experiment_name_filter || undefined, after })[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await it.next();
      if (next.done) return { experiments: out, nextCursor: null };
      if (!matches(next.value.experiment)) continue;
      if (out.length === limit) return { experiments: out, nextCursor: encodeListCursor(last!) };
      out.push(next.value.experiment);
      last = next.value.position;
    }
  } finally {
    await it.return?.(undefined);
  }
}

const encodeListCursor = (position: string) => Buffer.from(JSON.stringify({ v: 1, p: position })).toString('base64url');

function decodeListCursor(cursor: string): string {
  try {
    const body = z
      .object({ v: z.literal(1), p: z.string().min(1).max(600) })
      .parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return body.p;
  } catch {
    throw new ExperimentError('invalid_cursor', 'cursor is not a cursor this API issued');
  }
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

export const DEFAULT_STATS_BUDGET_MS = 20_000;

function scoreOf(s: { name: string; score: number; reason?: string | null | undefined }): StatScore {
  return { name: s.name, score: s.score, ...(typeof s.reason === 'string' ? { reason: s.reason } : {}) };
}

/** A figure that is a finite, non-negative number, else 0. */
const figure = (v: unknown) => {
  const n = toFiniteNumber(v);
  return n === null || n < 0 ? 0 : n;
};

/** Seconds from start to end, or null. */
function latencyOf(node: TreeNode): number | null {
  const l = toFiniteNumber(node.latency);
  if (l !== null && l >= 0) return l;
  if (typeof node.end_timestamp !== 'string') return null;
  const start = parseTimestampMicros(node.start_timestamp);
  const end = parseTimestampMicros(node.end_timestamp);
  return start === null || end === null || end < start ? null : (end - start) / 1e6;
}

/**
 * One root tree's figures: the root's latency (its own, or end minus start); tokens and cost
 * added up over every span of the tree (the SDKs put them on the LLM spans); every span's
 * scores, the root's first, in tree order.
 */
export function treeStats(root: TreeNode): TraceStats {
  const out: TraceStats = {
    trace_id: root.trace_id,
    latency: latencyOf(root) ?? 0,
    input_tokens: 0,
    output_tokens: 0,
    total_tokens: 0,
    cost: 0,
    scores: [],
  };
  for (const node of walkForest([root])) {
    const inTok = figure(node.input_tokens);
    const outTok = figure(node.output_tokens);
    out.input_tokens += inTok;
    out.output_tokens += outTok;
    out.total_tokens += toFiniteNumber(node.total_tokens) !== null ? figure(node.total_tokens) : inTok + outTok;
    out.cost += figure(node.cost);
    for (const s of normalizeScores(node.scores))
      out.scores.push(scoreOf({ name: s.name, score: s.score, reason: typeof s.reason === 'string' ? s.reason : undefined }));
  }
  out.cost = Math.round(out.cost * 1e12) / 1e12;
  return out;
}

/** Every root tree of the experiment (the experiment read's trees, in its order), summarized; within the budget or ExperimentError too_large. */
export async function computeTraceStats(
  deps: Pick<ExperimentDeps, 'spans' | 'statsBudgetMs'>,
  tenant: Tenant,
  uuid: string,
): Promise<TraceStats[]> {
  const deadline = Date.now() + (deps.statsBudgetMs ?? DEFAULT_STATS_BUDGET_MS);
  const stats: TraceStats[] = [];
  let group: { root: string; docs: string[] } | null = null;
  let spans = 0;
  const flush = () => {
    if (group === null) return;
    for (const tree of buildForest(group.docs.map((d) => JSON.parse(d) as Record<string, unknown>))) stats.push(treeStats(tree));
    group = null;
  };
  for await (const s of deps.spans.experimentSpans(tenant, uuid, null)) {
    if (group !== null && group.root !== s.rootTraceId) flush();
    if (group === null) group = { root: s.rootTraceId, docs: [] };
    group.docs.push(s.doc);
    if (++spans % 1000 === 0 && Date.now() > deadline) {
      throw new ExperimentError(
        'answer_too_large',
        `experiment ${uuid} has too many spans to summarize in one request (${spans} read in ${deps.statsBudgetMs ?? DEFAULT_STATS_BUDGET_MS} ms)`,
      );
    }
  }
  flush();
  return stats;
}

/** The means pinned on a finished experiment: each score name's, the five figures', and each dataset-level score. */
export function pinned(stats: readonly TraceStats[], datasetLevel: readonly StatScore[]): PinnedStatistic[] {
  const out: PinnedStatistic[] = [];
  const mean = (values: number[]) => Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 1e9) / 1e9;
  const byName = new Map<string, number[]>();
  for (const t of stats) for (const s of t.scores) (byName.get(s.name) ?? byName.set(s.name, []).get(s.name)!).push(s.score);
  for (const [n, values] of byName) out.push({ var1: n, operation: 'mean', value: mean(values) });
  if (stats.length > 0) {
    for (const f of ['latency', 'input_tokens', 'output_tokens', 'total_tokens', 'cost'] as const)
      out.push({ var1: f, operation: 'mean', value: mean(stats.map((t) => t[f])) });
  }
  for (const d of datasetLevel) out.push({ var1: d.name, operation: 'custom', value: d.score });
  return out;
}
