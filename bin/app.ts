#!/usr/bin/env node
/**
 * CDK app: `TraceIngest-<stage>-Stateful` (bucket, access-log bucket, table) and
 * `TraceIngest-<stage>-Stateless` (queues, functions, HTTP API, alarms).
 * Context keys are documented in lib/config.ts, e.g.
 *   npx cdk synth -c stage=prod -c corsOrigins=https://app.example.com -c alarmEmail=ops@example.com
 * cdk-nag's AwsSolutions pack runs at every synth: an unacknowledged finding fails it.
 */
import { App } from 'aws-cdk-lib';
import { addNagChecks } from '../lib/nag-checks.js';
import { buildTraceIngestApp } from '../lib/trace-ingest-app.js';

const app = new App();
addNagChecks(app);
buildTraceIngestApp(app, {
  account: process.env.CDK_DEFAULT_ACCOUNT,
  region: process.env.CDK_DEFAULT_REGION,
});
app.synth();
