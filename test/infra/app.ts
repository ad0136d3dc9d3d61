import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import { buildApp, type ZapfleetApp } from '../../infra/build-app.ts';

export interface BuiltApp extends ZapfleetApp {
  template: (stack: Stack) => Template;
}

/**
 * The whole app of one stage, built once per test file (beforeAll). Bundling is skipped
 * (`aws:cdk:bundling-stacks: []` gives every function a placeholder asset): esbuild runs once per
 * function at synth, and only bundling.test.ts needs real bundles.
 */
export const buildTestApp = (context: Record<string, unknown> = {}): BuiltApp => {
  const built = buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } }));
  const templates = new Map<Stack, Template>();
  return {
    ...built,
    template: (stack) => {
      let template = templates.get(stack);
      if (!template) templates.set(stack, (template = Template.fromStack(stack)));
      return template;
    },
  };
};

export type CfnResource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** The IAM statements of every policy attached to the role of a function (logical id prefix). */
export const statementsOf = (template: Template, functionLogicalIdPrefix: string): { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] => {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as CfnResource[];
  return policies
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`${functionLogicalIdPrefix}ServiceRole`))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: never[] }).Statement);
};

export const actionsOf = (statement: { Action: string | string[] }): string[] => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);

/** cdk-nag AwsSolutions errors and warnings left unsuppressed on a stack (the app applies the pack). */
export const unsuppressedNagFindings = (stack: Stack): string[] => {
  const annotations = Annotations.fromStack(stack);
  const nag = Match.stringLikeRegexp('AwsSolutions-');
  return [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)].map((finding) => `${finding.id}: ${String(finding.entry.data).slice(0, 200)}`);
};
