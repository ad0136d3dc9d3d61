import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, buildTestApp, statementsOf, unsuppressedNagFindings, type BuiltApp, type CfnResource } from './app.ts';

describe('WebSocketStack (dev)', () => {
  let app: BuiltApp;
  let template: Template;

  // Synthesising the app takes seconds on a shared machine: above vitest's 10 s hook default.
  beforeAll(() => {
    app = buildTestApp();
    template = app.template(app.webSocket);
  }, 120_000);

  it('leaves no cdk-nag AwsSolutions finding unsuppressed', () => {
    expect(unsuppressedNagFindings(app.webSocket)).toEqual([]);
  });

  it('routes $connect, $disconnect and $default to the WebSocket function', () => {
    // Act
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as CfnResource[];
    const integrations = Object.values(template.findResources('AWS::ApiGatewayV2::Integration')) as CfnResource[];

    // Assess
    expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual(['$connect', '$default', '$disconnect']);
    expect(integrations).toHaveLength(3);
    for (const integration of integrations) {
      expect(integration.Properties.IntegrationType).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain('WebSocketFunction');
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
  });

  it('deploys one throttled stage named after the stage, with JSON access logs that leave out the query string (token)', () => {
    // Act
    const [stage] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage')) as CfnResource[];
    const access = stage?.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };

    // Assess
    expect(stage?.Properties).toMatchObject({ StageName: 'dev', AutoDeploy: true, DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 } });
    expect(access.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WebSocketAccessLogs/), 'Arn'] });
    expect(JSON.parse(access.Format)).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey' });
    expect(access.Format).not.toMatch(/querystring|token/i);
  });

  it('exposes the https management endpoint of its stage, and the wss URL for clients as an output', () => {
    expect(app.webSocket.resolve(app.webSocket.managementEndpoint)).toEqual({ 'Fn::Join': ['', expect.arrayContaining(['https://', '/dev'])] });
    expect(JSON.stringify(template.toJSON().Outputs.WebSocketUrl.Value)).toContain('wss://');
  });

  it('lets the function manage connections of this stage only, and gives it the endpoint', () => {
    // Act
    const manage = statementsOf(template, 'WebSocketFunction').filter((statement) => actionsOf(statement).includes('execute-api:ManageConnections'));
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')) as CfnResource[];

    // Assess
    expect(manage).toHaveLength(1);
    expect(JSON.stringify(manage[0]?.Resource)).toContain('/dev/*/@connections/*');
    expect((fn?.Properties.Environment as { Variables: Record<string, unknown> }).Variables.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT).toBeDefined();
  });

  it('grants the push functions of other stacks the same management access', () => {
    const pushers = [
      ['InstanceFunction', app.template(app.api)],
      ['AdminFunction', app.template(app.api)],
      ['DispatcherFunction', app.template(app.events)],
    ] as const;
    for (const [prefix, stackTemplate] of pushers) {
      expect(statementsOf(stackTemplate, prefix).some((statement) => actionsOf(statement).includes('execute-api:ManageConnections')), prefix).toBe(true);
    }
  });
});
