/**
 * Everything that can be redeployed at will: the ingest queue and its DLQ, the
 * bucket → queue notifications, one Lambda per entry file, the HTTP API (with
 * access logs) and the alarms with their SNS topic.
 * Routes come from functions/routes.ts and permissions from
 * lib/handler-grants.ts, so adding a route is a data change, not a stack change.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { API_MEMORY_MB, INGEST_MEMORY_MB } from './node-options.js';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  LogGroupLogDestination,
  type HttpStage,
  type IHttpRouteAuthorizer,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, type MathExpression, TreatMissingData, type Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { OperationsDashboard, ingestMetrics } from './constructs/dashboard.js';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Bucket, EventType, type IBucket } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { MAX_FILE_BYTES } from '../functions/domain/limits.js';
import {
  AUTHORIZER_CACHE_TTL_MS,
  CREATE_INGEST_BUDGET_MS,
  EXPORT_PART_BYTES,
  JOB_STALL_MS,
  JOB_STEP_BUDGET_MS,
} from '../functions/shared/env-defaults.js';
import { INGEST_PREFIXES, routes, workerHandlers, type RouteAuth } from '../functions/routes.js';
import type { AppConfig } from './config.js';
import { TraceFunction } from './constructs/trace-function.js';
import { Viewer } from './constructs/viewer.js';
import { grantHandler, grantsFor } from './handler-grants.js';
import { INGEST_BATCH_SIZE, MAX_RECEIVE_COUNT } from './ingest-delivery.js';
import { DROP_PREFIX } from './layout.js';
import { acknowledge } from './nag.js';
import { SEARCH_ENGINE_HANDLERS, searchEngineBundling } from './search-engine.js';
import { SEARCH_PREFIX } from '../functions/domain/layout.js';

export { MAX_RECEIVE_COUNT } from './ingest-delivery.js';
// The functions' defaults this stack passes on (their values and reasons: functions/shared/env-defaults.ts).
export { AUTHORIZER_CACHE_TTL_MS, CREATE_INGEST_BUDGET_MS, EXPORT_PART_BYTES, JOB_STALL_MS, JOB_STEP_BUDGET_MS };

export interface FunctionSizing {
  readonly memorySize: number;
  readonly timeout: Duration;
}

export const INGEST_SIZING: FunctionSizing = { memorySize: INGEST_MEMORY_MB, timeout: Duration.minutes(5) };
/** Authorizer and HTTP route handlers. */
export const API_SIZING: FunctionSizing = { memorySize: API_MEMORY_MB, timeout: Duration.seconds(10) };
/**
 * Create may ingest a whole 50 MiB file inline (for up to CREATE_INGEST_BUDGET_MS, then a 202):
 * the ingest worker's memory, and API Gateway's own 29 s as its timeout.
 */
export const CREATE_SIZING: FunctionSizing = { memorySize: INGEST_MEMORY_MB, timeout: Duration.seconds(29) };

/** The retention sweep: deletes expired traces one by one, up to a bound a run, and stops in time (functions/handlers/retentionSweep.ts). */
export const RETENTION_SWEEP_SIZING: FunctionSizing = { memorySize: API_MEMORY_MB, timeout: Duration.minutes(5) };
/** How often the retention sweep runs. */
export const RETENTION_SWEEP_SCHEDULE = Duration.hours(1);

