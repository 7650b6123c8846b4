/**
 * The web viewer on AWS: its static files (web/, built by the project's esbuild at synth) in a
 * private bucket, served by CloudFront through origin access control, and a config.json that
 * names the API's URL. Nothing runs while nobody looks: S3 storage of about 50 KB and CloudFront
 * requests. Content-hashed assets are cached for a year, index.html and config.json revalidated.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AssetHashType, DefaultStackSynthesizer, DockerImage, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source, type ISource } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { viewerCsp } from '../../web/csp.js';
import { REPO_ROOT } from '../layout.js';
import { acknowledge, acknowledgeWildcardResource } from '../nag.js';

/** Where the presigned uploads and the API go from the page: S3 and API Gateway endpoints. */
export const VIEWER_CONNECT_SOURCES = 'https://*.amazonaws.com';

export class Viewer extends Construct {
  public readonly bucket: Bucket;
  public readonly distribution: Distribution;
  /** `https://<distribution domain>`: the viewer's origin (for the API's CORS). */
  public readonly origin: string;
  public readonly url: string;
  private readonly site: ISource;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: { logRetention: RetentionDays; removalPolicy: RemovalPolicy },
  ) {
    super(scope, id);
    // Build output only, rebuilt at every deploy: always disposable, whatever the stage.
    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'The bucket holds only the viewer’s public build output (HTML, one script, one stylesheet), written by the deployment and read ' +
        'only by CloudFront through origin access control; server access logs would record nothing but CloudFront fetching those files.',
    );

    const headers = new ResponseHeadersPolicy(this, 'Headers', {
      comment: 'trace-ingest viewer: CSP, HSTS, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: viewerCsp(VIEWER_CONNECT_SOURCES), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'trace-ingest web viewer',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
    });
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR1',
      'The viewer is for any place its users work from; the files are public build output and every API call needs an API key, so a geo restriction would protect nothing.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR2',
      'The distribution serves static files only (GET/HEAD, cached); a WAF web ACL costs a monthly fee even while idle, and the API it calls has its own throttling and key authorizer.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR3',
      'Static build output only; the requests that matter (the API calls) are in the API access log. Standard CloudFront logs would need an ACL-enabled log bucket for files anyone may fetch.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR4',
      'The distribution uses the default *.cloudfront.net certificate, on which CloudFront does not let the minimum TLS version be set; with a custom domain and certificate, set TLSv1.2_2021.',
    );
    this.origin = `https://${this.distribution.distributionDomainName}`;
    this.url = `${this.origin}/`;

    this.site = Source.asset(join(REPO_ROOT, 'web'), {
      exclude: ['dist'],
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Built by the local esbuild (web/build.ts): tryBundle succeeds or throws, so the image is never pulled.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir: string): boolean {
            execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), join(REPO_ROOT, 'web/build.ts'), outputDir], {
              stdio: 'inherit',
            });
            return true;
          },
        },
      },
    });
  }

  /** Copies the files and config.json (naming `apiUrl`) into the bucket at deployment. */
  deploy(apiUrl: string): void {
    // One log group for CDK's deployment handler (shared by both deployments), with the stage's retention.
    const logGroup = new LogGroup(this, 'DeploymentLogs', { retention: this.props.logRetention, removalPolicy: this.props.removalPolicy });
    // Hashed files first, kept from earlier deployments (a page loaded before a deployment still finds its script).
    const assets = new BucketDeployment(this, 'DeployAssets', {
      sources: [this.site],
      destinationBucket: this.bucket,
      exclude: ['*'],
      include: ['assets/*'],
      prune: false,
      cacheControl: [CacheControl.setPublic(), CacheControl.maxAge(Duration.days(365)), CacheControl.immutable()],
      memoryLimit: 256,
      logGroup,
    });
    const pages = new BucketDeployment(this, 'DeployPages', {
      sources: [this.site, Source.jsonData('config.json', { apiUrl })],
      destinationBucket: this.bucket,
      exclude: ['assets/*'],
      cacheControl: [CacheControl.noCache()],
      memoryLimit: 256,
      logGroup,
    });
    pages.node.addDependency(assets);
    acknowledgeDeploymentHandler(Stack.of(this), this.bucket);
  }
}

/**
 * CDK's own BucketDeployment handler (one per stack, run at deployment only) comes with
 * AWSLambdaBasicExecutionRole and the S3 actions CDK grants it (wildcard actions on the asset
 * bucket's objects and on the viewer bucket's): acknowledged finding by finding.
 */
function acknowledgeDeploymentHandler(stack: Stack, bucket: Bucket): void {
  const handlers = stack.node.children.filter((c: IConstruct) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
  if (handlers.length !== 1) throw new Error(`expected one CDK BucketDeployment handler in ${stack.node.path}, found ${handlers.length}`);
  const handler = handlers[0]!;
  const why =
    "CDK's own BucketDeployment handler, a deploy-time custom resource that copies the viewer's build output from the CDK asset bucket " +
    'into the viewer bucket, comes with this role and these grants (CDK writes them, not us); it runs only during deployments, never on a request.';
  acknowledge(handler, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', why);
  for (const action of ['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'])
    acknowledge(handler, `AwsSolutions-IAM5[Action::${action}]`, why);
  // The CDK asset bucket, as the default synthesizer names it (partition, account and region literal when the stack's env says).
  const qualifier =
    (stack.node.tryGetContext('@aws-cdk/core:bootstrapQualifier') as string | undefined) ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  acknowledgeWildcardResource(handler, `arn:${stack.partition}:s3:::cdk-${qualifier}-assets-${stack.account}-${stack.region}/*`, why);
  acknowledgeWildcardResource(handler, bucket.arnForObjects('*'), why);
  acknowledge(handler, 'AwsSolutions-L1', `${why} Its runtime is the one this CDK version pins for it.`);
}
