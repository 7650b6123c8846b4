import { createHash } from 'node:crypto';
import { objectKeyHash } from '../../domain/ids.js';

export const HOUR_COUNTER_PREFIX = 'COUNTER#H#';
export const EVAL_COUNTER_PREFIX = 'COUNTER#EV#';

/**
 * How many partition key values one project's list index entries are spread over. DynamoDB
 * serves at most 1,000 write units a second per partition key value and cannot split a key
 * whose writes always land at the end of its range (time-ordered keys do): 32 shards let one
 * project take about 30,000 one-unit index writes a second. Reads merge the shards' sorted streams.
 */
export const TRACE_SHARDS = 32;
/** An experiment's spans, spread by tree (a tree stays in one shard, so trees come whole). */
export const EXPERIMENT_SHARDS = 16;
/** One tree's spans, spread by span. */
export const TREE_SHARDS = 8;
/** A project's trace-log roots (the get_trace_logs index) and their counters, spread by tree. */
export const LOG_ROOT_SHARDS = 16;
/** The counters evaluations and deletes move (by status, by judge) are spread over this many items. */
export const EVAL_COUNTER_SHARDS = 8;

/** The shard (0 ≤ shard < n) an id falls in: a hash, so any id spreads evenly. */
export function shardOf(id: string, n: number): number {
  return createHash('md5').update(id).digest().readUInt32BE(0) % n;
}

