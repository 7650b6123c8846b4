/**
 * Template assertions for both stacks. The apps are built once, at module
 * scope, with the cdk.json context (feature flags, defaults) so they match
 * `cdk synth`, and with bundling skipped (`aws:cdk:bundling-stacks: []`):
 * these tests never run esbuild or Docker.
 */
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnRole } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { CfnLogGroup } from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE } from '../../functions/adapters/dynamo/schema.js';
import { INGEST_PREFIXES, routes, workerHandlers } from '../../functions/routes.js';
import { loadConfig } from '../../lib/config.js';
import { BUNDLING, type TraceFunction } from '../../lib/constructs/trace-function.js';
import { HANDLER_GRANTS, OBJECT_ACTIONS, SEARCH_INDEX_ACTIONS, TABLE_ACTIONS, grantHandler, grantsFor } from '../../lib/handler-grants.js';
import { SEARCH_PREFIX } from '../../functions/domain/layout.js';
import { EXPIRING_PREFIXES, PAYLOADS_BACKSTOP_DAYS, PAYLOADS_PREFIX } from '../../lib/layout.js';
import { ACCESS_LOGS_PREFIX } from '../../lib/stateful-stack.js';
import {
  ACCESS_LOG_FIELDS,
  ALARMS,
  AUTHORIZER_CACHE_TTL_MS,
  CREATE_INGEST_BUDGET_MS,
  CREATE_SIZING,
  JOB_STALL_MS,
  JOB_STEP_BUDGET_MS,
  JOB_VISIBILITY_TIMEOUT,
  JOB_WORKER_SIZING,
  MAX_RECEIVE_COUNT,
  RETENTION_SWEEP_SIZING,
  SEARCH_WORK_STREAM_FILTER,
  searchIndexUri,
} from '../../lib/stateless-stack.js';
import { EXPORTS_PREFIX } from '../../functions/domain/layout.js';
import { JOB_KEEP_DAYS } from '../../functions/domain/expiry.js';
import { METRIC, METRICS_NAMESPACE } from '../../functions/shared/metric-names.js';
import { SEARCH_ENGINE_HANDLERS, searchEngineBundling } from '../../lib/search-engine.js';
import { buildTraceIngestApp, type TraceIngestStacks } from '../../lib/trace-ingest-app.js';

const cdkContext =
  (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};

function build(context: Record<string, unknown> = {}): TraceIngestStacks {
  const app = new App({ context: { ...cdkContext, ...context, 'aws:cdk:bundling-stacks': [] } });
  return buildTraceIngestApp(app);
}

// ---- built once, shared ----------------------------------------------------
const dev = build();
const stateful = Template.fromStack(dev.stateful);
const stateless = Template.fromStack(dev.stateless);

const PROD_CONTEXT = {
  stage: 'prod',
  retentionDays: '7',
  corsOrigins: 'https://app.example.com, https://admin.example.com',
  logRetentionDays: 90,
  alarmEmail: 'ops@example.com',
};
const prod = build(PROD_CONTEXT);
const prodStateful = Template.fromStack(prod.stateful);
const prodStateless = Template.fromStack(prod.stateless);

// ---- helpers ---------------------------------------------------------------
type Json = Record<string, any>;

const handlerNames = [...new Set<string>([...Object.values(workerHandlers), ...routes.map((r) => r.handler)])];

function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnFunction);
}
function traceFunction(stacks: TraceIngestStacks, name: string): TraceFunction {
  const fn = stacks.stateless.functions.get(name);
  if (!fn) throw new Error(`no function for ${name}`);
  return fn;
}
function functionId(stacks: TraceIngestStacks, name: string): string {
  return logicalId(traceFunction(stacks, name).function);
}
function roleId(stacks: TraceIngestStacks, name: string): string {
  const role = traceFunction(stacks, name).function.role!;
  return Stack.of(role).getLogicalId(role.node.defaultChild as CfnRole);
}
/** Every statement of every AWS::IAM::Policy attached to the role. */
function statementsOfRole(template: Template, role: string): Json[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: Json) => (p.Properties.Roles as Json[]).some((r) => r.Ref === role))
    .flatMap((p: Json) => p.Properties.PolicyDocument.Statement as Json[]);
}
const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
/** A resource as a string, tokens as <token>: { Fn::Join: ['', [{GetStackOutput}, '/uploads/*']] } → '<token>/uploads/*'. */
function resourceString(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const join = (resource as Json)['Fn::Join'];
  if (join) return (join[1] as unknown[]).map(resourceString).join(join[0]);
  return '<token>';
}

/** functions/shared/config.ts's validation of a given environment, in a fresh module (it caches per module). */
const savedEnv = { ...process.env };
afterEach(() => {
  process.env = { ...savedEnv };
});
async function validatedConfig(env: Record<string, string>): Promise<unknown> {
  process.env = { ...env };
  vi.resetModules();
  const { config } = await import('../../functions/shared/config.js');
  return config();
}

