/**
 * Data that outlives deployments: the trace bucket (and the bucket its server
 * access logs go to) and the single table. Both are built from shared
 * definitions (key prefixes from functions/routes.ts, key schema and indexes
 * from functions/adapters/dynamo/schema.ts). Outside `dev` they are retained
 * and the table is deletion-protected.
 */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE } from '../functions/adapters/dynamo/schema.js';
import type { AppConfig } from './config.js';
import { EXPIRING_PREFIXES, PAYLOADS_BACKSTOP_DAYS, PAYLOADS_PREFIX } from './layout.js';
import { EXPORTS_PREFIX, SEARCH_PREFIX } from '../functions/domain/layout.js';
import { JOB_KEEP_DAYS } from '../functions/domain/expiry.js';

/** Where the trace bucket's server access logs go in the log bucket. */
export const ACCESS_LOGS_PREFIX = 'trace-bucket/';

export interface StatefulStackProps extends StackProps {
  readonly config: AppConfig;
}

export class StatefulStack extends Stack {
  public readonly bucket: Bucket;
  /** Server access logs of the trace bucket (cdk-nag AwsSolutions-S1). */
  public readonly accessLogsBucket: Bucket;
  public readonly table: Table;
  /** The search index's commit store (LanceDB on S3 orders concurrent writers' commits here): `base_uri` S, `version` N. */
  public readonly searchCommitTable: Table;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // Server access log delivery supports SSE-S3 only on the target bucket.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // Delivery is granted by a bucket policy for logging.s3.amazonaws.com (feature flag serverAccessLogsUseBucketPolicy), not ACLs.
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: config.removalPolicy,
      autoDeleteObjects: config.isDev,
      lifecycleRules:
        config.logRetention === RetentionDays.INFINITE
          ? []
          : [
              {
                id: 'expire-access-logs',
                expiration: Duration.days(config.logRetention),
                abortIncompleteMultipartUploadAfter: Duration.days(1),
              },
            ],
    });
    // cdk-nag's S1 does not flag a bucket that is itself a server access log destination: nothing to acknowledge.

    this.bucket = new Bucket(this, 'TraceBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: config.removalPolicy,
      autoDeleteObjects: config.isDev,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: ACCESS_LOGS_PREFIX,
      cors: [
        {
          // Browsers upload straight to S3 with presigned PUT URLs (single or multipart).
          allowedMethods: [HttpMethods.PUT],
          allowedOrigins: [...config.corsOrigins],
          allowedHeaders: ['Content-Type', 'Content-Length'],
          // Multipart clients read each part's ETag to complete the upload.
          exposedHeaders: ['ETag'],
          maxAge: 3000,
        },
      ],
      lifecycleRules: lifecycleRules(config.retentionDays),
    });

    this.searchCommitTable = new Table(this, 'SearchCommitTable', {
      partitionKey: { name: 'base_uri', type: AttributeType.STRING },
      sortKey: { name: 'version', type: AttributeType.NUMBER },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: !config.isDev,
      removalPolicy: config.removalPolicy,
    });

    this.table = new Table(this, 'TraceTable', {
      partitionKey: { name: TABLE_PARTITION_KEY, type: AttributeType.STRING },
      sortKey: { name: TABLE_SORT_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: !config.isDev,
      removalPolicy: config.removalPolicy,
      // The search indexer is started by new search work items (a filtered event source: only their keys reach it).
      stream: StreamViewType.KEYS_ONLY,
    });
    for (const index of INDEXES.slice(0, config.tableIndexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        ...(index.projection === 'ALL'
          ? { projectionType: ProjectionType.ALL }
          : { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.projection] }),
      });
    }
  }
}

function lifecycleRules(retentionDays: number): LifecycleRule[] {
  const expire = (prefix: string, days: number): LifecycleRule => ({
    id: `expire-${prefix.replace(/\/$/, '')}`,
    prefix,
    expiration: Duration.days(days),
    noncurrentVersionExpiration: Duration.days(days),
  });
  return [
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ...EXPIRING_PREFIXES.map((prefix) => expire(prefix, retentionDays)),
    // A backstop only: the retention sweep deletes old traces with their payloads first (lib/layout.ts).
    expire(PAYLOADS_PREFIX, retentionDays + PAYLOADS_BACKSTOP_DAYS),
    // Export files: their download outlives the job's own record by nothing (functions/domain/expiry.ts JOB_KEEP_DAYS).
    expire(EXPORTS_PREFIX, JOB_KEEP_DAYS),
    // The search index's files the engine removed (old versions, compacted fragments): the bucket is versioned.
    {
      id: 'expire-removed-search-files',
      prefix: SEARCH_PREFIX,
      noncurrentVersionExpiration: Duration.days(1),
      expiredObjectDeleteMarker: true,
    },
  ];
}
