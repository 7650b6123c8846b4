/**
 * One Lambda entry file (`functions/handlers/<name>.ts`) as a function with
 * the project's defaults: Node 22 on ARM, ESM bundle built by the local
 * esbuild (never Docker), source maps on, its own log group with retention,
 * and its own role that may write to that log group and nothing else (no
 * AWSLambdaBasicExecutionRole, whose logs:* reach every log group).
 * Data permissions are not granted here: see lib/handler-grants.ts.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOCK_FILE, REPO_ROOT, handlerEntry } from '../layout.js';
import { acknowledge } from '../nag.js';
import { nodeOptionsFor } from '../node-options.js';

export const FUNCTION_RUNTIME = Runtime.NODEJS_22_X;
export const FUNCTION_ARCHITECTURE = Architecture.ARM_64;

/** Shared by every function. The SDK is bundled so the deployed versions are the lock file's. */
export const BUNDLING: BundlingOptions = {
  forceDockerBundling: false,
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  format: OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  bundleAwsSDK: true,
};

export interface TraceFunctionProps {
  /** Entry name: the file `functions/handlers/<handlerName>.ts`. */
  readonly handlerName: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: RetentionDays;
  /** For the log group (DESTROY in dev, RETAIN elsewhere). */
  readonly removalPolicy: RemovalPolicy;
  readonly environment?: Readonly<Record<string, string>>;
  readonly description?: string;
  /** Instead of BUNDLING (the search engine's functions: lib/search-engine.ts). */
  readonly bundling?: BundlingOptions;
}

export class TraceFunction extends Construct {
  public readonly handlerName: string;
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;
  /** The function's execution role: its log group here, its data grants from lib/handler-grants.ts. */
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: TraceFunctionProps) {
    super(scope, id);
    this.handlerName = props.handlerName;

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    this.role = new Role(this, 'ServiceRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `trace-ingest ${props.handlerName}: its log group and its HANDLER_GRANTS`,
    });
    // logs:CreateLogStream and logs:PutLogEvents on this function's own log group (which exists: no CreateLogGroup).
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: handlerEntry(props.handlerName),
      handler: 'handler',
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup: this.logGroup,
      role: this.role,
      description: props.description ?? `trace-ingest ${props.handlerName}`,
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: props.bundling ?? BUNDLING,
      // X-Ray active tracing: every invocation is a trace segment (init, invocation, overhead) at no bundle cost.
      tracing: Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: nodeOptionsFor(props.memorySize),
        ...props.environment,
      },
    });

    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing (CDK adds it): xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions, so X-Ray itself requires Resource "*" for them; the role gets nothing else with a wildcard resource.',
    );
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      `Pinned to ${FUNCTION_RUNTIME.name} on purpose: the issue specifies Node.js 22 (an LTS runtime Lambda supports), ` +
        'and the bundles target node22 (BUNDLING.target). Moving to a newer runtime is a deliberate change of the runtime, ' +
        'the esbuild target and the tests together, not something a linter should make implicitly.',
    );
  }
}
