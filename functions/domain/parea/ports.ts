/**
 * The trace-log (Parea) capability's ports: the span store and the root index the use cases read and
 * write, and what each use case is given. No AWS types: functions/adapters/dynamo/span-store.ts and
 * trace-log-roots.ts implement them; tests use in-memory ones.
 */
import type { SpanStatsSink } from '../stats.js';
import type { Tenant } from '../tenancy.js';
import type { RootFacts } from './roots.js';

/** One span as stored. */
export interface SpanRecord {
  traceId: string;
  rootTraceId: string;
  /** null while only patches exist. */
  parentTraceId: string | null;
  /** The experiment the span is listed under (from the materialized span); null: none. */
  experimentUuid: string | null;
  /** The posted span (JSON text); null until posted. */
  base: string | null;
  /** PUT field maps (JSON texts), in arrival order. */
  patches: string[];
  /** The materialized span (JSON text); null while only patches exist. */
  doc: string | null;
  /** Optimistic concurrency: 0 = not stored yet; every write adds one. */
  version: number;
  /** When it expires (epoch seconds, set by the store from the retention when first stored); kept by every later write. */
  expiresAt?: number;
  /** The root index (and its counters) holds this span as a tree's root: set by every write of a root, false or absent otherwise. */
  rootIndexed?: boolean;
}

/** A span write's change of the root index (./roots.ts; ./list.ts reads it): what it kept before, and after. */
export interface RootChange {
  before: RootFacts | null;
  after: RootFacts | null;
}

/** Where an experiment read starts: at a tree (its spans included) or right after it. */
export interface SpanPosition {
  rootTraceId: string;
  include: boolean;
}

/** A materialized span of an experiment, as the index serves it. */
export interface ExperimentSpan {
  rootTraceId: string;
  doc: string;
}

export interface SpanStore {
  /** The span, read consistently, or null. */
  get(tenant: Tenant, traceId: string): Promise<SpanRecord | null>;
  /** The stored ones of up to 100 spans, read consistently in one call (optional: callers fall back to `get`). */
  getMany?(tenant: Tenant, traceIds: readonly string[]): Promise<Map<string, SpanRecord>>;
  /**
   * Writes `next` (whose version is the stored one plus one) if the stored version is still
   * `next.version - 1` (1: no item yet). False on a conflict (someone wrote in between).
   * `root`: the write changes what the root index keeps (the span becomes, stops being or moves
   * as a tree's root): the index entry and its counters are written in the same transaction.
   */
  save(tenant: Tenant, next: SpanRecord, root?: RootChange): Promise<boolean>;
  /** The materialized spans (doc) of every span whose root is `rootTraceId`. */
  treeDocs(tenant: Tenant, rootTraceId: string): Promise<string[]>;
  /**
   * The materialized spans of one experiment, every span of a tree next to each other, trees in
   * a stable order (the index's), from `from` on. Read lazily: stopping early reads no further.
   */
  experimentSpans(tenant: Tenant, experimentUuid: string, from: SpanPosition | null): AsyncIterable<ExperimentSpan>;
}

/** A root index entry, as the index serves it. */
export interface RootEntry {
  rootTraceId: string;
  traceId: string;
  start: string;
}

export interface RootRange {
  status?: string | undefined;
  /** Normalized instant: roots that started at or after it. */
  since?: string | undefined;
}

export interface TraceLogRootIndex {
  /** Root entries newest first (or oldest first with `forward`), read lazily over the shards. */
  roots(tenant: Tenant, range: RootRange, forward: boolean, expect: number): AsyncIterable<RootEntry>;
  /** How many roots the range holds: from the counters (and one hour's entries at most). */
  count(tenant: Tenant, range: RootRange): Promise<number>;
}

/** What the ingest use case is given to store a file's spans (an optional port of IngestDeps). */
export interface SpanSink {
  recordMany(tenant: Tenant, records: readonly Record<string, unknown>[], nowIso: string): Promise<void>;
}

/** What the trace-log use cases (write, read) are given. */
export interface TraceLogDeps {
  store: SpanStore;
  now?: () => Date;
  log?: (entry: Record<string, unknown>) => void;
  /** How long an experiment read may go on before it answers what it has with a cursor (ms). */
  readBudgetMs?: number;
  /** Optional: where each stored change of a span's figures is added up per hour, for the charts (../stats.ts). */
  stats?: SpanStatsSink;
}
