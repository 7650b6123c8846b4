/**
 * Builds both stacks into an App. Shared by bin/app.ts and the CDK tests, so
 * the tests assert on exactly what `cdk synth` produces.
 */
import type { App, Environment } from 'aws-cdk-lib';
import { loadConfig, stackName, type AppConfig } from './config.js';
import { StatefulStack } from './stateful-stack.js';
import { StatelessStack } from './stateless-stack.js';

export interface TraceIngestStacks {
  readonly config: AppConfig;
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

export function buildTraceIngestApp(app: App, env?: Environment): TraceIngestStacks {
  const config = loadConfig(app.node);
  const common = { env, tags: { ...config.tags } };

  const stateful = new StatefulStack(app, stackName(config.stage, 'Stateful'), {
    ...common,
    config,
    description: `trace-ingest ${config.stage}: trace bucket and table`,
    terminationProtection: !config.isDev,
  });
  const stateless = new StatelessStack(app, stackName(config.stage, 'Stateless'), {
    ...common,
    config,
    description: `trace-ingest ${config.stage}: ingest queue, functions and HTTP API`,
    bucket: stateful.bucket,
    table: stateful.table,
    searchCommitTable: stateful.searchCommitTable,
  });

  return { config, stateful, stateless };
}