/** The job worker: one export or delete step after another for up to JOB_STEP_BUDGET_MS, an EXPORT_PART_BYTES part in memory. */
export const JOB_WORKER_SIZING: FunctionSizing = { memorySize: 1024, timeout: Duration.minutes(5) };
/** AWS guidance for SQS → Lambda: visibility ≥ 6 × function timeout; a crashed step is delivered again after it. */
export const JOB_VISIBILITY_TIMEOUT = Duration.seconds(6 * JOB_WORKER_SIZING.timeout.toSeconds());
if (
  JOB_STEP_BUDGET_MS * 2 > JOB_WORKER_SIZING.timeout.toMilliseconds() ||
  JOB_STALL_MS <= JOB_WORKER_SIZING.timeout.toMilliseconds() ||
  JOB_STALL_MS >= JOB_VISIBILITY_TIMEOUT.toMilliseconds()
) {
  throw new Error(
    `JOB_STEP_BUDGET_MS ${JOB_STEP_BUDGET_MS} and JOB_STALL_MS ${JOB_STALL_MS} no longer fit the job worker's ${JOB_WORKER_SIZING.timeout.toSeconds()} s timeout and its queue's visibility timeout`,
  );
}
/**
 * The search indexer: a round reads an upload's traces and builds its entries in memory, and a seal
 * builds a segment's word index (100,000 traces); a run stops before its timeout (functions/handlers/searchIndexer.ts).
 */
export const SEARCH_INDEXER_SIZING: FunctionSizing = { memorySize: 2048, timeout: Duration.minutes(15) };
/** The indexer's safety net: work the stream did not deliver (or whose retries ran out) is done by this schedule. */
export const SEARCH_INDEXER_SCHEDULE = Duration.minutes(10);
/** The list route loads the search engine (a 150 MB native module) for a search, and queries each segment in parallel: one full vCPU. */
export const LIST_TRACES_SIZING: FunctionSizing = { memorySize: 1769, timeout: Duration.seconds(10) };

/**
 * Which stream records start the indexer: a search work item put or put again (never its removal,
 * and never the indexer's own lease item), so the indexer never starts itself.
 */
export const SEARCH_WORK_STREAM_FILTER = {
  eventName: ['INSERT', 'MODIFY'],
  dynamodb: { Keys: { pk: { S: [{ prefix: 'SQ#' }] }, sk: { S: [{ prefix: 'U#' }, { prefix: 'R#' }] } } },
} as const;

export const SEARCH_INDEXER_EVENT_SOURCE = {
  batchSize: 100,
  /** Work recorded within a second is done in one run. */
  maxBatchingWindow: Duration.seconds(1),
  /** A project another run holds makes the batch fail (its work is not lost): delivered again, up to this many times. */
  retryAttempts: 100,
} as const;

/** The OTLP export route: decoding a large batch takes memory; 1,024 MB also doubles the CPU share of 512. */
export const OTLP_SIZING: FunctionSizing = { memorySize: 1024, timeout: Duration.seconds(29) };

/** Routes whose handler needs more than API_SIZING. */
const ROUTE_SIZING: Readonly<Record<string, FunctionSizing>> = {
  createTraces: CREATE_SIZING,
  // The tree builder holds an experiment's spans and trees in memory and may gzip tens of MB.
  experimentTraceLogs: { memorySize: INGEST_MEMORY_MB, timeout: Duration.seconds(29) },
  // An OTLP export of up to 6 MB (32 MB once gunzipped) decoded, mapped and merged into its traces' documents;
  // API Gateway's 29 s, so a slow store answers 429 (retried by the exporter) rather than a timeout.
  otlpTraces: OTLP_SIZING,
  listTraces: LIST_TRACES_SIZING,
  // An experiment's stats are computed from all its trees (read for up to TRACE_LOGS_READ_BUDGET_MS), within API Gateway's 29 s.
  finishExperiment: { memorySize: INGEST_MEMORY_MB, timeout: Duration.seconds(29) },
  experimentStats: { memorySize: INGEST_MEMORY_MB, timeout: Duration.seconds(29) },
  // A LangChain run tree of up to 5 MB, stored as up to 10,000 spans.
  recordLangchainRun: { memorySize: 1024, timeout: Duration.seconds(29) },
};

/** Memory and timeout of a handler's function (also used by bench/lambda-init.ts for its Node flags). */
export function sizingFor(handlerName: string): FunctionSizing {
  if (handlerName === workerHandlers.ingest) return INGEST_SIZING;
  if (handlerName === workerHandlers.retentionSweep) return RETENTION_SWEEP_SIZING;
  if (handlerName === workerHandlers.jobWorker) return JOB_WORKER_SIZING;
  if (handlerName === workerHandlers.searchIndexer) return SEARCH_INDEXER_SIZING;
  return Object.hasOwn(ROUTE_SIZING, handlerName) ? ROUTE_SIZING[handlerName]! : API_SIZING;
}

