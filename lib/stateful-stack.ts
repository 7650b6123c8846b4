/**
 * Data that outlives deployments: the trace bucket and the single table.
 * Both are built from shared definitions (key prefixes from functions/routes.ts,
 * key schema and indexes from functions/adapters/dynamo/schema.ts).
 * Outside `dev` they are retained and the table is deletion-protected.
 */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE } from '../functions/adapters/dynamo/schema.js';
import type { AppConfig } from './config.js';
import { EXPIRING_PREFIXES } from './layout.js';

export interface StatefulStackProps extends StackProps {
  readonly config: AppConfig;
}

export class StatefulStack extends Stack {
  public readonly bucket: Bucket;
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.bucket = new Bucket(this, 'TraceBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: config.removalPolicy,
      autoDeleteObjects: config.isDev,
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

    this.table = new Table(this, 'TraceTable', {
      partitionKey: { name: TABLE_PARTITION_KEY, type: AttributeType.STRING },
      sortKey: { name: TABLE_SORT_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: !config.isDev,
      removalPolicy: config.removalPolicy,
    });
    for (const index of INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        projectionType: ProjectionType.ALL,
      });
    }
  }
}

function lifecycleRules(retentionDays: number): LifecycleRule[] {
  const retention = Duration.days(retentionDays);
  return [
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ...EXPIRING_PREFIXES.map(
      (prefix): LifecycleRule => ({
        id: `expire-${prefix.replace(/\/$/, '')}`,
        prefix,
        expiration: retention,
        noncurrentVersionExpiration: retention,
      }),
    ),
  ];
}