// ---- stateful --------------------------------------------------------------
describe('stateful stack: bucket', () => {
  it('blocks public access, encrypts with S3-managed keys and is versioned', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
    });
  });

  it('denies requests without TLS', () => {
    stateful.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('aborts incomplete multipart uploads after 1 day, expires raw files after retentionDays, payloads only at retentionDays + 7 (after the sweep)', () => {
    const rulesFor = (days: number) => [
      Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
      ...EXPIRING_PREFIXES.map((prefix) =>
        Match.objectLike({
          Prefix: prefix,
          ExpirationInDays: days,
          NoncurrentVersionExpiration: { NoncurrentDays: days },
          Status: 'Enabled',
        }),
      ),
      Match.objectLike({
        Prefix: PAYLOADS_PREFIX,
        ExpirationInDays: days + 7,
        NoncurrentVersionExpiration: { NoncurrentDays: days + 7 },
        Status: 'Enabled',
      }),
    ];
    stateful.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith(rulesFor(30)) } });
    prodStateful.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith(rulesFor(7)) } });
    expect(PAYLOADS_BACKSTOP_DAYS).toBe(7);
    expect([...EXPIRING_PREFIXES].sort()).toEqual([...INGEST_PREFIXES].sort());
    // Every lifecycle rule of the trace bucket: the multipart one, the raw files, payloads/, the search index's removed files (once each), nothing else.
    const traceBucket = stateful.findResources('AWS::S3::Bucket')[logicalId(dev.stateful.bucket)] as Json;
    const prefixes = (traceBucket.Properties.LifecycleConfiguration.Rules as Array<{ Prefix?: string }>)
      .map((r) => r.Prefix)
      .filter((p) => p !== undefined);
    expect(prefixes.sort()).toEqual([...INGEST_PREFIXES, PAYLOADS_PREFIX, EXPORTS_PREFIX, SEARCH_PREFIX].sort());
    // The engine deletes the files it no longer needs; the versioned bucket keeps them a day, never the live ones.
    expect(traceBucket.Properties.LifecycleConfiguration.Rules).toContainEqual({
      Id: 'expire-removed-search-files',
      Prefix: SEARCH_PREFIX,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      ExpiredObjectDeleteMarker: true,
      Status: 'Enabled',
    });
    // Export files go after JOB_KEEP_DAYS, with their job items.
    stateful.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: EXPORTS_PREFIX, ExpirationInDays: JOB_KEEP_DAYS })]) },
    });
  });

  it('allows browser PUT uploads from the configured origins', () => {
    stateful.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [
          Match.objectLike({ AllowedMethods: ['PUT'], AllowedOrigins: ['*'], AllowedHeaders: ['Content-Type', 'Content-Length'] }),
        ],
      },
    });
    prodStateful.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: ['https://app.example.com', 'https://admin.example.com'] })] },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'drop/', ExpirationInDays: 7 })]) },
    });
  });

  it('sends server access logs to a separate, private, encrypted, TLS-only log bucket that expires them (AwsSolutions-S1)', () => {
    const traceBucketId = logicalId(dev.stateful.bucket);
    const logBucketId = logicalId(dev.stateful.accessLogsBucket);
    expect(logBucketId).not.toBe(traceBucketId);
    stateful.resourceCountIs('AWS::S3::Bucket', 2);
    const buckets = stateful.findResources('AWS::S3::Bucket');
    expect((buckets[traceBucketId] as Json).Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logBucketId },
      LogFilePrefix: ACCESS_LOGS_PREFIX,
    });
    expect((buckets[logBucketId] as Json).Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      // Log delivery writes with SSE-S3 only.
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' })] },
    });
    expect((buckets[logBucketId] as Json).Properties.LoggingConfiguration).toBeUndefined();
    // Kept as long as the other logs (logRetentionDays).
    expect(
      (prodStateful.findResources('AWS::S3::Bucket')[logicalId(prod.stateful.accessLogsBucket)] as Json).Properties.LifecycleConfiguration,
    ).toEqual({
      Rules: [expect.objectContaining({ ExpirationInDays: 90 })],
    });
    // Delivery by the S3 logging service, from this bucket in this account only, under the prefix; and TLS only.
    stateful.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: {
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [traceBucketId, 'Arn'] } },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logBucketId, 'Arn'] }, `/${ACCESS_LOGS_PREFIX}*`]] },
          }),
        ]),
      },
    });
  });
});

describe('stateful stack: table', () => {
  it('has the key schema, billing, PITR, encryption and TTL from schema.ts', () => {
    // The trace table and the search index's commit table.
    stateful.resourceCountIs('AWS::DynamoDB::Table', 2);
    stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE_PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: TABLE_SORT_KEY, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE_PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: TABLE_SORT_KEY, AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      // Keys only: the search indexer's event source lets through the search work items' keys.
      StreamSpecification: { StreamViewType: 'KEYS_ONLY' },
    });
  });

  it('has every index of INDEXES, string keys, with its projection (the list indexes hold only what a page needs)', () => {
    const table = stateful.findResources('AWS::DynamoDB::Table')[logicalId(dev.stateful.table)] as Json;
    const gsis = table.Properties.GlobalSecondaryIndexes as Json[];
    expect(gsis.map((g) => g.IndexName).sort()).toEqual(INDEXES.map((i) => i.name).sort());
    for (const index of INDEXES) {
      expect(gsis).toContainEqual({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection:
          index.projection === 'ALL' ? { ProjectionType: 'ALL' } : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projection] },
      });
      expect(table.Properties.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: index.partitionKey, AttributeType: 'S' },
          { AttributeName: index.sortKey, AttributeType: 'S' },
        ]),
      );
    }
  });
});

describe('removal policies by stage', () => {
  it('dev is disposable: DESTROY, no deletion protection, bucket auto-emptied', () => {
    stateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    stateful.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    // The trace bucket and its access-log bucket.
    stateful.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    expect(dev.stateful.terminationProtection).toBe(false);
  });

  it('other stages retain data: RETAIN, deletion protection, no auto-delete, termination protection', () => {
    prodStateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    for (const bucket of Object.values(prodStateful.findResources('AWS::S3::Bucket')) as Json[]) {
      expect(bucket).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
    prodStateless.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    prodStateful.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    expect(prod.stateful.terminationProtection).toBe(true);
    for (const logGroup of Object.values(prodStateless.findResources('AWS::Logs::LogGroup')) as Json[]) {
      expect(logGroup.DeletionPolicy).toBe('Retain');
      expect(logGroup.Properties.RetentionInDays).toBe(90);
    }
  });

  it('names and tags the stacks per stage', () => {
    expect([dev.stateful.stackName, dev.stateless.stackName]).toEqual(['TraceIngest-dev-Stateful', 'TraceIngest-dev-Stateless']);
    expect([prod.stateful.stackName, prod.stateless.stackName]).toEqual(['TraceIngest-prod-Stateful', 'TraceIngest-prod-Stateless']);
    for (const stack of [prod.stateful, prod.stateless]) {
      expect(stack.tags.tagValues()).toEqual({ Project: 'trace-ingest', Stage: 'prod' });
    }
    expect(prod.stateless.dependencies).toContain(prod.stateful);
  });
});

// ---- stateless: queue and notifications --------------------------------------
describe('stateless stack: ingest queue', () => {
  const queueId = () => logicalId(dev.stateless.queue);
  const dlqId = () => logicalId(dev.stateless.deadLetterQueue);

  it('redrives to an encrypted 14-day DLQ after 5 receives', () => {
    // The ingest queue and the job queue, each with its dead-letter queue.
    stateless.resourceCountIs('AWS::SQS::Queue', 4);
    stateless.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    expect(MAX_RECEIVE_COUNT).toBe(5);
    const dlq = stateless.findResources('AWS::SQS::Queue')[dlqId()] as Json;
    expect(dlq.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  it('enforces TLS on both queues', () => {
    for (const id of [queueId(), dlqId()]) {
      stateless.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it('keeps messages invisible for at least 6 × the ingest timeout (+ batching window)', () => {
    const queue = stateless.findResources('AWS::SQS::Queue')[queueId()] as Json;
    const ingest = stateless.findResources('AWS::Lambda::Function')[functionId(dev, workerHandlers.ingest)] as Json;
    const esm = Object.values(stateless.findResources('AWS::Lambda::EventSourceMapping'))[0] as Json;
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
      6 * ingest.Properties.Timeout + (esm.Properties.MaximumBatchingWindowInSeconds ?? 0),
    );
  });

  it('sends object-created notifications under every ingest prefix to the queue', () => {
    stateless.resourceCountIs('Custom::S3BucketNotifications', 1);
    stateless.hasResourceProperties('Custom::S3BucketNotifications', {
      // Imported bucket: the custom resource only manages its own configurations.
      Managed: false,
      NotificationConfiguration: {
        QueueConfigurations: INGEST_PREFIXES.map((prefix) => ({
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: prefix }] } },
          QueueArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
        })),
      },
    });
    stateless.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' }, Action: Match.arrayWith(['sqs:SendMessage']) }),
        ]),
      },
    });
  });
});

