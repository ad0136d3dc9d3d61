import { Aspects, type IAspect } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag's AwsSolutions pack over the whole app (cdk-nag 2.x: findings become synth annotations;
 * `cdk synth` fails on unsuppressed errors). Every suppression sits next to the resource it
 * concerns, with its reason, and is scoped to a rule (and finding) of that resource only.
 */
export const applyNag = (scope: IConstruct): AwsSolutionsChecks => {
  const checks = new AwsSolutionsChecks({ verbose: true });
  Aspects.of(scope).add(checks as IAspect);
  return checks;
};
