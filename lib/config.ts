/**
 * Deployment configuration, read once from CDK context and validated, so the
 * stacks receive plain typed values and a bad `-c key=value` fails at synth
 * with a clear message instead of producing a broken template.
 *
 * Context keys (cdk.json "context" or `cdk synth -c key=value`):
 *   stage             deployment stage, lower-case (default "dev"); "dev" is disposable
 *   retentionDays     days to keep traces (the hourly retention sweep deletes older ones) and the raw
 *                     uploads/ and drop/ files; payloads/ expires 7 days later as a backstop (default 30)
 *   corsOrigins       allowed browser origins: JSON array or comma-separated list (default ["*"])
 *   logRetentionDays  retention of the Lambda and API access log groups and of the S3 server access logs,
 *                     a CloudWatch Logs retention value (default 30)
 *   alarmEmail        e-mail subscribed to the alarm topic (optional; without it the topic has no subscription)
 *   tableIndexes      how many of the table's indexes (schema.ts INDEXES, in order) the stateful stack declares
 *                     (default all). CloudFormation adds one index per deployment: a table deployed with
 *                     fewer indexes is upgraded one deployment at a time (README, "Upgrading a deployed table").
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { INDEXES } from '../functions/adapters/dynamo/schema.js';

export const PROJECT_NAME = 'trace-ingest';

/** Prefix of the stack names: `TraceIngest-<stage>-Stateful` / `-Stateless`. */
export const STACK_NAME_PREFIX = 'TraceIngest';

/** The stage whose data is disposable (DESTROY, no deletion protection). */
export const DEV_STAGE = 'dev';

export const CONTEXT_KEYS = {
  stage: 'stage',
  retentionDays: 'retentionDays',
  corsOrigins: 'corsOrigins',
  logRetentionDays: 'logRetentionDays',
  alarmEmail: 'alarmEmail',
  tableIndexes: 'tableIndexes',
} as const;

export const DEFAULTS = {
  stage: DEV_STAGE,
  retentionDays: 30,
  corsOrigins: ['*'] as readonly string[],
  logRetentionDays: RetentionDays.ONE_MONTH,
  /** HTTP API default stage throttling (requests; per account/region limits still apply). */
  apiThrottle: { burstLimit: 200, rateLimit: 100 },
} as const;

export interface ApiThrottle {
  readonly burstLimit: number;
  readonly rateLimit: number;
}

export interface AppConfig {
  readonly stage: string;
  /** True for the disposable `dev` stage. */
  readonly isDev: boolean;
  /** DESTROY in dev, RETAIN elsewhere: for data and logs. */
  readonly removalPolicy: RemovalPolicy;
  readonly retentionDays: number;
  readonly corsOrigins: readonly string[];
  readonly logRetention: RetentionDays;
  readonly alarmEmail: string | undefined;
  /** How many of INDEXES the table declares (all but during an upgrade). */
  readonly tableIndexes: number;
  readonly apiThrottle: ApiThrottle;
  /** Tags applied to both stacks (and by CloudFormation to their resources). */
  readonly tags: Readonly<Record<string, string>>;
}

export class ConfigError extends Error {
  constructor(key: string, message: string) {
    super(`Invalid CDK context "${key}": ${message}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(node: Node): AppConfig {
  const stage = parseStage(node.tryGetContext(CONTEXT_KEYS.stage));
  const isDev = stage === DEV_STAGE;
  return {
    stage,
    isDev,
    removalPolicy: isDev ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    retentionDays: parsePositiveInt(CONTEXT_KEYS.retentionDays, node.tryGetContext(CONTEXT_KEYS.retentionDays), DEFAULTS.retentionDays),
    corsOrigins: parseOrigins(node.tryGetContext(CONTEXT_KEYS.corsOrigins)),
    logRetention: parseLogRetention(node.tryGetContext(CONTEXT_KEYS.logRetentionDays)),
    alarmEmail: parseEmail(node.tryGetContext(CONTEXT_KEYS.alarmEmail)),
    tableIndexes: parseTableIndexes(node.tryGetContext(CONTEXT_KEYS.tableIndexes)),
    apiThrottle: DEFAULTS.apiThrottle,
    tags: { Project: PROJECT_NAME, Stage: stage },
  };
}

export function stackName(stage: string, kind: 'Stateful' | 'Stateless'): string {
  return `${STACK_NAME_PREFIX}-${stage}-${kind}`;
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function parseStage(value: unknown): string {
  if (isUnset(value)) return DEFAULTS.stage;
  if (typeof value !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(value)) {
    throw new ConfigError(
      CONTEXT_KEYS.stage,
      `expected a lower-case name like "dev" or "prod" (a-z, 0-9, -), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function parsePositiveInt(key: string, value: unknown, fallback: number): number {
  if (isUnset(value)) return fallback;
  const n = typeof value === 'string' ? Number(value.trim()) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new ConfigError(key, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseTableIndexes(value: unknown): number {
  const n = parsePositiveInt(CONTEXT_KEYS.tableIndexes, value, INDEXES.length);
  if (n > INDEXES.length) throw new ConfigError(CONTEXT_KEYS.tableIndexes, `the table has ${INDEXES.length} indexes, got ${n}`);
  return n;
}

function parseLogRetention(value: unknown): RetentionDays {
  const days = parsePositiveInt(CONTEXT_KEYS.logRetentionDays, value, DEFAULTS.logRetentionDays);
  const allowed = Object.values(RetentionDays).filter((v): v is RetentionDays => typeof v === 'number');
  if (!allowed.includes(days as RetentionDays)) {
    throw new ConfigError(CONTEXT_KEYS.logRetentionDays, `${days} is not a CloudWatch Logs retention; use one of ${allowed.join(', ')}`);
  }
  return days as RetentionDays;
}

function parseOrigins(value: unknown): readonly string[] {
  if (isUnset(value)) return DEFAULTS.corsOrigins;
  let list: unknown = value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        list = JSON.parse(text);
      } catch {
        throw new ConfigError(CONTEXT_KEYS.corsOrigins, `not valid JSON: ${text}`);
      }
    } else {
      list = text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    }
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((o): o is string => typeof o === 'string')) {
    throw new ConfigError(CONTEXT_KEYS.corsOrigins, `expected a non-empty list of origins, got ${JSON.stringify(value)}`);
  }
  for (const origin of list) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        CONTEXT_KEYS.corsOrigins,
        `"${origin}" is not "*" or an origin like https://app.example.com (no path, no trailing slash)`,
      );
    }
  }
  return [...new Set(list)];
}

function parseEmail(value: unknown): string | undefined {
  if (isUnset(value)) return undefined;
  if (typeof value !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
    throw new ConfigError(CONTEXT_KEYS.alarmEmail, `expected an e-mail address, got ${JSON.stringify(value)}`);
  }
  return value;
}
