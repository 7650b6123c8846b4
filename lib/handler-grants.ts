/**
 * What each Lambda entry may touch: THE one place for data-plane permissions.
 *
 * Adding a route = one line here (its handler name → grants). A handler with
 * no entry fails the synth, so nothing ships with accidental permissions or
 * silently without the ones it needs. Queue consumption (ingest) and API
 * Gateway invoke permissions are wired by the stateless stack, not here.
 */
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INDEXES } from '../functions/adapters/dynamo/schema.js';
import { INGEST_PREFIXES, workerHandlers } from '../functions/routes.js';
import { PAYLOADS_PREFIX } from './layout.js';
import { EXPORTS_PREFIX, SEARCH_PREFIX, UPLOADS_PREFIX } from '../functions/domain/layout.js';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { acknowledgeWildcardResource } from './nag.js';

export type TableAccess = 'read' | 'readWrite';
export type ObjectAccess = 'read' | 'write' | 'readWrite' | 'delete';

export type HandlerGrant =
  | { readonly target: 'table'; readonly access: TableAccess }
  /** Objects under one key prefix (`uploads/`), never the whole bucket, never ListBucket. */
  | { readonly target: 'objects'; readonly access: ObjectAccess; readonly prefix: string }
  /** Sends messages to the job queue (export and delete-by-filter steps); the handler also gets JOBS_QUEUE_URL. */
  | { readonly target: 'jobQueue'; readonly access: 'send' }
  /**
   * The search index (LanceDB on S3): its objects under `search/`, ListBucket of that prefix only
   * (the engine lists a table's versions and files), and its commit table (which orders writers' commits).
   */
  | { readonly target: 'searchIndex'; readonly access: 'read' | 'readWrite' };

export const tableRead: HandlerGrant = { target: 'table', access: 'read' };
export const tableReadWrite: HandlerGrant = { target: 'table', access: 'readWrite' };
export const objectsRead = (prefix: string): HandlerGrant => ({ target: 'objects', access: 'read', prefix });
/** Put-only, e.g. for a handler that presigns upload URLs (the URL carries the signer's permissions). */
export const objectsWrite = (prefix: string): HandlerGrant => ({ target: 'objects', access: 'write', prefix });
export const objectsReadWrite = (prefix: string): HandlerGrant => ({ target: 'objects', access: 'readWrite', prefix });
export const objectsDelete = (prefix: string): HandlerGrant => ({ target: 'objects', access: 'delete', prefix });
export const jobQueueSend: HandlerGrant = { target: 'jobQueue', access: 'send' };
export const searchIndexRead: HandlerGrant = { target: 'searchIndex', access: 'read' };
export const searchIndexReadWrite: HandlerGrant = { target: 'searchIndex', access: 'readWrite' };

