/**
 * Registers cdk-nag's AwsSolutions pack (v3: a policy validation plugin) on an
 * app: every `cdk synth` and every synth in the tests runs it, and any finding
 * that is not acknowledged (lib/nag.ts) fails the synth with a report
 * (cdk.out/validation-report.json).
 */
import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

export function addNagChecks(app: App): AwsSolutionsChecks {
  const pack = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(pack);
  return pack;
}
