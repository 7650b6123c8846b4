/**
 * Logs and metrics of the functions, with Powertools for AWS Lambda: one Logger (JSON lines with
 * the Lambda context: request id, cold start, function), keys per request or message (tenant,
 * upload, route) held in AsyncLocalStorage so concurrent work in one process (the local stack, a
 * batch of messages) never mixes them, and Metrics in embedded metric format, flushed at the end
 * of each invocation. The domain keeps its injected `log(entry)`: services.ts hands it `log`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from './metric-names.js';
import { takeThrottles } from './throttles.js';

export { MetricUnit };

let instance: Logger | undefined;

/** The functions' one Logger, made on first use (a function that never logs does not load it at start). */
export function logger(): Logger {
  instance ??= new Logger({ serviceName: SERVICE_NAME });
  return instance;
}

const keys = new AsyncLocalStorage<Record<string, unknown>>();

/** Runs `fn` with `extra` added to the keys every log line in it carries. */
export function withLogKeys<T>(extra: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  return keys.run({ ...(keys.getStore() ?? {}), ...extra }, fn);
}

/** The domain's log: `{level?, msg, ...fields}` as one line, with the current request's or message's keys. */
export function log(entry: Record<string, unknown>): void {
  const { level, msg, ...fields } = entry;
  const message = typeof msg === 'string' ? msg : 'event';
  const all = { ...(keys.getStore() ?? {}), ...fields };
  const l = logger();
  if (level === 'error') l.error(message, all);
  else if (level === 'warn') l.warn(message, all);
  else l.info(message, all);
}

/** At each invocation: the Lambda context (request id, cold start) on every line from now on. */
export function startInvocation(context: Context | undefined): void {
  if (context) logger().addContext(context);
}

/** One Metrics per function (its handler name as the `route` dimension for HTTP routes). */
export function metricsFor(defaultDimensions: Record<string, string> = {}): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, defaultDimensions });
}

/** Writes the invocation's metrics (with its throttled retries) as one EMF line; nothing when there are none. */
export function flushMetrics(metrics: Metrics): void {
  const throttled = takeThrottles();
  if (throttled > 0) metrics.addMetric(METRIC.throttledRetries, MetricUnit.Count, throttled);
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
