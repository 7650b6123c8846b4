/**
 * cdk-nag (v3, AwsSolutions pack) on both stacks of a dev and a prod-like
 * stage, exactly as bin/app.ts registers it: no unacknowledged finding, and
 * every acknowledgement has a written reason and is still needed.
 *
 * cdk-nag v3 is a CDK policy validation plugin, not an Aspect: findings are
 * not Annotations any more but a validation report, and a synth with a finding
 * throws (in tests) or fails (`cdk synth`). So the checks here are the synth
 * itself, its report file, and the pack's own report; the Annotations check is
 * kept as a guard that nothing reports AwsSolutions findings the v2 way.
 * Bundling is skipped (`aws:cdk:bundling-stacks: []`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { MIN_ACKNOWLEDGEMENT_REASON, acknowledgementsIn, type Acknowledgement } from '../../lib/nag.js';
import { addNagChecks } from '../../lib/nag-checks.js';
import { buildTraceIngestApp, type TraceIngestStacks } from '../../lib/trace-ingest-app.js';
import { routes } from '../../functions/routes.js';

const cdkContext =
  (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};

interface NaggedApp {
  readonly app: App;
  readonly stacks: TraceIngestStacks;
  /** The synth's validation report (cdk.out/validation-report.json). */
  readonly report: { pluginReports: Array<{ summary?: { pluginName?: string }; violations?: unknown[] }> };
  readonly pack: AwsSolutionsChecks;
}

/** Like bin/app.ts: the pack on the app, then the stacks, then synth (which runs the pack and throws on a finding). */
function synthWithNag(context: Record<string, unknown>): NaggedApp {
  const app = new App({ context: { ...cdkContext, ...context, 'aws:cdk:bundling-stacks': [] } });
  const pack = addNagChecks(app);
  const stacks = buildTraceIngestApp(app);
  const assembly = app.synth();
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as NaggedApp['report'];
  return { app, stacks, report, pack };
}

const STAGES = {
  dev: synthWithNag({}),
  prod: synthWithNag({
    stage: 'prod',
    retentionDays: 7,
    corsOrigins: 'https://app.example.com',
    logRetentionDays: 90,
    alarmEmail: 'ops@example.com',
  }),
};

interface Finding {
  readonly rule: string;
  readonly path: string;
  readonly severity: string;
}

/** Every finding the pack makes when acknowledgements are ignored (test-only: overrides the pack's private check). */
function rawFindings(app: App): Finding[] {
  const raw = new AwsSolutionsChecks();
  (raw as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return raw
    .validateScope(app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '', severity: v.severity ?? '' })),
    );
}

