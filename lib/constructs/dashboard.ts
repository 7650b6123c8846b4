/**
 * The operations dashboard: what the pipeline does on AWS, from the functions' own metrics
 * (embedded metric format, functions/shared/metric-names.ts) and AWS's (Lambda, SQS, API Gateway).
 * Rows: ingest (rate, bytes, lag, bad-line rate), queues (dead letters) and throttles, the API
 * (latency, errors by route), the functions (duration, concurrency), and the alarms.
 */
import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  type IAlarm,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { routes } from '../../functions/routes.js';
import { METRIC, METRICS_NAMESPACE, ROUTE_DIMENSION, SERVICE_NAME } from '../../functions/shared/metric-names.js';
import type { TraceFunction } from './trace-function.js';

const PERIOD = Duration.minutes(5);

const own = (name: string, statistic: string, dimensions: Record<string, string> = {}, label?: string) =>
  new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: SERVICE_NAME, ...dimensions },
    statistic,
    period: PERIOD,
    ...(label ? { label } : {}),
  });

/** The ingest worker's metrics (also what the lag and bad-line alarms watch). */
export const ingestMetrics = {
  traces: () => own(METRIC.tracesIngested, 'Sum', {}, 'traces ingested'),
  badLines: () => own(METRIC.badLines, 'Sum', {}, 'bad lines'),
  bytes: () => own(METRIC.bytesIngested, 'Sum', {}, 'bytes'),
  lag: (statistic: string) => own(METRIC.ingestLagMs, statistic, {}, `lag ${statistic}`),
  duration: (statistic: string) => own(METRIC.ingestDurationMs, statistic, {}, `duration ${statistic}`),
  /** Bad lines as a percentage of the lines ingested (0 when nothing was ingested). */
  badLineRate: (period: Duration = PERIOD) =>
    new MathExpression({
      expression: 'IF(bad + good > 0, 100 * bad / (bad + good), 0)',
      usingMetrics: { bad: ingestMetrics.badLines().with({ period }), good: ingestMetrics.traces().with({ period }) },
      label: 'bad-line rate (%)',
      period,
    }),
};

export interface OperationsDashboardProps {
  readonly stage: string;
  readonly functions: ReadonlyMap<string, TraceFunction>;
  readonly apiStage: HttpStage;
  readonly ingestFunction: TraceFunction;
  readonly deadLetterQueues: Readonly<Record<string, Queue>>;
  readonly alarms: readonly IAlarm[];
}

export class OperationsDashboard extends Construct {
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const fns = [...props.functions.values()];
    const perFunction = (metric: (f: TraceFunction) => IMetric) => fns.map(metric);
    const graph = (title: string, left: IMetric[], width = 8, right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    const routeKeys = [...new Set(routes.map((r) => `${r.method} ${r.path}`))];
    const byRoute = (name: string) =>
      routeKeys.map((key) =>
        own(
          name,
          'Sum',
          { [ROUTE_DIMENSION]: key },
          key.replace(/\/api\/v1\/organizations\/\{organizationId\}\/projects\/\{projectId\}/, 'P'),
        ),
      );

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `trace-ingest-${props.stage}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown: `# trace-ingest ${props.stage}\nIngest, queues, API and functions. Metrics in namespace \`${METRICS_NAMESPACE}\` come from the functions (EMF).`,
            width: 24,
            height: 2,
          }),
        ],
        [
          graph('Ingest rate (traces, bad lines per 5 min)', [ingestMetrics.traces(), ingestMetrics.badLines()], 8, [
            ingestMetrics.bytes(),
          ]),
          graph(
            'Ingest lag: object created to ingested (ms)',
            [ingestMetrics.lag('p50'), ingestMetrics.lag('p95'), ingestMetrics.lag('Maximum')],
            8,
            [ingestMetrics.duration('p95')],
          ),
          graph('Bad-line rate (%)', [ingestMetrics.badLineRate()]),
        ],
        [
          graph(
            'Dead letters (messages visible)',
            Object.entries(props.deadLetterQueues).map(([name, q]) =>
              q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD, label: name }),
            ),
          ),
          graph('Throttles', [
            own(METRIC.throttledRetries, 'Sum', {}, 'DynamoDB throttled attempts'),
            props.ingestFunction.function.metricThrottles({ statistic: 'Sum', period: PERIOD, label: 'ingest worker throttled' }),
          ]),
          graph('API latency (ms)', [
            props.apiStage.metricLatency({ statistic: 'p50', period: PERIOD }),
            props.apiStage.metricLatency({ statistic: 'p95', period: PERIOD }),
            props.apiStage.metricIntegrationLatency({ statistic: 'p95', period: PERIOD }),
          ]),
        ],
        [graph('API 4xx by route', byRoute(METRIC.clientErrors), 12), graph('API 5xx by route', byRoute(METRIC.serverErrors), 12)],
        [
          graph(
            'Duration p95 by function (ms): the API routes and the workers',
            perFunction((f) => f.function.metricDuration({ statistic: 'p95', period: PERIOD, label: f.handlerName })),
            12,
          ),
          graph(
            'Concurrent executions by function',
            perFunction((f) => f.function.metric('ConcurrentExecutions', { statistic: 'Maximum', period: PERIOD, label: f.handlerName })),
            12,
          ),
        ],
        [
          graph(
            'Errors by function',
            perFunction((f) => f.function.metricErrors({ statistic: 'Sum', period: PERIOD, label: f.handlerName })),
            12,
          ),
          new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 12, height: 6 }),
        ],
      ],
    });
  }
}