// ---- stateless: functions ----------------------------------------------------
describe('stateless stack: functions', () => {
  it('has one function per distinct entry name', () => {
    expect([...dev.stateless.functions.keys()].sort()).toEqual([...handlerNames].sort());
  });

  it('runs every function on Node 22 / ARM64 with source maps, the table and bucket names, and its own log group', () => {
    const functions = stateless.findResources('AWS::Lambda::Function');
    const logGroups = stateless.findResources('AWS::Logs::LogGroup');
    for (const name of handlerNames) {
      const fn = traceFunction(dev, name);
      const props = (functions[logicalId(fn.function)] as Json).Properties;
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Handler).toBe('index.handler');
      expect(Object.keys(props.Environment.Variables)).toEqual(expect.arrayContaining(['TABLE_NAME', 'BUCKET_NAME']));
      expect(props.Environment.Variables.NODE_OPTIONS).toBe(
        `--enable-source-maps --max-old-space-size=${Math.floor(props.MemorySize * 0.75)}`,
      );
      const logGroupId = Stack.of(fn).getLogicalId(fn.logGroup.node.defaultChild as CfnLogGroup);
      expect(props.LoggingConfig).toEqual({ LogGroup: { Ref: logGroupId } });
      expect((logGroups[logGroupId] as Json).Properties.RetentionInDays).toBe(30);
    }
    expect(BUNDLING.forceDockerBundling).toBe(false);
  });

  it('gives each function the environment functions/shared/config.ts needs, and it validates', async () => {
    const functions = stateless.findResources('AWS::Lambda::Function');
    const envOf = (name: string) => (functions[functionId(dev, name)] as Json).Properties.Environment.Variables as Json;
    // Create must answer before its own timeout (API Gateway's 29 s): the budget ends with time to spare.
    expect(envOf('createTraces').CREATE_INGEST_BUDGET_MS).toBe(String(CREATE_INGEST_BUDGET_MS));
    expect(CREATE_INGEST_BUDGET_MS).toBeLessThan(CREATE_SIZING.timeout.toMilliseconds() - 5_000);
    // The caching decision: the authorizer's own one-minute cache (the gateway's is off).
    expect(envOf(workerHandlers.authorizer).AUTHORIZER_CACHE_TTL_MS).toBe(String(AUTHORIZER_CACHE_TTL_MS));
    expect(AUTHORIZER_CACHE_TTL_MS).toBe(60_000);
    for (const name of handlerNames) {
      const env = envOf(name);
      if (name !== 'createTraces') expect(env.CREATE_INGEST_BUDGET_MS, name).toBeUndefined();
      if (name !== workerHandlers.authorizer) expect(env.AUTHORIZER_CACHE_TTL_MS, name).toBeUndefined();
      // Every function gives what it writes its TTL from the traces' retention (functions/domain/expiry.ts).
      expect(env.RETENTION_DAYS, name).toBe('30');
      // Exactly the functions that may send job steps know the job queue.
      expect(env.JOBS_QUEUE_URL !== undefined, name).toBe(['createJob', workerHandlers.jobWorker].includes(name));
      // What Lambda would hand the function (tokens as sample values), through the functions' own zod schema.
      const values = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : `sample-${k.toLowerCase()}`]));
      expect(await validatedConfig({ AWS_REGION: 'eu-west-1', ...values }), name).toMatchObject({
        TABLE_NAME: expect.any(String),
        BUCKET_NAME: expect.any(String),
      });
    }
  });

  it('gives each function its own role: no managed policies, logs only to its own log group', () => {
    const roles = stateless.findResources('AWS::IAM::Role');
    for (const name of handlerNames) {
      const fn = traceFunction(dev, name);
      const role = roles[roleId(dev, name)] as Json;
      expect(role.Properties.ManagedPolicyArns, name).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }),
      ]);
      const logStatements = statementsOfRole(stateless, roleId(dev, name)).filter((st) =>
        asList<string>(st.Action).some((a) => a.startsWith('logs:')),
      );
      const logGroupId = Stack.of(fn).getLogicalId(fn.logGroup.node.defaultChild as CfnLogGroup);
      expect(logStatements, name).toEqual([
        { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
      ]);
    }
  });

  it('sizes ingest for files and the API functions for requests', () => {
    const functions = stateless.findResources('AWS::Lambda::Function');
    const ingest = (functions[functionId(dev, workerHandlers.ingest)] as Json).Properties;
    expect(ingest).toMatchObject({ MemorySize: 2048, Timeout: 300 });
    expect(ingest.Environment.Variables.MAX_RECEIVE_COUNT).toBe(String(MAX_RECEIVE_COUNT));
    // Create may ingest a 50 MiB file inline within API Gateway's 29 s; its budget must end before its timeout.
    expect((functions[functionId(dev, 'createTraces')] as Json).Properties).toMatchObject({ MemorySize: 2048, Timeout: 29 });
    // The tree builder holds whole experiments in memory.
    expect((functions[functionId(dev, 'experimentTraceLogs')] as Json).Properties).toMatchObject({ MemorySize: 2048, Timeout: 29 });
    // The retention sweep deletes one trace after another for up to 5 minutes.
    expect((functions[functionId(dev, workerHandlers.retentionSweep)] as Json).Properties).toMatchObject({ MemorySize: 512, Timeout: 300 });
    expect(RETENTION_SWEEP_SIZING.timeout.toSeconds()).toBe(300);
    // An OTLP export decodes up to 6 MB (32 MB gunzipped) within API Gateway's 29 s.
    expect((functions[functionId(dev, 'otlpTraces')] as Json).Properties).toMatchObject({ MemorySize: 1024, Timeout: 29 });
    // The job worker runs steps for up to JOB_STEP_BUDGET_MS, an export part in memory.
    const worker = (functions[functionId(dev, workerHandlers.jobWorker)] as Json).Properties;
    expect(worker).toMatchObject({ MemorySize: 1024, Timeout: 300 });
    expect(worker.Environment.Variables).toMatchObject({
      JOB_STEP_BUDGET_MS: String(JOB_STEP_BUDGET_MS),
      EXPORT_PART_BYTES: String(8 * 1024 * 1024),
      JOB_STALL_MS: String(JOB_STALL_MS),
    });
    expect(JOB_STEP_BUDGET_MS).toBeLessThan(JOB_WORKER_SIZING.timeout.toMilliseconds() / 2);
    expect(JOB_STALL_MS).toBeLessThan(JOB_VISIBILITY_TIMEOUT.toMilliseconds());
    expect(JOB_STALL_MS).toBeGreaterThan(JOB_WORKER_SIZING.timeout.toMilliseconds());
    // The search indexer builds entries and seals segments for up to 15 minutes; the list loads the engine for a search.
    expect((functions[functionId(dev, workerHandlers.searchIndexer)] as Json).Properties).toMatchObject({ MemorySize: 2048, Timeout: 900 });
    expect((functions[functionId(dev, 'listTraces')] as Json).Properties).toMatchObject({ MemorySize: 1769, Timeout: 10 });
    // An experiment's stats read all its trees; a LangChain run may be 10,000 spans.
    for (const name of ['finishExperiment', 'experimentStats'])
      expect((functions[functionId(dev, name)] as Json).Properties, name).toMatchObject({ MemorySize: 2048, Timeout: 29 });
    expect((functions[functionId(dev, 'recordLangchainRun')] as Json).Properties).toMatchObject({ MemorySize: 1024, Timeout: 29 });
    const special: string[] = [
      workerHandlers.ingest,
      workerHandlers.retentionSweep,
      workerHandlers.jobWorker,
      workerHandlers.searchIndexer,
      'createTraces',
      'experimentTraceLogs',
      'otlpTraces',
      'listTraces',
      'finishExperiment',
      'experimentStats',
      'recordLangchainRun',
    ];
    for (const name of handlerNames.filter((n) => !special.includes(n))) {
      expect((functions[functionId(dev, name)] as Json).Properties).toMatchObject({ MemorySize: 512, Timeout: 10 });
    }
  });

  it('consumes the queue in small, bounded batches with partial batch failures', () => {
    // The ingest queue's, the job queue's, and the table stream's for the search indexer.
    stateless.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    // The job queue: one step per invocation, failed steps delivered again, invisible for 6 × the worker's timeout.
    stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(dev.stateless.jobQueue), 'Arn'] },
      FunctionName: { Ref: functionId(dev, workerHandlers.jobWorker) },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect((stateless.findResources('AWS::SQS::Queue')[logicalId(dev.stateless.jobQueue)] as Json).Properties).toMatchObject({
      VisibilityTimeout: 6 * 300,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(dev.stateless.jobDeadLetterQueue), 'Arn'] },
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
    });
    stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(dev.stateless.queue), 'Arn'] },
      FunctionName: { Ref: functionId(dev, workerHandlers.ingest) },
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumBatchingWindowInSeconds: 0,
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });
});