/** Every shard number, 0 to n - 1. */
export function allShards(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const tag = (shard: number) => String(shard).padStart(2, '0');

/** A free-form key segment (a source, a judge, a root id): `%` and `#` percent-encoded, so the segments of a key never run together. */
export function segment(s: string): string {
  return s.replace(/%/g, '%25').replace(/#/g, '%23');
}

/** Key builders: every item of a tenant is keyed by its organization and project. */
export const keys = {
  trace: (org: string, project: string, id: string) => ({ pk: `T#${org}#${project}#${id}`, sk: 'T' }),
  projectPartition: (org: string, project: string) => `P#${org}#${project}`,
  object: (org: string, project: string, objectKey: string) => ({ pk: `P#${org}#${project}`, sk: `OBJ#${objectKeyHash(objectKey)}` }),
  upload: (org: string, project: string, uploadId: string) => ({ pk: `P#${org}#${project}`, sk: `UPLOAD#${uploadId}` }),
  /** One chunk of an upload's trace ids: a partition of its own (a 5,000-id chunk is about 180 write units). */
  uploadIds: (org: string, project: string, uploadId: string, index: number) => ({
    pk: `U#${org}#${project}#${uploadId}#${index}`,
    sk: 'IDS',
  }),
  /** Before the sharded layout: an upload's id chunks in the project's partition. */
  legacyUploadIds: (org: string, project: string, uploadId: string, index: number) => ({
    pk: `P#${org}#${project}`,
    sk: `UPLOAD#${uploadId}#IDS#${String(index).padStart(6, '0')}`,
  }),
  uploadCounted: (org: string, project: string, uploadId: string, group: number) => ({
    pk: `P#${org}#${project}`,
    sk: `UPLOAD#${uploadId}#COUNTED#${group}`,
  }),
  /**
   * A completed upload's place in the filename order (gsi1): what `sort_by=filename` walks. A key of
   * its own: an OTel trace is an "upload" of one, so these come as fast as traces do.
   */
  uploadByFilename: (org: string, project: string, uploadId: string) => ({ pk: `UFN#${org}#${project}#${uploadId}`, sk: 'UFN' }),
  counter: (org: string, project: string) => ({ pk: `P#${org}#${project}`, sk: 'COUNTER' }),
  /** The traces created in one UTC hour (`YYYY-MM-DDTHH`): time-range totals sum these. */
  hourCounter: (org: string, project: string, createdAt: string) => ({
    pk: `P#${org}#${project}`,
    sk: `${HOUR_COUNTER_PREFIX}${createdAt.slice(0, 13)}`,
  }),
  /** One shard of the counters by evaluation status and by judge. */
  evalCounter: (org: string, project: string, shard: number) => ({ pk: `P#${org}#${project}`, sk: `${EVAL_COUNTER_PREFIX}${tag(shard)}` }),
  /** A trace's membership items: its status (`ST`) and each judge (`J#<judge>`), which the status and judge indexes list. */
  traceMember: (org: string, project: string, traceId: string, sk: string) => ({ pk: `TM#${org}#${project}#${traceId}`, sk }),
  organization: (org: string) => ({ pk: `ORG#${org}`, sk: 'ORG' }),
  project: (org: string, project: string) => ({ pk: `ORG#${org}`, sk: `PROJECT#${project}` }),
  organizationName: (name: string) => ({ pk: `ORGNAME#${name}`, sk: 'ORGNAME' }),
  apiKey: (hash: string) => ({ pk: `KEY#${hash}`, sk: 'KEY' }),
  /** An export or delete-by-filter job: a partition of its own (one write per step), its export parts beside it. */
  job: (org: string, project: string, jobId: string) => ({ pk: `JOB#${org}#${project}#${jobId}`, sk: 'JOB' }),
  jobPart: (org: string, project: string, jobId: string, part: number) => ({
    pk: `JOB#${org}#${project}#${jobId}`,
    sk: `PART#${String(part).padStart(5, '0')}`,
  }),
};

export const STATUS_MEMBER = 'ST';
export const judgeMember = (judgeId: string) => `J#${judgeId}`;

/**
 * Index partitions of a project's traces, one per shard. Every list index sorts by the trace's
 * order key (`orderKey`), so any of them takes a time range as a key condition.
 */
export const traceIndex = {
  /** gsi4: every trace. */
  all: (org: string, project: string, shard: number) => `TC#${org}#${project}#${tag(shard)}`,
  /** gsi5: the traces of one source. */
  source: (org: string, project: string, shard: number, source: string) => `TS#${org}#${project}#${tag(shard)}#${segment(source)}`,
  /** gsi2 (status member items): the traces whose evaluation status is `status`. */
  status: (org: string, project: string, status: string, shard: number) => `TE#${org}#${project}#${status}#${tag(shard)}`,
  /** gsi3 (status member items): the same, of one source. */
  statusSource: (org: string, project: string, status: string, shard: number, source: string) =>
    `TES#${org}#${project}#${status}#${tag(shard)}#${segment(source)}`,
  /** gsi2 (judge member items): the traces a judge evaluated. */
  judge: (org: string, project: string, shard: number, judgeId: string) => `TJ#${org}#${project}#${tag(shard)}#${segment(judgeId)}`,
  /** gsi3 (judge member items): the same, of one source. */
  judgeSource: (org: string, project: string, shard: number, judgeId: string, source: string) =>
    `TJS#${org}#${project}#${tag(shard)}#${segment(judgeId)}#${segment(source)}`,
  /** gsi1 (upload-by-filename items): a project's completed uploads in filename order, sharded by upload. */
  uploadsByFilename: (org: string, project: string, shard: number) => `UF#${org}#${project}#${tag(shard)}`,
};

/** Index partitions of a project's spans. */
export const spanIndex = {
  /** gsi4: an experiment's spans, sharded by tree. */
  experiment: (org: string, project: string, experimentUuid: string, shard: number) =>
    `SX#${org}#${project}#${tag(shard)}#${experimentUuid}`,
  /** gsi5: a tree's spans, sharded by span. */
  tree: (org: string, project: string, rootTraceId: string, shard: number) => `SR#${org}#${project}#${tag(shard)}#${rootTraceId}`,
};

/** The root index of a project's trace logs (functions/adapters/dynamo/trace-log-roots.ts). */
export const logRootIndex = {
  /** A tree's member item (one per root_trace_id). */
  member: (org: string, project: string, rootTraceId: string) => ({ pk: `LR#${org}#${project}#${rootTraceId}`, sk: 'R' }),
  /** gsi1: every root of the project, by start instant. */
  all: (org: string, project: string, shard: number) => `LRA#${org}#${project}#${tag(shard)}`,
  /** gsi2: the roots of one status. */
  status: (org: string, project: string, shard: number, status: string) => `LRS#${org}#${project}#${tag(shard)}#${segment(status)}`,
  /** gsi3: the roots whose spans carry a retention horizon, by that horizon (what the retention sweep retires). */
  retiring: (org: string, project: string, shard: number) => `LRX#${org}#${project}#${tag(shard)}`,
  /** The roots counted in one shard: all time (`ALL`) and per hour of their start (`H#<YYYY-MM-DDTHH>`). */
  counter: (org: string, project: string, shard: number, sk: string) => ({ pk: `LRN#${org}#${project}#${tag(shard)}`, sk }),
};

/**
 * Where a trace sorts in every list: creation time, then its upload, then its position in the
 * file (newest first, ties in file order). Unique per trace: 16 hex digits of the upload's id
 * (a hash) tell two uploads of the same millisecond apart.
 */
export function orderKey(createdAt: string, uploadId: string, position: number): string {
  return `${createdAt}#${uploadId.replace(/-/g, '').slice(0, 16)}#${String(position).padStart(10, '0')}`;
}

/** The creation time an order key starts with (ISO 8601, 24 characters). */
export function createdAtOf(order: string): string {
  return order.slice(0, 24);
}

/** The part of an order key every trace of one upload shares. */
export function uploadOrderPrefix(createdAt: string, uploadId: string): string {
  return orderKey(createdAt, uploadId, 0).slice(0, -10);
}

/** How much of a filename the filename order sorts by (sort keys are capped at 1,024 bytes). */
const FILENAME_SORT_BYTES = 512;

/** An upload's place in the filename order: its filename (the first 512 bytes), then its creation time and id. */
export function filenameSortKey(filename: string, createdAt: string, uploadId: string): string {
  return `${utf8Prefix(filename, FILENAME_SORT_BYTES)}#${createdAt}#${uploadId}`;
}

/** The longest prefix of `s` of at most `maxBytes` UTF-8 bytes that does not split a character. */
export function utf8Prefix(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let i = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += ch.length;
  }
  return s.slice(0, i);
}