/** Every Lambda entry name: the workers and each distinct route handler. */
export function handlerNames(): string[] {
  return [...new Set<string>([...Object.values(workerHandlers), ...routes.map((r) => r.handler)])];
}

/** What create keeps, after its ingest budget, for writing the answer within its timeout. */
const CREATE_ANSWER_MARGIN_MS = 5_000;
if (CREATE_INGEST_BUDGET_MS + CREATE_ANSWER_MARGIN_MS > CREATE_SIZING.timeout.toMilliseconds()) {
  throw new Error(
    `CREATE_INGEST_BUDGET_MS ${CREATE_INGEST_BUDGET_MS} leaves less than ${CREATE_ANSWER_MARGIN_MS} ms of createTraces' ${CREATE_SIZING.timeout.toSeconds()} s timeout`,
  );
}

/** Environment beyond TABLE_NAME and BUCKET_NAME, per route handler (validated by functions/shared/config.ts). */
const ROUTE_ENVIRONMENT: Readonly<Record<string, Record<string, string>>> = {
  createTraces: { CREATE_INGEST_BUDGET_MS: String(CREATE_INGEST_BUDGET_MS) },
};

/** Alarm thresholds (5-minute periods unless said otherwise); every alarm notifies the alarm topic. */
export const ALARMS = {
  /** Any message in the DLQ is an upload that failed 5 deliveries: look at it. */
  deadLetters: { threshold: 1, period: Duration.minutes(1), evaluationPeriods: 1 },
  /** Invocation errors of the worker (crash, timeout, out of memory); per-record failures are partial batch responses. */
  ingestErrors: { threshold: 1, period: Duration.minutes(5), evaluationPeriods: 1 },
  /** The event source caps concurrency, so any throttle means the account's concurrency is exhausted. */
  ingestThrottles: { threshold: 1, period: Duration.minutes(5), evaluationPeriods: 1 },
  /** Invocation errors of the retention sweep (a failed run; the next day's run retries what is left). */
  retentionSweepErrors: { threshold: 1, period: Duration.minutes(5), evaluationPeriods: 1 },
  /** Object creation to ingest completion, p95 over 15 minutes: a backlog (queue, throttling) or a stuck worker. */
  ingestLagP95Ms: { threshold: 5 * 60_000, period: Duration.minutes(5), evaluationPeriods: 3 },
  /** Bad lines as a share of the lines ingested (percent) over 15 minutes: a producer writing broken files. */
  badLineRatePercent: { threshold: 20, period: Duration.minutes(15), evaluationPeriods: 1 },
  /** A job step that failed 5 deliveries (its job is marked failed). */
  jobDeadLetters: { threshold: 1, period: Duration.minutes(1), evaluationPeriods: 1 },
  /** Invocation errors of the job worker (a crash or timeout; failed steps are partial batch responses). */
  jobWorkerErrors: { threshold: 1, period: Duration.minutes(5), evaluationPeriods: 1 },
  /**
   * Search indexer errors for 15 minutes: a busy project fails a batch now and then (it is delivered
   * again), so only failures that last mean the index is falling behind (searches still answer from the tail).
   */
  searchIndexerErrors: { threshold: 3, period: Duration.minutes(5), evaluationPeriods: 3 },
  /** 5xx answers of the API stage. */
  api5xx: { threshold: 5, period: Duration.minutes(5), evaluationPeriods: 1 },
  /**
   * p95 latency of the API stage, sustained for 15 minutes. Create may legitimately take up to its
   * 20 s budget for a 50 MiB file, so p95 (not p99) and a threshold far above the read routes' tens of ms.
   */
  apiLatencyP95Ms: { threshold: 5_000, period: Duration.minutes(5), evaluationPeriods: 3 },
} as const;