// ---- stateless: HTTP API -----------------------------------------------------
describe('stateless stack: HTTP API', () => {
  it('has exactly one route per entry of routes, protected exactly when auth is apiKey', () => {
    const authorizerId = Object.keys(stateless.findResources('AWS::ApiGatewayV2::Authorizer'))[0];
    const apiRoutes = Object.values(stateless.findResources('AWS::ApiGatewayV2::Route')) as Json[];
    expect(apiRoutes).toHaveLength(routes.length);
    for (const route of routes) {
      const matches = apiRoutes.filter((r) => r.Properties.RouteKey === `${route.method} ${route.path}`);
      expect(matches, `${route.method} ${route.path}`).toHaveLength(1);
      const props = matches[0]!.Properties;
      if (route.auth === 'apiKey') {
        expect(props.AuthorizationType).toBe('CUSTOM');
        expect(props.AuthorizerId).toEqual({ Ref: authorizerId });
      } else {
        expect(props.AuthorizationType).toBe('NONE');
        expect(props.AuthorizerId).toBeUndefined();
      }
    }
  });

  it('integrates each route with the function of its handler', () => {
    const integrations = stateless.findResources('AWS::ApiGatewayV2::Integration');
    const apiRoutes = Object.values(stateless.findResources('AWS::ApiGatewayV2::Route')) as Json[];
    for (const route of routes) {
      const apiRoute = apiRoutes.find((r) => r.Properties.RouteKey === `${route.method} ${route.path}`)!;
      const target = apiRoute.Properties.Target['Fn::Join'][1] as unknown[];
      const integrationId = (target[1] as Json).Ref as string;
      expect((integrations[integrationId] as Json).Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [functionId(dev, route.handler), 'Arn'] },
      });
    }
  });

  it('serves OTLP/HTTP at POST /otel/v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT=<api>/otel), authenticating in its function (a 401, as OTLP wants)', () => {
    const route = (Object.values(stateless.findResources('AWS::ApiGatewayV2::Route')) as Json[]).find(
      (r) => r.Properties.RouteKey === 'POST /otel/v1/traces',
    );
    expect(route?.Properties.AuthorizationType).toBe('NONE');
    expect(routes.find((r) => r.path === '/otel/v1/traces')?.auth).toBe('apiKeyInRoute');
    expect(grantsFor('otlpTraces')).toEqual([
      { target: 'table', access: 'readWrite' },
      { target: 'objects', access: 'readWrite', prefix: PAYLOADS_PREFIX },
      { target: 'objects', access: 'delete', prefix: PAYLOADS_PREFIX },
    ]);
  });

  it('authorizes with the API-key Lambda: simple responses, called for every request (x-api-key or Bearer)', () => {
    stateless.resourceCountIs('AWS::ApiGatewayV2::Authorizer', routes.some((r) => r.auth === 'apiKey') ? 1 : 0);
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      // An identity source would make API Gateway refuse Bearer-only requests before the authorizer runs.
      IdentitySource: [],
      AuthorizerResultTtlInSeconds: 0,
      AuthorizerUri: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [functionId(dev, workerHandlers.authorizer), 'Arn'] }])],
      }),
    });
  });

  it('throttles the auto-deployed default stage and answers CORS preflight for the configured origins', () => {
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 },
    });
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.objectLike({
        AllowOrigins: ['*'],
        AllowHeaders: Match.arrayWith(['content-type', 'x-api-key', 'authorization']),
        AllowMethods: Match.arrayWith([...new Set(routes.map((r) => r.method))]),
      }),
    });
    // With a list of origins, the viewer's own origin (its CloudFront domain) is allowed too; the next page's cursor is readable.
    const distribution = logicalId(prod.stateless.viewer.distribution);
    prodStateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({
        AllowOrigins: [
          'https://app.example.com',
          'https://admin.example.com',
          { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }]] },
        ],
        ExposeHeaders: ['x-next-cursor', 'x-export-lines'],
      }),
    });
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['*'], ExposeHeaders: ['x-next-cursor', 'x-export-lines'] }),
    });
  });

  it('writes JSON access logs of the stage to a log group with retention', () => {
    const logGroupId = logicalId(dev.stateless.accessLogGroup);
    const stage = Object.values(stateless.findResources('AWS::ApiGatewayV2::Stage'))[0] as Json;
    expect(stage.Properties.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format as string) as Record<string, string>;
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      routeKey: '$context.routeKey',
      status: '$context.status',
      latency: '$context.responseLatency',
      integrationError: '$context.integrationErrorMessage',
    });
    expect((stateless.findResources('AWS::Logs::LogGroup')[logGroupId] as Json).Properties.RetentionInDays).toBe(30);
    expect(
      (prodStateless.findResources('AWS::Logs::LogGroup')[logicalId(prod.stateless.accessLogGroup)] as Json).Properties.RetentionInDays,
    ).toBe(90);
  });

  it('outputs what operators need', () => {
    for (const name of [
      'ApiUrl',
      'ViewerUrl',
      'BucketName',
      'TableName',
      'DropPrefix',
      'QueueUrl',
      'DeadLetterQueueUrl',
      'AlarmTopicArn',
      'ApiAccessLogGroup',
    ]) {
      stateless.hasOutput(name, {});
    }
    stateless.hasOutput('DropPrefix', { Value: 'drop/<organizationId>/<projectId>/' });
    stateless.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(dev.stateless.alarmTopic) } });
  });
});