/** Handler name (file `functions/handlers/<name>.ts`) → its grants. */
export const HANDLER_GRANTS: Readonly<Record<string, readonly HandlerGrant[]>> = {
  [workerHandlers.ingest]: [tableReadWrite, ...INGEST_PREFIXES.map((prefix) => objectsRead(prefix)), objectsReadWrite(PAYLOADS_PREFIX)],
  [workerHandlers.authorizer]: [tableRead],
  // Deletes expired traces through the trace delete path (as deleteTrace), finding them with Query.
  [workerHandlers.retentionSweep]: [tableReadWrite, objectsDelete(PAYLOADS_PREFIX)],
  // Answer from code alone: no store, no bucket.
  health: [],
  openapi: [],
  organizations: [tableRead],
  // Presigning signs with the function's own role: the URL can do exactly what the role may, put under uploads/.
  presignUpload: [tableRead, objectsWrite(UPLOADS_PREFIX)],
  // Create ingests on the spot with the same core as the worker when the queue has not yet delivered.
  createTraces: [tableReadWrite, objectsRead(UPLOADS_PREFIX), objectsReadWrite(PAYLOADS_PREFIX)],
  // A search reads the index (and its unindexed tail, the indexer's work items, from the table).
  listTraces: [tableRead, objectsRead(PAYLOADS_PREFIX), searchIndexRead],
  listSources: [tableRead],
  getTrace: [tableRead, objectsRead(PAYLOADS_PREFIX)],
  deleteTrace: [tableReadWrite, objectsDelete(PAYLOADS_PREFIX)],
  getUpload: [tableRead],
  createEvaluation: [tableReadWrite],
  listEvaluations: [tableRead],
  getEvaluation: [tableRead],
  getEvaluationResult: [tableRead],
  // The verdict, the trace's summary, status member and counters in one transaction.
  postEvaluationResult: [tableReadWrite],
  // Answers 404 not_implemented after the tenant check: touches nothing.
  notImplemented: [],
  // Reads the hourly trace counters and span-stats items of a bounded window with Query.
  getStats: [tableRead],
  pareaProject: [tableReadWrite],
  recordTraceLog: [tableReadWrite],
  updateTraceLog: [tableReadWrite],
  getTraceLog: [tableRead],
  // The tree builder: reads one experiment's spans with paginated Query calls.
  experimentTraceLogs: [tableRead],
  // Jobs (functions/domain/jobs.ts): a step reads and deletes traces as the delete route does, writes export parts
  // (multipart: s3:PutObject) and carry objects under exports/, reads offloaded documents, and sends the next step.
  // A search filter reads the index, as the list's does.
  [workerHandlers.jobWorker]: [
    tableReadWrite,
    objectsReadWrite(EXPORTS_PREFIX),
    objectsRead(PAYLOADS_PREFIX),
    objectsDelete(PAYLOADS_PREFIX),
    jobQueueSend,
    searchIndexRead,
  ],
  // Puts the job item and its first step's message; a dry run counts with Query.
  createJob: [tableReadWrite, jobQueueSend, searchIndexRead],
  // Reads the job item; a completed export's download URL is signed with this role (s3:GetObject under exports/).
  getJob: [tableRead, objectsRead(EXPORTS_PREFIX)],
  // JSON Lines pages of the list's matches (documents from payloads/) and of an experiment's spans.
  exportTraces: [tableRead, objectsRead(PAYLOADS_PREFIX), searchIndexRead],
  exportSpans: [tableRead],
  // Experiments: their items and stats chunks (a finish reads the experiment's spans with Query and writes the stats).
  createExperiment: [tableReadWrite],
  finishExperiment: [tableReadWrite],
  experimentStats: [tableRead],
  listExperiments: [tableRead],
  // Feedback is an update of the span; a LangChain run is stored as spans.
  recordFeedback: [tableReadWrite],
  recordLangchainRun: [tableReadWrite],
  // The root index (Query over its shards, BatchGetItem of counters and root spans) and the listed trees.
  getTraceLogs: [tableRead],
  // OTLP export: spans and traces (and their counters) in the table; a trace's large document in payloads/,
  // each write under a key of its own, the one it replaced deleted.
  otlpTraces: [tableReadWrite, objectsReadWrite(PAYLOADS_PREFIX), objectsDelete(PAYLOADS_PREFIX)],
  // Reads the traces and its work items, drops done work, holds a lease per project; writes the index's segments.
  [workerHandlers.searchIndexer]: [tableReadWrite, searchIndexReadWrite],
};

/**
 * DynamoDB actions per access level. Explicit rather than `table.grantReadData()`:
 * no Scan (nothing scans the table), no stream actions (the table has no stream).
 * Transactions need no action of their own: TransactWriteItems is authorized per
 * item as PutItem, UpdateItem, DeleteItem or ConditionCheckItem.
 */
export const TABLE_ACTIONS: Readonly<Record<TableAccess, readonly string[]>> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
    'dynamodb:DescribeTable',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

/** S3 object actions per access level (object ARNs only). */
export const OBJECT_ACTIONS: Readonly<Record<ObjectAccess, readonly string[]>> = {
  read: ['s3:GetObject', 's3:GetObjectVersion'],
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  readWrite: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject', 's3:AbortMultipartUpload'],
  delete: ['s3:DeleteObject'],
};

export function grantsFor(handlerName: string): readonly HandlerGrant[] {
  const grants = Object.hasOwn(HANDLER_GRANTS, handlerName) ? HANDLER_GRANTS[handlerName] : undefined;
  if (grants === undefined) {
    throw new Error(
      `Handler "${handlerName}" has no entry in HANDLER_GRANTS (lib/handler-grants.ts). ` +
        `Add one line, e.g. ${handlerName}: [tableRead], listing what it may access (use [] for nothing).`,
    );
  }
  return grants;
}