/**
 * API access log fields (one JSON object per request). `$context.integrationErrorMessage` is the
 * integration error (e.g. a Lambda crash), `$context.authorizer.error` an authorizer failure.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  organizationId: '$context.authorizer.organizationId',
  projectId: '$context.authorizer.projectId',
  userAgent: '$context.identity.userAgent',
};

export const INGEST_EVENT_SOURCE = {
  batchSize: INGEST_BATCH_SIZE,
  /** No wait: an upload starts ingesting as soon as its notification lands. */
  maxBatchingWindow: Duration.seconds(0),
  /** Caps concurrent ingest invocations (and so DynamoDB write pressure). */
  maxConcurrency: 10,
} as const;

/** AWS guidance for SQS → Lambda: visibility ≥ 6 × function timeout + batching window. */
export const INGEST_VISIBILITY_TIMEOUT = Duration.seconds(
  6 * INGEST_SIZING.timeout.toSeconds() + INGEST_EVENT_SOURCE.maxBatchingWindow.toSeconds(),
);

/**
 * Sizing guard tied to the shared limit: a batch's files may be processed
 * concurrently, and a parsed file takes a few times its size in memory, so
 * raising MAX_FILE_BYTES (or the batch size) without more memory fails the synth.
 */
const INGEST_MEMORY_PER_FILE_BYTE = 4;
if (INGEST_SIZING.memorySize * 1024 * 1024 < INGEST_EVENT_SOURCE.batchSize * MAX_FILE_BYTES * INGEST_MEMORY_PER_FILE_BYTE) {
  throw new Error(
    `Ingest memory ${INGEST_SIZING.memorySize} MB is too small for ${INGEST_EVENT_SOURCE.batchSize} files of MAX_FILE_BYTES=${MAX_FILE_BYTES}`,
  );
}

export const API_KEY_HEADER = 'x-api-key';

export interface StatelessStackProps extends StackProps {
  readonly config: AppConfig;
  readonly bucket: IBucket;
  readonly table: ITable;
  /** The search index's commit table (stateful stack). */
  readonly searchCommitTable: ITable;
}