// ---- stateless: alarms ---------------------------------------------------------
describe('stateless stack: alarms', () => {
  const topicId = () => logicalId(dev.stateless.alarmTopic);
  const alarmProps = (template: Template, stacks: TraceIngestStacks, name: keyof typeof ALARMS): Json =>
    (template.findResources('AWS::CloudWatch::Alarm')[logicalId(stacks.stateless.alarms[name])] as Json).Properties;

  it('has exactly the eleven alarms, each notifying the topic on ALARM and OK, missing data not breaching', () => {
    stateless.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(ALARMS).length);
    expect(Object.keys(ALARMS).sort()).toEqual([
      'api5xx',
      'apiLatencyP95Ms',
      'badLineRatePercent',
      'deadLetters',
      'ingestErrors',
      'ingestLagP95Ms',
      'ingestThrottles',
      'jobDeadLetters',
      'jobWorkerErrors',
      'retentionSweepErrors',
      'searchIndexerErrors',
    ]);
    for (const alarm of Object.values(stateless.findResources('AWS::CloudWatch::Alarm')) as Json[]) {
      expect(alarm.Properties).toMatchObject({
        AlarmActions: [{ Ref: topicId() }],
        OKActions: [{ Ref: topicId() }],
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('alarms on any message in the dead-letter queue', () => {
    expect(alarmProps(stateless, dev, 'deadLetters')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dev.stateless.deadLetterQueue), 'QueueName'] } }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      Period: 60,
    });
  });

  it.each([
    ['ingestErrors', 'Errors'],
    ['ingestThrottles', 'Throttles'],
  ] as const)('alarms on %s of the ingest function (%s ≥ 1 in 5 minutes)', (name, metric) => {
    expect(alarmProps(stateless, dev, name)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: metric,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(dev, workerHandlers.ingest) } }],
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      Period: 300,
    });
  });

  it('alarms on invocation errors of the retention sweep (Errors ≥ 1 in 5 minutes)', () => {
    expect(alarmProps(stateless, dev, 'retentionSweepErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(dev, workerHandlers.retentionSweep) } }],
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      Period: 300,
    });
  });

  it('alarms on 5xx answers and p95 latency of the HTTP API stage', () => {
    const dimensions = [
      { Name: 'ApiId', Value: { Ref: logicalId(dev.stateless.api) } },
      { Name: 'Stage', Value: '$default' },
    ];
    expect(alarmProps(stateless, dev, 'api5xx')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: dimensions,
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: ALARMS.api5xx.threshold,
      Period: 300,
    });
    expect(alarmProps(stateless, dev, 'apiLatencyP95Ms')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: dimensions,
      ExtendedStatistic: 'p95',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: ALARMS.apiLatencyP95Ms.threshold,
      EvaluationPeriods: 3,
      Period: 300,
    });
    // Above every read route's normal latency, below create's own budget (which would alarm on every large file).
    expect(ALARMS.apiLatencyP95Ms.threshold).toBeLessThan(CREATE_INGEST_BUDGET_MS);
  });

  it('encrypts the topic with a rotating key CloudWatch may use, and enforces TLS for publishers', () => {
    const keyId = Object.keys(stateless.findResources('AWS::KMS::Key'))[0]!;
    stateless.resourceCountIs('AWS::SNS::Topic', 1);
    stateless.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    stateless.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    stateless.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('subscribes the alarmEmail address when given, and nothing otherwise', () => {
    stateless.resourceCountIs('AWS::SNS::Subscription', 0);
    prodStateless.resourceCountIs('AWS::SNS::Subscription', 1);
    prodStateless.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalId(prod.stateless.alarmTopic) },
    });
  });
});

// ---- stateless: retention ------------------------------------------------------
const alarmOf = (name: keyof typeof ALARMS): Json =>
  (stateless.findResources('AWS::CloudWatch::Alarm')[logicalId(dev.stateless.alarms[name])] as Json).Properties;

describe('stateless stack: observability', () => {
  it('traces every function with X-Ray (active tracing)', () => {
    const functions = Object.values(stateless.findResources('AWS::Lambda::Function')) as Json[];
    const ours = functions.filter((f) => String(f.Properties.Description ?? '').startsWith('trace-ingest '));
    expect(ours).toHaveLength(handlerNames.length);
    for (const f of ours) expect(f.Properties.TracingConfig, String(f.Properties.Description)).toEqual({ Mode: 'Active' });
  });

  it("alarms on ingest lag (p95 over 15 minutes) and on the bad-line rate, from the functions' own metrics", () => {
    const lag = alarmOf('ingestLagP95Ms');
    expect(lag).toMatchObject({ Threshold: 300_000, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold' });
    expect((lag.Metrics as Json[])[0]!.MetricStat).toEqual({
      Metric: { Namespace: METRICS_NAMESPACE, MetricName: METRIC.ingestLagMs, Dimensions: [{ Name: 'service', Value: 'trace-ingest' }] },
      Period: 300,
      Stat: 'p95',
    });
    const rate = alarmOf('badLineRatePercent');
    expect(rate).toMatchObject({ Threshold: 20, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' });
    const metrics = rate.Metrics as Json[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('IF(bad + good > 0, 100 * bad / (bad + good), 0)');
    expect(
      metrics
        .filter((m) => m.MetricStat)
        .map((m) => m.MetricStat.Metric.MetricName)
        .sort(),
    ).toEqual([METRIC.badLines, METRIC.tracesIngested].sort());
    expect(alarmOf('jobDeadLetters')).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dev.stateless.jobDeadLetterQueue), 'QueueName'] } }],
    });
    expect(alarmOf('jobWorkerErrors')).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(dev, workerHandlers.jobWorker) } }],
    });
  });

  it('has one dashboard: ingest rate and lag, bad-line rate, dead letters, throttles, API latency and errors by route, durations and concurrency', () => {
    stateless.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify((Object.values(stateless.findResources('AWS::CloudWatch::Dashboard'))[0] as Json).Properties.DashboardBody);
    for (const title of [
      'Ingest rate',
      'Ingest lag',
      'Bad-line rate',
      'Dead letters',
      'Throttles',
      'API latency',
      'API 4xx by route',
      'API 5xx by route',
      'Duration p95 by function',
      'Concurrent executions by function',
      'Alarms',
    ]) {
      expect(body, title).toContain(title);
    }
    for (const name of Object.values(METRIC)) expect(body, name).toContain(name);
    // A 4xx and a 5xx line for every route of the route table.
    for (const r of routes) expect(body).toContain(`${r.method} ${r.path}`.replace(/"/g, '\\"'));
    for (const name of handlerNames) expect(body, name).toContain(functionId(dev, name));
    stateless.hasOutput('DashboardName', {});
  });
});

