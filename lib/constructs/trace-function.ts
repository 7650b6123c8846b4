/**
 * One Lambda entry file (`functions/handlers/<name>.ts`) as a function with
 * the project's defaults: Node 22 on ARM, ESM bundle built by the local
 * esbuild (never Docker), source maps on, its own log group with retention.
 * Permissions are not granted here: see lib/handler-grants.ts.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOCK_FILE, REPO_ROOT, handlerEntry } from '../layout.js';
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
}

export class TraceFunction extends Construct {
  public readonly handlerName: string;
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: TraceFunctionProps) {
    super(scope, id);
    this.handlerName = props.handlerName;

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    this.function = new NodejsFunction(this, 'Function', {
      entry: handlerEntry(props.handlerName),
      handler: 'handler',
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup: this.logGroup,
      description: props.description ?? `trace-ingest ${props.handlerName}`,
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: BUNDLING,
      environment: {
        NODE_OPTIONS: nodeOptionsFor(props.memorySize),
        ...props.environment,
      },
    });
  }
}