export class StatelessStack extends Stack {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  /** Export and delete-by-filter job steps, and their dead letters. */
  public readonly jobQueue: Queue;
  public readonly jobDeadLetterQueue: Queue;
  public readonly jobWorkerFunction: TraceFunction;
  /** Every function, by handler name (one per distinct entry file). */
  public readonly functions: ReadonlyMap<string, TraceFunction>;
  public readonly ingestFunction: TraceFunction;
  public readonly authorizerFunction: TraceFunction;
  public readonly retentionSweepFunction: TraceFunction;
  /** Runs the retention sweep every hour (each run is bounded; a big expired upload takes a few runs). */
  public readonly retentionSchedule: Rule;
  /** Builds the search index from the work the writers record (started by the table's stream). */
  public readonly searchIndexerFunction: TraceFunction;
  /** Runs the search indexer over any project with work left (a safety net for the stream). */
  public readonly searchIndexerSchedule: Rule;
  public readonly api: HttpApi;
  public readonly apiStage: HttpStage;
  public readonly accessLogGroup: LogGroup;
  /** Every alarm notifies it; an e-mail subscription when context `alarmEmail` is set. */
  public readonly alarmTopic: Topic;
  public readonly alarms: Readonly<Record<keyof typeof ALARMS, Alarm>>;
  /** Ingest, API, Lambda and queue figures on one CloudWatch dashboard. */
  public readonly dashboard: OperationsDashboard;
  /** The web viewer: static files on S3 behind CloudFront. */
  public readonly viewer: Viewer;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config, bucket, table, searchCommitTable } = props;

    // ---- queue ---------------------------------------------------------------
    this.deadLetterQueue = new Queue(this, 'IngestDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'IngestQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: INGEST_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    // The bucket lives in the stateful stack. Attaching the notifications to the
    // bucket object itself would put them (and a reference to this queue) in that
    // stack: a dependency cycle. Through an imported reference the notification
    // custom resource lives here and only manages its own configurations.
    const notifiedBucket = Bucket.fromBucketAttributes(this, 'TraceBucketRef', {
      bucketArn: bucket.bucketArn,
      bucketName: bucket.bucketName,
    });
    const destination = new SqsDestination(this.queue);
    for (const prefix of INGEST_PREFIXES) {
      notifiedBucket.addEventNotification(EventType.OBJECT_CREATED, destination, { prefix });
    }
    acknowledgeNotificationsHandler(this);

    this.jobDeadLetterQueue = new Queue(this, 'JobDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.jobQueue = new Queue(this, 'JobQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: JOB_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.jobDeadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    // ---- functions -----------------------------------------------------------
    const functions = new Map<string, TraceFunction>();
    const baseEnvironment = {
      TABLE_NAME: table.tableName,
      BUCKET_NAME: bucket.bucketName,
      // RETENTION_DAYS everywhere: every function that writes an item no counter counts gives it its TTL (functions/domain/expiry.ts).
      RETENTION_DAYS: String(config.retentionDays),
      // The search index: segments under search/ in the bucket, commits ordered by the commit table. The writers
      // (ingest, create, delete, retention, OTLP) only record work for the indexer when it is set.
      SEARCH_INDEX_URI: searchIndexUri(bucket.bucketName, searchCommitTable.tableName),
    };
    const addFunction = (handlerName: string, sizing: FunctionSizing, environment: Record<string, string> = {}): TraceFunction => {
      const existing = functions.get(handlerName);
      if (existing) return existing;
      const fn = new TraceFunction(this, `${pascalCase(handlerName)}Handler`, {
        handlerName,
        ...sizing,
        logRetention: config.logRetention,
        removalPolicy: config.removalPolicy,
        environment: {
          ...baseEnvironment,
          ...(grantsFor(handlerName).some((g) => g.target === 'jobQueue') ? { JOBS_QUEUE_URL: this.jobQueue.queueUrl } : {}),
          ...environment,
        },
        ...(SEARCH_ENGINE_HANDLERS.includes(handlerName) ? { bundling: searchEngineBundling() } : {}),
      });
      grantHandler(handlerName, fn.function, { bucket, table, jobQueue: this.jobQueue, searchCommitTable });
      functions.set(handlerName, fn);
      return fn;
    };

    this.ingestFunction = addFunction(workerHandlers.ingest, sizingFor(workerHandlers.ingest), {
      MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
    });
    this.ingestFunction.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: INGEST_EVENT_SOURCE.batchSize,
        maxBatchingWindow: INGEST_EVENT_SOURCE.maxBatchingWindow,
        maxConcurrency: INGEST_EVENT_SOURCE.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.authorizerFunction = addFunction(workerHandlers.authorizer, sizingFor(workerHandlers.authorizer), {
      AUTHORIZER_CACHE_TTL_MS: String(AUTHORIZER_CACHE_TTL_MS),
    });

    // ---- jobs: export and delete by filter, one queue message per step (functions/domain/jobs.ts) ----
    this.jobWorkerFunction = addFunction(workerHandlers.jobWorker, sizingFor(workerHandlers.jobWorker), {
      MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      JOB_STEP_BUDGET_MS: String(JOB_STEP_BUDGET_MS),
      JOB_STALL_MS: String(JOB_STALL_MS),
      EXPORT_PART_BYTES: String(EXPORT_PART_BYTES),
    });
    this.jobWorkerFunction.function.addEventSource(new SqsEventSource(this.jobQueue, { batchSize: 1, reportBatchItemFailures: true }));

    // ---- retention -------------------------------------------------------------
    // Traces older than retentionDays go through the delete path (counters, sources, evaluations, payloads);
    // the bucket expires payloads/ only later, as a backstop (lib/layout.ts).
    this.retentionSweepFunction = addFunction(workerHandlers.retentionSweep, sizingFor(workerHandlers.retentionSweep));
    this.retentionSchedule = new Rule(this, 'RetentionSweepSchedule', {
      description: `trace-ingest ${config.stage}: deletes traces older than ${config.retentionDays} days`,
      schedule: Schedule.rate(RETENTION_SWEEP_SCHEDULE),
      // Invoked asynchronously: a failed run is retried by Lambda, and any run continues where the last one stopped.
      targets: [new LambdaFunction(this.retentionSweepFunction.function)],
    });

    // ---- search indexer ----------------------------------------------------------
    this.searchIndexerFunction = addFunction(workerHandlers.searchIndexer, sizingFor(workerHandlers.searchIndexer));
    this.searchIndexerFunction.function.addEventSource(
      new DynamoEventSource(table, {
        startingPosition: StartingPosition.LATEST,
        batchSize: SEARCH_INDEXER_EVENT_SOURCE.batchSize,
        maxBatchingWindow: SEARCH_INDEXER_EVENT_SOURCE.maxBatchingWindow,
        retryAttempts: SEARCH_INDEXER_EVENT_SOURCE.retryAttempts,
        bisectBatchOnError: true,
        filters: [FilterCriteria.filter(SEARCH_WORK_STREAM_FILTER as unknown as Record<string, unknown>)],
      }),
    );
    acknowledge(
      this.searchIndexerFunction.role,
      'AwsSolutions-IAM5[Resource::*]',
      'dynamodb:ListStreams cannot be scoped to a resource (AWS requires "*"); reading the stream itself is granted on ' +
        "the trace table's stream ARN only (DynamoEventSource's grantStreamRead).",
    );
    this.searchIndexerSchedule = new Rule(this, 'SearchIndexerSchedule', {
      description: `trace-ingest ${config.stage}: indexes any search work the table's stream did not deliver`,
      schedule: Schedule.rate(SEARCH_INDEXER_SCHEDULE),
      targets: [new LambdaFunction(this.searchIndexerFunction.function)],
    });

    // ---- web viewer (its origin is allowed by the API's CORS) ---------------------
    this.viewer = new Viewer(this, 'Viewer', { logRetention: config.logRetention, removalPolicy: config.removalPolicy });

    // ---- HTTP API --------------------------------------------------------------
    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `trace-ingest-${config.stage}`,
      description: `trace-ingest HTTP API (${config.stage})`,
      // Created below so the default stage can carry throttling.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: corsOriginsWith(config.corsOrigins, this.viewer.origin),
        allowMethods: [...new Set(routes.map((r) => CorsHttpMethod[r.method]))],
        allowHeaders: ['content-type', API_KEY_HEADER, 'authorization'],
        // The experiment trace logs' next page (the viewer's "Load more trees").
        exposeHeaders: ['x-next-cursor', 'x-export-lines'],
        maxAge: Duration.hours(1),
      },
    });
    this.accessLogGroup = new LogGroup(this, 'ApiAccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    this.apiStage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...config.apiThrottle },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const apiKeyAuthorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', this.authorizerFunction.function, {
      authorizerName: 'api-key',
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      // Keys come as `x-api-key` or `Authorization: Bearer`. With an identity source, API Gateway would refuse
      // any request lacking that one header before the authorizer runs; its cache needs one. So: no identity
      // source, no gateway cache, and the authorizer keeps its own short cache of resolved keys.
      identitySource: [],
      resultsCacheTtl: Duration.seconds(0),
    });
    const noAuth = new HttpNoneAuthorizer();
    const authorizerFor = (auth: RouteAuth): IHttpRouteAuthorizer => {
      switch (auth) {
        case 'apiKey':
          return apiKeyAuthorizer;
        case 'apiKeyInRoute':
        case 'none':
          return noAuth;
      }
    };

    const workerNames = new Set<string>(Object.values(workerHandlers));
    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of routes) {
      if (workerNames.has(route.handler)) {
        throw new Error(`Route ${route.method} ${route.path} points at worker handler "${route.handler}"`);
      }
      let integration = integrations.get(route.handler);
      if (!integration) {
        const fn = addFunction(
          route.handler,
          sizingFor(route.handler),
          Object.hasOwn(ROUTE_ENVIRONMENT, route.handler) ? ROUTE_ENVIRONMENT[route.handler] : {},
        );
        integration = new HttpLambdaIntegration(`${pascalCase(route.handler)}Integration`, fn.function);
        integrations.set(route.handler, integration);
      }
      const added = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        authorizer: authorizerFor(route.auth),
      });
      if (route.auth !== 'apiKey') {
        const why =
          route.auth === 'none'
            ? `${route.method} ${route.path} is open by design (auth 'none' in functions/routes.ts): it answers from code alone ` +
              '(health, the OpenAPI document), reads no store and reveals nothing of any tenant; its function has no data grants.'
            : `${route.method} ${route.path} authenticates in its function (auth 'apiKeyInRoute' in functions/routes.ts): the same ` +
              'API-key lookup as the authorizer, before any other work, answering a missing or bad key with the 401 its protocol requires.';
        for (const r of added) acknowledge(r.node.defaultChild!, 'AwsSolutions-APIG4', why);
      }
    }
    this.functions = functions;
    this.viewer.deploy(this.apiStage.url);

    // ---- alarms ----------------------------------------------------------------
    // SNS encrypts with a key of our own: CloudWatch must be allowed to use it to publish alarms,
    // which the AWS-managed alias/aws/sns key (its policy cannot be changed) does not allow.
    const alarmKey = new Key(this, 'AlarmTopicKey', {
      description: `trace-ingest ${config.stage}: encrypts the alarm topic`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy,
    });
    alarmKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `trace-ingest ${config.stage} alarms`,
      masterKey: alarmKey,
      enforceSSL: true,
    });
    if (config.alarmEmail) {
      this.alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    }
    const notify = new SnsAction(this.alarmTopic);
    const alarm = (
      name: keyof typeof ALARMS,
      metric: Metric | MathExpression,
      description: string,
      operator = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ): Alarm => {
      const spec = ALARMS[name];
      const a = new Alarm(this, `${pascalCase(name)}Alarm`, {
        alarmDescription: `trace-ingest ${config.stage}: ${description}`,
        metric: metric.with({ period: spec.period }),
        threshold: spec.threshold,
        evaluationPeriods: spec.evaluationPeriods,
        comparisonOperator: operator,
        // No data = nothing happened (no messages, no invocations, no requests): not an alarm.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(notify);
      a.addOkAction(notify);
      return a;
    };
    this.alarms = {
      deadLetters: alarm(
        'deadLetters',
        this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }),
        'ingest dead-letter queue has messages (uploads that failed 5 deliveries)',
      ),
      ingestErrors: alarm(
        'ingestErrors',
        this.ingestFunction.function.metricErrors({ statistic: 'Sum' }),
        'ingest worker invocation errors',
      ),
      ingestThrottles: alarm(
        'ingestThrottles',
        this.ingestFunction.function.metricThrottles({ statistic: 'Sum' }),
        'ingest worker throttled',
      ),
      retentionSweepErrors: alarm(
        'retentionSweepErrors',
        this.retentionSweepFunction.function.metricErrors({ statistic: 'Sum' }),
        'retention sweep invocation errors',
      ),
      ingestLagP95Ms: alarm(
        'ingestLagP95Ms',
        ingestMetrics.lag('p95'),
        `ingest lag (object creation to completion) p95 above ${ALARMS.ingestLagP95Ms.threshold / 60_000} minutes for 15 minutes`,
        ComparisonOperator.GREATER_THAN_THRESHOLD,
      ),
      badLineRatePercent: alarm(
        'badLineRatePercent',
        ingestMetrics.badLineRate(ALARMS.badLineRatePercent.period),
        `more than ${ALARMS.badLineRatePercent.threshold}% of ingested lines were bad in 15 minutes`,
        ComparisonOperator.GREATER_THAN_THRESHOLD,
      ),
      jobDeadLetters: alarm(
        'jobDeadLetters',
        this.jobDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }),
        'job dead-letter queue has messages (job steps that failed 5 deliveries)',
      ),
      jobWorkerErrors: alarm(
        'jobWorkerErrors',
        this.jobWorkerFunction.function.metricErrors({ statistic: 'Sum' }),
        'job worker invocation errors',
      ),
      searchIndexerErrors: alarm(
        'searchIndexerErrors',
        this.searchIndexerFunction.function.metricErrors({ statistic: 'Sum' }),
        'search indexer errors for 15 minutes (the index falls behind; searches answer from the unindexed tail)',
      ),
      api5xx: alarm('api5xx', this.apiStage.metricServerError({ statistic: 'Sum' }), 'HTTP API 5xx answers'),
      apiLatencyP95Ms: alarm(
        'apiLatencyP95Ms',
        this.apiStage.metricLatency({ statistic: 'p95' }),
        `HTTP API p95 latency above ${ALARMS.apiLatencyP95Ms.threshold} ms for 15 minutes`,
        ComparisonOperator.GREATER_THAN_THRESHOLD,
      ),
    };

    // ---- dashboard ---------------------------------------------------------------
    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      stage: config.stage,
      functions,
      apiStage: this.apiStage,
      ingestFunction: this.ingestFunction,
      deadLetterQueues: { ingest: this.deadLetterQueue, jobs: this.jobDeadLetterQueue },
      alarms: Object.values(this.alarms),
    });

    // ---- outputs ---------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: this.apiStage.url, description: 'HTTP API base URL' });
    new CfnOutput(this, 'ViewerUrl', { value: this.viewer.url, description: 'Web viewer (sign in with an API key)' });
    new CfnOutput(this, 'BucketName', { value: bucket.bucketName, description: 'Trace bucket' });
    new CfnOutput(this, 'TableName', { value: table.tableName, description: 'Trace table' });
    new CfnOutput(this, 'DropPrefix', {
      value: `${DROP_PREFIX}<organizationId>/<projectId>/`,
      description: 'Copy trace files under this key prefix of the bucket to ingest them',
    });
    new CfnOutput(this, 'QueueUrl', { value: this.queue.queueUrl, description: 'Ingest queue' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl, description: 'Ingest dead-letter queue' });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Alarm notifications (subscribe more endpoints here)',
    });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName, description: 'CloudWatch dashboard' });
    new CfnOutput(this, 'ApiAccessLogGroup', { value: this.accessLogGroup.logGroupName, description: 'HTTP API access logs' });
  }
}