describe('search index', () => {
  const functions = stateless.findResources('AWS::Lambda::Function');
  const indexerId = functionId(dev, workerHandlers.searchIndexer);
  const commitTableId = logicalId(dev.stateful.searchCommitTable);

  it('keeps its commits in a table of its own (LanceDB on S3 orders writers there), as durable as the trace table', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'base_uri', KeyType: 'HASH' },
        { AttributeName: 'version', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'base_uri', AttributeType: 'S' },
        { AttributeName: 'version', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    const prodCommits = prodStateful.findResources('AWS::DynamoDB::Table')[logicalId(prod.stateful.searchCommitTable)] as Json;
    expect(prodCommits.DeletionPolicy).toBe('Retain');
    expect(prodCommits.Properties.DeletionProtectionEnabled).toBe(true);
  });

  it('tells every function where the index is (its writers record work only then): s3+ddb:// the bucket under search/, with the commit table', () => {
    expect(searchIndexUri('b', 't')).toBe('s3+ddb://b/search?ddbTableName=t');
    for (const fn of Object.values(functions) as Json[]) {
      const uri = fn.Properties.Environment?.Variables?.SEARCH_INDEX_URI as Json | undefined;
      if (uri === undefined) continue; // CDK's own handlers
      const parts = uri['Fn::Join'][1] as Json[];
      expect(parts[0]).toBe('s3+ddb://');
      expect(parts[2]).toBe('/search?ddbTableName=');
      expect(JSON.stringify(parts[3])).toContain('SearchCommitTable');
    }
    for (const name of handlerNames)
      expect((functions[functionId(dev, name)] as Json).Properties.Environment.Variables.SEARCH_INDEX_URI, name).toBeDefined();
  });

  it('starts the indexer from the table stream, for new or re-recorded work items only (never its own writes), retried, and every 10 minutes as a safety net', () => {
    stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: Match.anyValue(),
      FunctionName: { Ref: indexerId },
      StartingPosition: 'LATEST',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      MaximumRetryAttempts: 100,
      BisectBatchOnFunctionError: true,
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify(SEARCH_WORK_STREAM_FILTER) }] },
    });
    const mapping = (Object.values(stateless.findResources('AWS::Lambda::EventSourceMapping')) as Json[]).find(
      (m) => m.Properties.FunctionName.Ref === indexerId,
    )!;
    expect(JSON.stringify(mapping.Properties.EventSourceArn)).toContain('StreamArn');
    // The pattern: keys SQ#… with U#… or R#… sort keys (search-work.ts); the lease (sk LEASE) and removals never match.
    expect(SEARCH_WORK_STREAM_FILTER.dynamodb.Keys.sk.S.map((r) => r.prefix)).toEqual(['U#', 'R#']);
    expect(SEARCH_WORK_STREAM_FILTER.eventName).not.toContain('REMOVE');
    stateless.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(10 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [indexerId, 'Arn'] } })],
    });
    const alarm = (stateless.findResources('AWS::CloudWatch::Alarm')[logicalId(dev.stateless.alarms.searchIndexerErrors)] as Json)
      .Properties;
    expect(alarm).toMatchObject({
      MetricName: 'Errors',
      Threshold: 3,
      EvaluationPeriods: 3,
      Period: 300,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: indexerId } }],
    });
  });

  it('grants the indexer the index read-write, and the list, the export and the deletion read-only: search/ objects, ListBucket of search/ only, the commit table', () => {
    for (const [name, access] of [
      [workerHandlers.searchIndexer, 'readWrite'],
      ['listTraces', 'read'],
      // An export's or a deletion's search takes the list's matches, from the index.
      ['exportTraces', 'read'],
      ['createJob', 'read'],
      [workerHandlers.jobWorker, 'read'],
    ] as const) {
      const statements = statementsOfRole(stateless, roleId(dev, name));
      const onCommits = statements.filter((st) => JSON.stringify(st.Resource).includes('SearchCommitTable'));
      expect(onCommits.flatMap((st) => asList<string>(st.Action)).sort(), name).toEqual(
        [...SEARCH_INDEX_ACTIONS.commitTable[access]].sort(),
      );
    }
    // Nobody else touches the index.
    for (const name of handlerNames.filter((n) => !SEARCH_ENGINE_HANDLERS.includes(n))) {
      expect(JSON.stringify(statementsOfRole(stateless, roleId(dev, name))), name).not.toContain('SearchCommitTable');
      expect(JSON.stringify(statementsOfRole(stateless, roleId(dev, name))), name).not.toContain('/search/');
    }
    expect(commitTableId).toMatch(/^SearchCommitTable/);
  });

  it('bundles the engine only with the functions that search (the list, an export, a deletion) or index: LanceDB and Arrow external, installed for arm64 after bundling', () => {
    expect([...SEARCH_ENGINE_HANDLERS].sort()).toEqual(['createJob', 'exportTraces', 'jobWorker', 'listTraces', 'searchIndexer']);
    const b = searchEngineBundling();
    expect(b).toMatchObject({ ...BUNDLING, externalModules: ['@lancedb/lancedb', 'apache-arrow'] });
    expect(b.forceDockerBundling).toBe(false);
    const [command] = b.commandHooks!.afterBundling('/in', '/out');
    expect(command).toMatch(/node ".*lib\/search-engine-modules\.mjs" "\/out" linux-arm64-gnu$/);
    expect(BUNDLING.externalModules ?? []).toEqual([]);
  });
});

describe('stateless stack: retention sweep', () => {
  const envOf = (template: Template, stacks: TraceIngestStacks) =>
    (template.findResources('AWS::Lambda::Function')[functionId(stacks, workerHandlers.retentionSweep)] as Json).Properties.Environment
      .Variables as Json;

  it('runs the sweeper hourly from one EventBridge rule', () => {
    // The sweeper's, and the search indexer's safety net.
    stateless.resourceCountIs('AWS::Events::Rule', 2);
    const sweeperArn = { 'Fn::GetAtt': [functionId(dev, workerHandlers.retentionSweep), 'Arn'] };
    stateless.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: sweeperArn })],
    });
    // EventBridge may invoke it, and only this rule.
    stateless.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: sweeperArn,
      SourceArn: { 'Fn::GetAtt': [logicalId(dev.stateless.retentionSchedule), 'Arn'] },
    });
  });

  it('keeps traces retentionDays (context) days: RETENTION_DAYS, validated by config.ts', async () => {
    expect(envOf(stateless, dev).RETENTION_DAYS).toBe('30');
    expect(envOf(prodStateless, prod).RETENTION_DAYS).toBe('7');
    expect(await validatedConfig({ TABLE_NAME: 't', BUCKET_NAME: 'b', RETENTION_DAYS: '7' })).toMatchObject({ RETENTION_DAYS: 7 });
    // Absent: traces are kept forever (the sweep does nothing).
    expect(((await validatedConfig({ TABLE_NAME: 't', BUCKET_NAME: 'b' })) as { RETENTION_DAYS?: number }).RETENTION_DAYS).toBeUndefined();
    await expect(validatedConfig({ TABLE_NAME: 't', BUCKET_NAME: 'b', RETENTION_DAYS: '0' })).rejects.toThrow(/RETENTION_DAYS/);
  });

  it('may read and write the table and delete under payloads/, nothing else in the bucket', () => {
    expect(grantsFor(workerHandlers.retentionSweep)).toEqual([
      { target: 'table', access: 'readWrite' },
      { target: 'objects', access: 'delete', prefix: PAYLOADS_PREFIX },
    ]);
    const statements = statementsOfRole(stateless, roleId(dev, workerHandlers.retentionSweep));
    const s3 = statements.filter((st) => asList<string>(st.Action).some((a) => a.startsWith('s3:')));
    expect(s3.map((st) => [asList<string>(st.Action), asList(st.Resource).map(resourceString)])).toEqual([
      [['s3:DeleteObject'], [`<token>/${PAYLOADS_PREFIX}*`]],
    ]);
    const actions = statements.flatMap((st) => asList<string>(st.Action));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem']));
    expect(actions.filter((a) => /Scan/.test(a))).toEqual([]);
  });
});

