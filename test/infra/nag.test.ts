import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { applyNag } from '../../infra/nag.ts';
import { unsuppressedNagFindings } from './app.ts';

// Each stack's test file asserts that its stack has no unsuppressed finding (dev, and every stack
// of prod in stateful-stack.test.ts), on the app it already synthesised. This checks the check.
describe('cdk-nag AwsSolutions', () => {
  it('reports an unsuppressed finding as an annotation', () => {
    // Prepare: a queue without DLQ nor TLS enforcement, under the same checks.
    const app = new App();
    const stack = new Stack(app, 'Probe');
    new Queue(stack, 'UnprotectedQueue');
    applyNag(app);

    // Act
    const findings = unsuppressedNagFindings(stack);

    // Assess
    expect(findings.some((finding) => finding.includes('AwsSolutions-SQS3'))).toBe(true);
    expect(findings.some((finding) => finding.includes('AwsSolutions-SQS4'))).toBe(true);
  });
});
