import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, statementsOf, unsuppressedNagFindings, type BuiltApp, type CfnResource } from './app.ts';

describe('EventsStack (dev)', () => {
  let app: BuiltApp;
  let template: Template;

  // Synthesising the app takes seconds on a shared machine: above vitest's 10 s hook default.
  beforeAll(() => {
    app = buildTestApp();
    template = app.template(app.events);
  }, 120_000);

  it('leaves no cdk-nag AwsSolutions finding unsuppressed', () => {
    expect(unsuppressedNagFindings(app.events)).toEqual([]);
  });

  it('feeds the events queue to the dispatcher with partial batch responses and bounded concurrency', () => {
    // Act
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as CfnResource[];

    // Assess
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({ BatchSize: 10, FunctionResponseTypes: ['ReportBatchItemFailures'], ScalingConfig: { MaximumConcurrency: 5 } });
    expect(JSON.stringify(mappings[0]?.Properties.EventSourceArn)).toContain('EventsQueue');
    expect(JSON.stringify(mappings[0]?.Properties.FunctionName)).toContain('DispatcherFunction');
  });

  it('keeps the dispatcher timeout within a sixth of the queue visibility timeout', () => {
    // Prepare
    const stateful = app.template(app.stateful).toJSON().Resources as Record<string, CfnResource>;
    const queueId = (app.stateful.resolve(app.stateful.eventsQueue.queueArn) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];

    // Act
    const dispatcher = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('DispatcherFunction'))?.[1] as CfnResource;

    // Assess
    expect((stateful[queueId]?.Properties.VisibilityTimeout as number) / (dispatcher.Properties.Timeout as number)).toBeGreaterThanOrEqual(6);
  });

  it('runs the retry sweep every minute', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
  });

  it('lets the dispatcher consume the events queue, read event payloads and unwrap data keys, but not send commands or create keys', () => {
    // Act
    const statements = statementsOf(template, 'DispatcherFunction');
    const actions = statements.flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]));

    // Assess
    expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 's3:GetObject', 'kms:Decrypt', 'execute-api:ManageConnections']));
    expect(actions).not.toContain('sqs:SendMessage');
    expect(actions).not.toContain('s3:PutObject');
    expect(actions).not.toContain('kms:GenerateDataKey');
    const receive = statements.find((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).includes('sqs:ReceiveMessage'));
    expect(JSON.stringify(receive?.Resource)).toContain('EventsQueue');
  });

  it('leaves WebSocket management to the dispatcher: the retry sweep only retries webhooks', () => {
    const actions = statementsOf(template, 'RetrySweepFunction').flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]));
    expect(actions).toContain('s3:GetObject');
    expect(actions).not.toContain('execute-api:ManageConnections');
  });

  it('renders envelopes with the API base URL', () => {
    const dispatcher = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('DispatcherFunction'))?.[1] as CfnResource;
    expect((dispatcher.Properties.Environment as { Variables: Record<string, unknown> }).Variables.ZAPFLEET_BASE_URL).toBeDefined();
  });
});