// ---- IAM ---------------------------------------------------------------------
describe('least privilege', () => {
  const WRITE_ACTIONS = /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|.*Write.*|Create.*|Delete.*|Update.*)$/;

  it('has a grant entry for every handler and none for handlers that do not exist', () => {
    expect(Object.keys(HANDLER_GRANTS).sort()).toEqual([...handlerNames].sort());
    expect(() => grantsFor('no-such-handler')).toThrow(/HANDLER_GRANTS/);
    expect(() => grantsFor('toString')).toThrow(/HANDLER_GRANTS/);
    const fn = traceFunction(dev, workerHandlers.authorizer).function;
    expect(() => grantHandler('no-such-handler', fn, { bucket: dev.stateful.bucket, table: dev.stateful.table })).toThrow();
  });

  it.each(handlerNames.filter((n) => n !== workerHandlers.ingest))(
    '%s gets exactly its grant list: table access and S3 actions per prefix',
    (name) => {
      const grants = grantsFor(name);
      const statements = statementsOfRole(stateless, roleId(dev, name));
      const actions = statements.flatMap((s) => asList<string>(s.Action));
      if (grants.some((g) => g.target === 'table')) expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
      else expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]); // health, openapi and notImplemented answer from code alone
      // A handler granted nothing (health, openapi, notImplemented) may touch no data at all.
      if (grants.length === 0) expect(actions.filter((a) => /^(dynamodb|s3):/.test(a))).toEqual([]);
      const writesTable = grants.some((g) => g.target === 'table' && g.access === 'readWrite');
      expect(actions.some((a) => WRITE_ACTIONS.test(a))).toBe(writesTable);
      expect(actions).not.toContain('dynamodb:*');

      // S3: exactly the object actions of its grants, on exactly their prefixes, nothing bucket-wide.
      const expected = new Map<string, Set<string>>();
      for (const g of grants) {
        if (g.target === 'table' || g.target === 'jobQueue') continue;
        const prefix = g.target === 'objects' ? g.prefix : SEARCH_PREFIX;
        const set = expected.get(prefix) ?? new Set<string>();
        for (const a of g.target === 'objects' ? OBJECT_ACTIONS[g.access] : SEARCH_INDEX_ACTIONS.objects[g.access]) set.add(a);
        expected.set(prefix, set);
      }
      // The search index's one bucket-level action: ListBucket of its own prefix, nothing else.
      const lists = statements.filter((st) => asList<string>(st.Action).includes('s3:ListBucket'));
      expect(lists.map((st) => [asList<string>(st.Action), st.Condition])).toEqual(
        grants.some((g) => g.target === 'searchIndex') ? [[['s3:ListBucket'], { StringLike: { 's3:prefix': [`${SEARCH_PREFIX}*`] } }]] : [],
      );
      const actual = new Map<string, Set<string>>();
      for (const statement of statements.filter(
        (st) => asList<string>(st.Action).some((a) => a.startsWith('s3:')) && !lists.includes(st),
      )) {
        for (const resource of asList(statement.Resource).map(resourceString)) {
          const match = /^<token>\/([a-z]+\/)\*$/.exec(resource);
          expect(match, `S3 resource ${resource} of ${name} is not an object prefix`).not.toBeNull();
          const set = actual.get(match![1]!) ?? new Set<string>();
          for (const a of asList<string>(statement.Action)) set.add(a);
          actual.set(match![1]!, set);
        }
      }
      expect(Object.fromEntries([...actual].map(([k, v]) => [k, [...v].sort()]))).toEqual(
        Object.fromEntries([...expected].map(([k, v]) => [k, [...v].sort()])),
      );
    },
  );

  it('grants no DynamoDB or S3 action on Resource "*", and names the table and each index (no index/* wildcard)', () => {
    for (const template of [stateless, prodStateless]) {
      for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as Json[]) {
        for (const statement of policy.Properties.PolicyDocument.Statement as Json[]) {
          // dynamodb:ListStreams takes no resource but "*" (the search indexer's stream consumption; the stream itself is named).
          const dataActions = asList<string>(statement.Action).filter(
            (a) => (/^(dynamodb|s3):/.test(a) || a === '*') && a !== 'dynamodb:ListStreams',
          );
          if (dataActions.length === 0) continue;
          const resources = asList(statement.Resource).map(resourceString);
          expect(resources, `${dataActions.join(',')}`).not.toContain('*');
          expect(resources.filter((r) => r.includes('/index/*'))).toEqual([]);
        }
      }
    }
    const tableStatement = statementsOfRole(stateless, roleId(dev, 'listTraces')).find((st) =>
      asList<string>(st.Action).includes('dynamodb:Query'),
    )!;
    expect(asList(tableStatement.Resource).map(resourceString).sort()).toEqual(
      ['<token>', ...INDEXES.map((i) => `<token>/index/${i.name}`)].sort(),
    );
    expect([...asList<string>(tableStatement.Action)].sort()).toEqual([...TABLE_ACTIONS.read].sort());
    expect(TABLE_ACTIONS.read.concat(TABLE_ACTIONS.readWrite).filter((a) => /Scan|GetRecords|GetShardIterator|\*/.test(a))).toEqual([]);
  });

  it('only presignUpload may put under uploads/, and no API handler may list or delete outside payloads/', () => {
    for (const name of handlerNames.filter((n) => n !== workerHandlers.ingest)) {
      const grants = grantsFor(name).filter((g) => g.target === 'objects');
      const putsUploads = grants.some(
        (g) => g.target === 'objects' && g.prefix === 'uploads/' && OBJECT_ACTIONS[g.access].includes('s3:PutObject'),
      );
      expect(putsUploads, name).toBe(name === 'presignUpload');
      for (const g of grants) if (g.target === 'objects' && g.access === 'delete') expect(g.prefix, name).toBe(PAYLOADS_PREFIX);
    }
  });

  it('ingest reads uploads/ and drop/, writes only payloads/, never lists or touches the whole bucket', () => {
    const statements = statementsOfRole(stateless, roleId(dev, workerHandlers.ingest));
    const s3 = statements.filter((s) => asList<string>(s.Action).some((a) => a.startsWith('s3:')));
    const access = new Map<string, Set<string>>();
    for (const statement of s3) {
      expect(statement.Effect).toBe('Allow');
      for (const resource of asList(statement.Resource).map(resourceString)) {
        const match = /^<token>\/([a-z]+\/)\*$/.exec(resource);
        expect(match, `S3 resource ${resource} is not an object prefix`).not.toBeNull();
        const prefix = match![1]!;
        const set = access.get(prefix) ?? new Set<string>();
        for (const a of asList<string>(statement.Action)) set.add(a);
        access.set(prefix, set);
      }
    }
    expect([...access.keys()].sort()).toEqual([...INGEST_PREFIXES, PAYLOADS_PREFIX].sort());
    for (const prefix of INGEST_PREFIXES) {
      expect([...access.get(prefix)!].filter((a) => !a.startsWith('s3:Get'))).toEqual([]);
    }
    expect([...access.get(PAYLOADS_PREFIX)!]).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    expect([...access.values()].flatMap((set) => [...set]).filter((a) => /^s3:(List|Delete|\*)/.test(a))).toEqual([]);

    const actions = statements.flatMap((s) => asList<string>(s.Action));
    expect(actions).toEqual(
      expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']),
    );
  });
});