const covers = (ack: Acknowledgement, finding: Finding) =>
  ack.id === finding.rule && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`));

/** CDK's BucketDeployment handler (the viewer's files), the one construct whose wildcard actions are acknowledged. */
const DEPLOYMENT_HANDLER = /-Stateless\/Custom::CDKBucketDeployment[A-F0-9]+MiB$/;

describe.each(Object.entries(STAGES))('cdk-nag AwsSolutions, %s stage', (_stage, nagged) => {
  const stacks = () => [nagged.stacks.stateful, nagged.stacks.stateless];

  it('synthesizes with no AwsSolutions violation in the validation report', () => {
    // Reaching here means app.synth() did not throw; the report lists no AwsSolutions finding either.
    const nag = nagged.report.pluginReports.filter((r) => JSON.stringify(r).includes('AwsSolutions'));
    expect(nag).toEqual([]);
  });

  it('leaves no unacknowledged error or warning (pack report)', () => {
    const open = nagged.pack.validateScope(nagged.app).violations.map((v) => ({
      rule: v.ruleName,
      severity: v.severity,
      paths: v.violatingResources.map((r) => r.constructPath),
    }));
    expect(open).toEqual([]);
  });

  it('has no AwsSolutions error or warning annotation on either stack', () => {
    for (const stack of stacks()) {
      const annotations = Annotations.fromStack(stack);
      expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    }
  });

  it(`gives every acknowledgement a written reason (≥ ${MIN_ACKNOWLEDGEMENT_REASON} characters) and a specific rule`, () => {
    const acks = acknowledgementsIn(nagged.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.trim().length, `${ack.id} on ${ack.path}`).toBeGreaterThanOrEqual(MIN_ACKNOWLEDGEMENT_REASON);
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+/);
      // Granular rules are acknowledged per finding, never as a whole; actions only on CDK's own BucketDeployment handler (its grants are CDK's).
      if (/^AwsSolutions-IAM[45]\b/.test(ack.id))
        expect(ack.id, ack.path).toMatch(
          DEPLOYMENT_HANDLER.test(ack.path) ? /\[(Resource|Policy|Action)::.+\]$/ : /\[(Resource|Policy)::.+\]$/,
        );
      // Nothing is acknowledged for a whole stack or app.
      expect(
        stacks()
          .map((s) => s.node.path)
          .concat(['']),
      ).not.toContain(ack.path);
    }
    // Exactly these rules are acknowledged (see the reasons in lib/): anything else is a finding to fix or to argue.
    expect([...new Set(acks.map((a) => a.id.replace(/\[.*$/, '')))].sort()).toEqual([
      // The open routes (auth 'none' in the route table).
      'AwsSolutions-APIG4',
      // The web viewer's distribution (lib/constructs/viewer.ts): geo restriction, WAF, CloudFront logs, TLS on the default certificate.
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR2',
      'AwsSolutions-CFR3',
      'AwsSolutions-CFR4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-L1',
      // The viewer's bucket of build output.
      'AwsSolutions-S1',
    ]);
    for (const ack of acks.filter((a) => /^AwsSolutions-(CFR\d|S1)$/.test(a.id)))
      expect(ack.path).toMatch(/-Stateless\/Viewer\/(Distribution|Bucket)$/);
    // APIG4 (no gateway authorizer) only on the routes the route table opens (auth 'none') or that authenticate themselves ('apiKeyInRoute'), each on its own route.
    const open = routes.filter((r) => r.auth !== 'apiKey').map((r) => `${r.method}--${r.path.replace(/^\//, '').replace(/\//g, '--')}`);
    const apig4 = acks.filter((a) => a.id === 'AwsSolutions-APIG4').map((a) => a.path.split('/').at(-2));
    expect(apig4.sort()).toEqual(open.sort());
    // IAM5 only for the object-prefix grants (uploads/, drop/, payloads/, exports/), never a bucket, a table or an action; X-Ray's
    // actions on each function's role (they take no resource); except on CDK's BucketDeployment handler, whose grants CDK writes:
    // the asset bucket's and the viewer bucket's objects and their S3 actions.
    for (const ack of acks.filter((a) => a.id.startsWith('AwsSolutions-IAM5'))) {
      if (DEPLOYMENT_HANDLER.test(ack.path))
        expect(ack.id).toMatch(
          /\[(Action::s3:[A-Za-z]+\*|Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-<AWS::Region>\/\*|Resource::<ViewerBucket[A-F0-9]+\.Arn>\/\*)\]$/,
        );
      // Resource "*" only on a function's own role: X-Ray's actions, and the search indexer's dynamodb:ListStreams (the stream itself is named).
      else if (ack.id === 'AwsSolutions-IAM5[Resource::*]') expect(ack.path).toMatch(/Handler\/ServiceRole$/);
      else expect(ack.id).toMatch(/\/(uploads|drop|payloads|exports|search)\/\*\]$/);
    }
  });

  it('needs every acknowledgement: each one covers a finding the pack makes without it, and together they cover all', () => {
    const findings = rawFindings(nagged.app);
    const acks = acknowledgementsIn(nagged.app);
    expect(findings.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(
        findings.some((f) => covers(ack, f)),
        `unused acknowledgement ${ack.id} on ${ack.path}`,
      ).toBe(true);
    }
    for (const finding of findings) {
      expect(
        acks.some((a) => covers(a, finding)),
        `unacknowledged ${finding.rule} on ${finding.path}`,
      ).toBe(true);
    }
  });
});

describe('cdk-nag wiring', () => {
  it('fails the synth of an app with a finding (the pack really runs at synth)', () => {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    addNagChecks(app);
    new Bucket(new Stack(app, 'Careless'), 'Bucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1|AwsSolutions-S10/);
  });

  it('is registered by bin/app.ts', () => {
    const source = readFileSync(new URL('../../bin/app.ts', import.meta.url), 'utf8');
    expect(source).toMatch(/addNagChecks\(app\)/);
  });
});