/**
 * The bucket notifications are applied by a custom resource Lambda that CDK
 * itself provides (one per stack); its role is CDK's and carries
 * AWSLambdaBasicExecutionRole, which cannot be replaced from here.
 */
function acknowledgeNotificationsHandler(stack: Stack): void {
  const handlers = stack.node.children.filter((c: IConstruct) => c.node.id.startsWith('BucketNotificationsHandler'));
  if (handlers.length !== 1) throw new Error(`expected one BucketNotificationsHandler in ${stack.node.path}, found ${handlers.length}`);
  acknowledge(
    handlers[0]!,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    "CDK's own BucketNotificationsHandler (a deploy-time custom resource that calls s3:PutBucketNotification) comes " +
      'with this role and managed policy; it only writes its logs and runs during deployments, never on a request.',
  );
}

/** Where the search index lives on AWS: LanceDB's S3 scheme with its DynamoDB commit store. */
export function searchIndexUri(bucketName: string, commitTableName: string): string {
  return `s3+ddb://${bucketName}/${SEARCH_PREFIX.replace(/\/$/, '')}?ddbTableName=${commitTableName}`;
}

/** The configured browser origins, and the viewer's own unless any origin is allowed already. */
export function corsOriginsWith(origins: readonly string[], viewerOrigin: string): string[] {
  return origins.includes('*') ? ['*'] : [...origins, viewerOrigin];
}

function pascalCase(name: string): string {
  return name
    .split(/[^a-zA-Z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
