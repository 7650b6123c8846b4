/**
 * Everything that can be redeployed at will: the ingest queue and its DLQ, the
 * bucket → queue notifications, one Lambda per entry file and the HTTP API.
 * Routes come from functions/routes.ts and permissions from
 * lib/handler-grants.ts, so adding a route is a data change, not a stack change.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { API_MEMORY_MB, INGEST_MEMORY_MB } from './node-options.js';
import { HttpApi, HttpMethod, HttpNoneAuthorizer, type HttpStage, type IHttpRouteAuthorizer, CorsHttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Bucket, EventType, type IBucket } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { MAX_FILE_BYTES } from '../functions/domain/limits.js';
import { INGEST_PREFIXES, routes, workerHandlers, type RouteAuth } from '../functions/routes.js';
import type { AppConfig } from './config.js';
import { TraceFunction } from './constructs/trace-function.js';
import { grantHandler } from './handler-grants.js';
import { DROP_PREFIX } from './layout.js';

/** Deliveries before a message moves to the DLQ; the worker gets it as MAX_RECEIVE_COUNT to spot the last attempt. */
export const MAX_RECEIVE_COUNT = 5;

export interface FunctionSizing {
  readonly memorySize: number;
  readonly timeout: Duration;
}

export const INGEST_SIZING: FunctionSizing = { memorySize: INGEST_MEMORY_MB, timeout: Duration.minutes(5) };
/** Authorizer and HTTP route handlers. */
export const API_SIZING: FunctionSizing = { memorySize: API_MEMORY_MB, timeout: Duration.seconds(10) };
/**
 * Create may ingest a whole 50 MiB file inline (its budget, CREATE_INGEST_BUDGET_MS = 20 s, then a 202):
 * the ingest worker's memory, and API Gateway's own 29 s as its timeout.
 */
export const CREATE_SIZING: FunctionSizing = { memorySize: INGEST_MEMORY_MB, timeout: Duration.seconds(29) };

/** Routes whose handler needs more than API_SIZING. */
const ROUTE_SIZING: Readonly<Record<string, FunctionSizing>> = { createTraces: CREATE_SIZING };

export const INGEST_EVENT_SOURCE = {
  batchSize: 5,
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
}

export class StatelessStack extends Stack {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  /** Every function, by handler name (one per distinct entry file). */
  public readonly functions: ReadonlyMap<string, TraceFunction>;
  public readonly ingestFunction: TraceFunction;
  public readonly authorizerFunction: TraceFunction;
  public readonly api: HttpApi;
  public readonly apiStage: HttpStage;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config, bucket, table } = props;

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

    // ---- functions -----------------------------------------------------------
    const functions = new Map<string, TraceFunction>();
    const baseEnvironment = { TABLE_NAME: table.tableName, BUCKET_NAME: bucket.bucketName };
    const addFunction = (handlerName: string, sizing: FunctionSizing, environment: Record<string, string> = {}): TraceFunction => {
      const existing = functions.get(handlerName);
      if (existing) return existing;
      const fn = new TraceFunction(this, `${pascalCase(handlerName)}Handler`, {
        handlerName,
        ...sizing,
        logRetention: config.logRetention,
        removalPolicy: config.removalPolicy,
        environment: { ...baseEnvironment, ...environment },
      });
      grantHandler(handlerName, fn.function, { bucket, table });
      functions.set(handlerName, fn);
      return fn;
    };

    this.ingestFunction = addFunction(workerHandlers.ingest, INGEST_SIZING, { MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT) });
    this.ingestFunction.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: INGEST_EVENT_SOURCE.batchSize,
        maxBatchingWindow: INGEST_EVENT_SOURCE.maxBatchingWindow,
        maxConcurrency: INGEST_EVENT_SOURCE.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.authorizerFunction = addFunction(workerHandlers.authorizer, API_SIZING);

    // ---- HTTP API --------------------------------------------------------------
    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `trace-ingest-${config.stage}`,
      description: `trace-ingest HTTP API (${config.stage})`,
      // Created below so the default stage can carry throttling.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...config.corsOrigins],
        allowMethods: [...new Set(routes.map((r) => CorsHttpMethod[r.method]))],
        allowHeaders: ['content-type', API_KEY_HEADER, 'authorization'],
        maxAge: Duration.hours(1),
      },
    });
    this.apiStage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...config.apiThrottle },
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
        const fn = addFunction(route.handler, ROUTE_SIZING[route.handler] ?? API_SIZING);
        integration = new HttpLambdaIntegration(`${pascalCase(route.handler)}Integration`, fn.function);
        integrations.set(route.handler, integration);
      }
      this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        authorizer: authorizerFor(route.auth),
      });
    }
    this.functions = functions;

    // ---- outputs ---------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: this.apiStage.url, description: 'HTTP API base URL' });
    new CfnOutput(this, 'BucketName', { value: bucket.bucketName, description: 'Trace bucket' });
    new CfnOutput(this, 'TableName', { value: table.tableName, description: 'Trace table' });
    new CfnOutput(this, 'DropPrefix', {
      value: `${DROP_PREFIX}<organizationId>/<projectId>/`,
      description: 'Copy trace files under this key prefix of the bucket to ingest them',
    });
    new CfnOutput(this, 'QueueUrl', { value: this.queue.queueUrl, description: 'Ingest queue' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl, description: 'Ingest dead-letter queue' });
  }
}

function pascalCase(name: string): string {
  return name
    .split(/[^a-zA-Z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
