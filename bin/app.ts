#!/usr/bin/env node
/**
 * CDK app: `TraceIngest-<stage>-Stateful` (bucket, table) and
 * `TraceIngest-<stage>-Stateless` (queues, functions, HTTP API).
 * Context keys are documented in lib/config.ts, e.g.
 *   npx cdk synth -c stage=prod -c corsOrigins=https://app.example.com
 */
import { App } from 'aws-cdk-lib';
import { buildTraceIngestApp } from '../lib/trace-ingest-app.js';

const app = new App();
buildTraceIngestApp(app, {
  account: process.env.CDK_DEFAULT_ACCOUNT,
  region: process.env.CDK_DEFAULT_REGION,
});
app.synth();