// ---- configuration -------------------------------------------------------------
describe('configuration', () => {
  const configOf = (context: Record<string, unknown>) => loadConfig(new App({ context }).node);

  it('defaults to dev, 30 days, any origin', () => {
    expect(configOf({})).toMatchObject({
      stage: 'dev',
      isDev: true,
      retentionDays: 30,
      corsOrigins: ['*'],
      logRetention: 30,
      alarmEmail: undefined,
    });
  });

  it('parses context given on the command line', () => {
    expect(configOf(PROD_CONTEXT)).toMatchObject({
      stage: 'prod',
      isDev: false,
      retentionDays: 7,
      corsOrigins: ['https://app.example.com', 'https://admin.example.com'],
      logRetention: 90,
      alarmEmail: 'ops@example.com',
    });
    expect(configOf({ corsOrigins: '["https://a.example.com"]' }).corsOrigins).toEqual(['https://a.example.com']);
  });

  it.each([
    ['stage', 'Prod Stage'],
    ['retentionDays', '0'],
    ['retentionDays', 'thirty'],
    ['logRetentionDays', 31],
    ['corsOrigins', 'app.example.com'],
    ['corsOrigins', 'https://app.example.com/'],
    ['alarmEmail', 'not-an-email'],
    ['tableIndexes', '0'],
    ['tableIndexes', String(INDEXES.length + 1)],
  ])('rejects %s=%j', (key, value) => {
    expect(() => configOf({ [key]: value })).toThrow(new RegExp(`"${key}"`));
  });
});

describe('upgrading a deployed table one index per deployment (tableIndexes)', () => {
  it('declares the first n indexes of INDEXES, in order, and all of them by default', () => {
    const indexesOf = (context: Record<string, unknown>) => {
      const built = build(context);
      const table = Template.fromStack(built.stateful).findResources('AWS::DynamoDB::Table')[logicalId(built.stateful.table)] as Json;
      return (table.Properties.GlobalSecondaryIndexes as Json[]).map((g) => g.IndexName);
    };
    expect(indexesOf({ tableIndexes: '4' })).toEqual(INDEXES.slice(0, 4).map((i) => i.name));
    expect(indexesOf({})).toEqual(INDEXES.map((i) => i.name));
  });
});

// ---- stateless: web viewer -------------------------------------------------------
describe('stateless stack: web viewer', () => {
  const bucketId = logicalId(dev.stateless.viewer.bucket);
  const distributionId = logicalId(dev.stateless.viewer.distribution);

  it('keeps its files in a private, encrypted, TLS-only bucket that only the distribution may read (origin access control)', () => {
    const bucket = stateless.findResources('AWS::S3::Bucket')[bucketId] as Json;
    expect(bucket.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    // Build output only: disposable in every stage (prod too), emptied by its deployments when they are deleted.
    expect((prodStateless.findResources('AWS::S3::Bucket')[logicalId(prod.stateless.viewer.bucket)] as Json).DeletionPolicy).toBe('Delete');
    const policy = Object.values(stateless.findResources('AWS::S3::BucketPolicy')).find(
      (p: Json) => p.Properties.Bucket.Ref === bucketId,
    ) as Json;
    const statements = policy.Properties.PolicyDocument.Statement as Json[];
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({ Effect: 'Allow', Action: 's3:GetObject', Principal: { Service: 'cloudfront.amazonaws.com' } }),
      ]),
    );
    const read = statements.find((st) => st.Effect === 'Allow')!;
    expect(JSON.stringify(read.Condition)).toContain(distributionId);
    stateless.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
  });

  it('serves index.html over HTTPS with a content security policy, HSTS and no framing', () => {
    stateless.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          AllowedMethods: ['GET', 'HEAD'],
          Compress: true,
        }),
      }),
    });
    const policy = Object.values(stateless.findResources('AWS::CloudFront::ResponseHeadersPolicy'))[0] as Json;
    const security = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    expect(security.ContentSecurityPolicy.ContentSecurityPolicy).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' https://*.amazonaws.com; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(security.FrameOptions.FrameOption).toBe('DENY');
    expect(security.StrictTransportSecurity.AccessControlMaxAgeSec).toBe(365 * 86_400);
  });

  it("deploys the hashed assets for a year and index.html with config.json (the API's URL) revalidated, and outputs the viewer's URL", () => {
    const deployments = Object.values(stateless.findResources('Custom::CDKBucketDeployment')) as Json[];
    expect(deployments).toHaveLength(2);
    const [assets, pages] = [
      deployments.find((d) => d.Properties.Prune === false)!,
      deployments.find((d) => d.Properties.Prune !== false)!,
    ];
    expect(assets.Properties.Include).toEqual(['assets/*']);
    expect(assets.Properties.SystemMetadata['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(pages.Properties.Exclude).toEqual(['assets/*']);
    expect(pages.Properties.SystemMetadata['cache-control']).toBe('no-cache');
    // config.json is written at deployment with the stage's URL (a marker in the source, replaced by the handler).
    expect(JSON.stringify(pages.Properties.SourceMarkers)).toContain(logicalId(dev.stateless.api));
    stateless.hasOutput('ViewerUrl', { Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/']] } });
  });

  it("gives CDK's deployment handler a log group with the stage's retention", () => {
    for (const [t, days] of [
      [stateless, 30],
      [prodStateless, 90],
    ] as const) {
      const handler = Object.entries(t.findResources('AWS::Lambda::Function')).find(([id]) =>
        id.startsWith('CustomCDKBucketDeployment'),
      )?.[1] as Json | undefined;
      expect(handler, 'deployment handler').toBeDefined();
      const groupId = handler!.Properties.LoggingConfig.LogGroup.Ref as string;
      expect((t.findResources('AWS::Logs::LogGroup')[groupId] as Json).Properties.RetentionInDays).toBe(days);
    }
  });
});