export interface GrantTargets {
  readonly bucket: IBucket;
  readonly table: ITable;
  /** The job queue (a handler with jobQueueSend needs it). */
  readonly jobQueue?: IQueue;
  /** The search index's commit table (stateful stack); needed by handlers granted `searchIndex`. */
  readonly searchCommitTable?: ITable;
}

/** The search index's actions per access level: S3 objects under SEARCH_PREFIX, and the commit table. */
export const SEARCH_INDEX_ACTIONS = {
  objects: {
    read: ['s3:GetObject'],
    readWrite: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
  },
  commitTable: {
    read: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'],
    readWrite: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DescribeTable', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  },
} as const;

/** The table and each of its indexes by name (from schema.ts): no `index/*` wildcard. */
export function tableResources(table: ITable): string[] {
  return [table.tableArn, ...INDEXES.map((index) => `${table.tableArn}/index/${index.name}`)];
}

export function applyGrants(grantee: IGrantable, grants: readonly HandlerGrant[], targets: GrantTargets): void {
  for (const grant of grants) {
    switch (grant.target) {
      case 'table':
        grantee.grantPrincipal.addToPrincipalPolicy(
          new PolicyStatement({ actions: [...TABLE_ACTIONS[grant.access]], resources: tableResources(targets.table) }),
        );
        break;
      case 'objects': {
        if (!grant.prefix.endsWith('/') || grant.prefix.includes('*')) {
          throw new Error(`Object grant prefix "${grant.prefix}" must end with "/" and contain no wildcard`);
        }
        const objects = targets.bucket.arnForObjects(`${grant.prefix}*`);
        grantee.grantPrincipal.addToPrincipalPolicy(
          new PolicyStatement({ actions: [...OBJECT_ACTIONS[grant.access]], resources: [objects] }),
        );
        acknowledgeObjectPrefix(grantee, objects, grant.prefix);
        break;
      }
      case 'jobQueue':
        if (!targets.jobQueue) throw new Error('a jobQueue grant needs the job queue among the grant targets');
        targets.jobQueue.grantSendMessages(grantee);
        break;
      case 'searchIndex': {
        if (!targets.searchCommitTable) throw new Error('a searchIndex grant needs the search commit table');
        const objects = targets.bucket.arnForObjects(`${SEARCH_PREFIX}*`);
        const principal = grantee.grantPrincipal;
        principal.addToPrincipalPolicy(
          new PolicyStatement({ actions: [...SEARCH_INDEX_ACTIONS.objects[grant.access]], resources: [objects] }),
        );
        principal.addToPrincipalPolicy(
          new PolicyStatement({
            actions: ['s3:ListBucket'],
            resources: [targets.bucket.bucketArn],
            conditions: { StringLike: { 's3:prefix': [`${SEARCH_PREFIX}*`] } },
          }),
        );
        principal.addToPrincipalPolicy(
          new PolicyStatement({
            actions: [...SEARCH_INDEX_ACTIONS.commitTable[grant.access]],
            resources: [targets.searchCommitTable.tableArn],
          }),
        );
        acknowledgeObjectPrefix(grantee, objects, SEARCH_PREFIX);
        break;
      }
    }
  }
}

/**
 * The one wildcard the grants use: the objects under a key prefix. Object keys
 * are made at run time (`uploads/<org>/<project>/<file>`, `payloads/…`), so a
 * prefix is as narrow as an S3 object grant can be. Acknowledged per finding
 * (this bucket's ARN, this prefix) on the role that holds it, nothing broader.
 */
function acknowledgeObjectPrefix(grantee: IGrantable, objects: string, prefix: string): void {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) return;
  acknowledgeWildcardResource(
    principal,
    objects,
    `Object keys under ${prefix} are created at run time (organization, project, file name), so the grant is the ` +
      `key prefix ${prefix}* of the one trace bucket, with only the object actions this handler needs ` +
      '(lib/handler-grants.ts): no bucket-wide, list or wildcard-action permission.',
  );
}

/** Convenience: look up and apply in one go (throws for an unknown handler). */
export function grantHandler(handlerName: string, grantee: IGrantable, targets: GrantTargets): void {
  applyGrants(grantee, grantsFor(handlerName), targets);
}
