/**
 * cdk-nag acknowledgements (cdk-nag v3: CDK's own `Validations.of(x).acknowledge`,
 * there is no NagSuppressions any more). Every acknowledgement goes through
 * `acknowledge` so it carries a written reason, and is as narrow as the finding
 * allows: on the one construct it is about, and for rules with several findings
 * per resource (IAM4, IAM5) on the one finding (`RuleId[FindingId]`).
 *
 * The AwsSolutions pack itself is registered by lib/nag-checks.ts (bin/app.ts
 * and the tests).
 */
import { Stack, Validations } from 'aws-cdk-lib';
// cdk-nag's own rendering of a CloudFormation value in a finding id (a devDependency, like everything that synthesizes).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/** A reason shorter than this is not a reason. */
export const MIN_ACKNOWLEDGEMENT_REASON = 20;

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (!/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/.test(id)) {
    throw new Error(
      `cdk-nag acknowledgement "${id}" is not an AwsSolutions rule id like AwsSolutions-S1 or AwsSolutions-IAM5[Resource::…]`,
    );
  }
  checkReason(scope, id, reason);
  Validations.of(scope).acknowledge({ id, reason });
}

function checkReason(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length < MIN_ACKNOWLEDGEMENT_REASON) {
    throw new Error(
      `cdk-nag acknowledgement ${id} on ${scope.node.path} needs a written reason of at least ${MIN_ACKNOWLEDGEMENT_REASON} characters`,
    );
  }
}

export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement recorded under `root` (for tests and reviews). */
export function acknowledgementsIn(root: IConstruct): Acknowledgement[] {
  const found: Acknowledgement[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [qualified, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: construct.node.path, id: qualified.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return found;
}

/**
 * Acknowledges one wildcard resource (AwsSolutions-IAM5[Resource::…]) of the
 * policies of `scope` (a role), written the way cdk-nag writes it. cdk-nag
 * checks the policies after CDK has resolved cross-stack references (the
 * bucket ARN of the stateful stack becomes an Fn::GetStackOutput of it), so the
 * finding's id is only known then: a node validation computes it, which CDK
 * runs after resolving references and before the validation plugins.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  checkReason(scope, 'AwsSolutions-IAM5[Resource::…]', reason);
  const done = new Set<string>(); // every synth validates again; acknowledge each id once
  scope.node.addValidation({
    validate: () => {
      const id = `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`;
      if (!done.has(id)) acknowledge(scope, id, reason);
      done.add(id);
      return [];
    },
  });
}
