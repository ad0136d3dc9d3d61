import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableItemActions } from '../../infra/constructs/app-function.ts';
import { stages } from '../../infra/config.ts';
import { usageKeyValue } from '../../infra/stacks/api-stack.ts';
import { routes } from '../../shared/http/routes.ts';
import { actionsOf, buildTestApp, statementsOf, unsuppressedNagFindings, type BuiltApp, type CfnResource } from './app.ts';

type Method = CfnResource & { Properties: { HttpMethod: string; AuthorizationType: string; ApiKeyRequired?: boolean; AuthorizerId?: unknown; ResourceId: unknown } };

const envelope = (message: string) => JSON.stringify({ success: false, error: { message } });

describe('ApiStack (dev)', () => {
  let app: BuiltApp;
  let template: Template;

  // Synthesising the app takes seconds on a shared machine: above vitest's 10 s hook default.
  beforeAll(() => {
    app = buildTestApp();
    template = app.template(app.api);
  }, 120_000);

  it('leaves no cdk-nag AwsSolutions finding unsuppressed', () => {
    expect(unsuppressedNagFindings(app.api)).toEqual([]);
  });

  const functionEnv = (prefix: string): Record<string, unknown> => {
    const [, fn] = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith(prefix)) as [string, CfnResource];
    return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  };
  const methods = () => Object.values(template.findResources('AWS::ApiGateway::Method')) as Method[];

  it('takes the usage-plan key from the authorizer, on a regional endpoint', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER', EndpointConfiguration: { Types: ['REGIONAL'] } });
  });

  it('runs the REQUEST authorizer on every call, without a result cache (three alternative token locations)', () => {
    template.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { Type: 'REQUEST', AuthorizerResultTtlInSeconds: 0, IdentitySource: '' });
  });

  it('puts every token route behind the authorizer with an API key required, admin routes behind IAM and only /health open', () => {
    // Prepare
    const served = routes.filter((route) => route.module !== 'sandbox');

    // Act
    const all = methods();

    // Assess
    expect(all).toHaveLength(served.length);
    const byAuth = (type: string) => all.filter((method) => method.Properties.AuthorizationType === type);
    expect(byAuth('CUSTOM')).toHaveLength(served.filter((route) => route.auth === 'token').length);
    for (const method of byAuth('CUSTOM')) {
      expect(method.Properties.ApiKeyRequired).toBe(true);
      expect(method.Properties.AuthorizerId).toEqual({ Ref: expect.stringMatching(/^Authorizer/) });
    }
    expect(byAuth('AWS_IAM')).toHaveLength(served.filter((route) => route.auth === 'admin').length);
    expect(byAuth('NONE')).toHaveLength(1);
    expect(byAuth('NONE')[0]?.Properties.HttpMethod).toBe('GET');
  });

  it('meters each account tier with its own usage plan, throttle, monthly quota and send/create method throttles', () => {
    // Prepare
    const tiers = stages.dev?.usagePlans ?? [];
    const plans = Object.values(template.findResources('AWS::ApiGateway::UsagePlan')) as CfnResource[];

    // Assess
    expect(plans).toHaveLength(tiers.length);
    for (const tier of tiers) {
      const plan = plans.find((candidate) => candidate.Properties.UsagePlanName === `${app.api.stackName}-${tier.name}`);
      expect(plan?.Properties).toMatchObject({
        Throttle: { RateLimit: tier.throttle.rateLimit, BurstLimit: tier.throttle.burstLimit },
        Quota: { Limit: tier.monthlyQuota, Period: 'MONTH' },
      });
      const [stage] = plan?.Properties.ApiStages as { Throttle: Record<string, { RateLimit: number; BurstLimit: number }> }[];
      const perMethod = stage?.Throttle ?? {};
      const sendPaths = routes.filter((route) => route.module === 'message').map((route) => `${route.path}/${route.method}`);
      expect(Object.keys(perMethod).sort()).toEqual([...sendPaths, '/api/instance/new/POST'].sort());
      expect(perMethod['/api/message/text/{instance}/POST']).toEqual({ RateLimit: tier.methods.send.rateLimit, BurstLimit: tier.methods.send.burstLimit });
      expect(perMethod['/api/instance/new/POST']).toEqual({ RateLimit: tier.methods.createInstance.rateLimit, BurstLimit: tier.methods.createInstance.burstLimit });
      template.hasResourceProperties('AWS::ApiGateway::ApiKey', { Value: usageKeyValue(app.api.stackName, tier.name), Enabled: true });
    }
    template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', tiers.length);
  });

  it('hands the authorizer the key of every tier, as valid API key values', () => {
    // Act
    const keys = JSON.parse(functionEnv('AuthorizerFunction').ZAPFLEET_USAGE_PLAN_KEYS as string) as { tier: string; maxRatePerMinute: number | null; key: string }[];

    // Assess
    expect(keys.map((key) => key.tier)).toEqual(stages.dev?.usagePlans.map((tier) => tier.name));
    expect(keys.at(-1)?.maxRatePerMinute).toBeNull();
    for (const key of keys) expect(key.key).toMatch(/^[A-Za-z0-9]{20,128}$/);
  });

  it('answers API Gateway refusals in the contract error envelope, with a JSON content type', () => {
    // Prepare
    const expected: Record<string, { status?: string; body: string }> = {
      UNAUTHORIZED: { body: envelope('Invalid token') },
      ACCESS_DENIED: { body: envelope('Access denied') },
      THROTTLED: { body: envelope('Rate limit exceeded. Try again later.') },
      QUOTA_EXCEEDED: { body: envelope('Rate limit exceeded. Try again later.') },
      BAD_REQUEST_BODY: { body: envelope('Invalid request body') },
      REQUEST_TOO_LARGE: { body: envelope('Request body too large') },
      MISSING_AUTHENTICATION_TOKEN: { status: '404', body: envelope('Route not found') },
      DEFAULT_4XX: { body: '{"success":false,"error":{"message":$context.error.messageString}}' },
      DEFAULT_5XX: { body: envelope('Internal server error') },
    };

    // Act
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')) as CfnResource[];
    const byType = new Map(responses.map((response) => [response.Properties.ResponseType as string, response.Properties]));

    // Assess
    for (const [type, { status, body }] of Object.entries(expected)) {
      const response = byType.get(type);
      expect(response, type).toBeDefined();
      expect(response?.ResponseTemplates).toEqual({ 'application/json': body });
      expect(response?.ResponseParameters).toMatchObject({ 'gatewayresponse.header.Content-Type': "'application/json; charset=utf-8'" });
      expect(response?.StatusCode).toBe(status);
    }
    for (const body of Object.values(expected).map((entry) => entry.body).filter((candidate) => !candidate.includes('$context'))) {
      expect(JSON.parse(body)).toMatchObject({ success: false, error: { message: expect.any(String) } });
    }
  });

  it('logs access as JSON without query strings, errors only and never bodies', () => {
    // Prepare
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0] as CfnResource;
    const access = stage.Properties.AccessLogSetting as { DestinationArn: unknown; Format: string };

    // Assess
    expect(access.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ApiAccessLogs/), 'Arn'] });
    expect(() => JSON.parse(access.Format) as unknown).not.toThrow();
    expect(access.Format).not.toMatch(/querystring|\$context\.path/i);
    expect(stage.Properties.MethodSettings).toEqual(
      expect.arrayContaining([expect.objectContaining({ HttpMethod: '*', ResourcePath: '/*', LoggingLevel: 'ERROR', DataTraceEnabled: false, MetricsEnabled: true })]),
    );
    expect(stage.Properties.MethodSettings).toEqual(expect.arrayContaining([expect.objectContaining({ HttpMethod: 'POST', ResourcePath: '/~1api~1message~1text~1{instance}', ThrottlingRateLimit: 50 })]));
  });

  it('runs every function on ARM64 and a pinned Node.js runtime, synchronous ones under the 29 s integration timeout', () => {
    const functions = Object.entries(template.findResources('AWS::Lambda::Function')) as [string, CfnResource][];
    expect(functions).toHaveLength(6);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({ Architectures: ['arm64'], Runtime: 'nodejs24.x', Handler: 'index.handler' });
      expect(fn.Properties.Timeout as number).toBeLessThan(29);
    }
  });

  it('gives every app function the configuration functions/aws.ts requires', () => {
    for (const prefix of ['AuthorizerFunction', 'InstanceFunction', 'EventsFunction', 'MessageFunction', 'AdminFunction']) {
      const env = functionEnv(prefix);
      for (const key of ['ZAPFLEET_TABLE_NAME', 'ZAPFLEET_KMS_KEY_ID', 'ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT', 'ZAPFLEET_BASE_URL', 'ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE', 'ZAPFLEET_MEDIA_BUCKET']) {
        expect(env[key], `${prefix} ${key}`).toBeDefined();
      }
      expect(env.ZAPFLEET_SHARD_COUNT).toBe('4');
      expect(JSON.stringify(env.ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE)).toContain('-shard-{shard}.fifo');
    }
    expect(functionEnv('InstanceFunction').ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT).toBeDefined();
    expect(functionEnv('AdminFunction').ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT).toBeDefined();
    expect(functionEnv('MessageFunction').ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT).toBeUndefined();
  });

  it('grants no wildcard action and no unscoped resource to any role', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as CfnResource[];
    for (const statement of policies.flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement)) {
      for (const action of actionsOf(statement)) expect(action).not.toMatch(/^(\*|[a-z0-9-]+:\*)$/);
      expect(statement.Resource).not.toBe('*');
      expect(statement.Resource).not.toContain('*');
    }
  });

  it('lets the authorizer decrypt only the token pepper and touch only the table', () => {
    // Act
    const statements = statementsOf(template, 'AuthorizerFunction');
    const actions = statements.flatMap(actionsOf);

    // Assess
    expect(actions.filter((action) => action.startsWith('dynamodb:')).sort()).toEqual([...tableItemActions].sort());
    expect(actions.some((action) => /^(sqs|s3|execute-api):/.test(action))).toBe(false);
    const dataKeyUse = statements.filter((statement) => JSON.stringify(statement.Resource).includes('DataKey'));
    expect(dataKeyUse).toEqual([expect.objectContaining({ Action: 'kms:Decrypt', Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'token-pepper' } } })]);
    const tableKeyUse = statements.filter((statement) => JSON.stringify(statement.Resource).includes('TableKey'));
    expect(tableKeyUse).toEqual([expect.objectContaining({ Condition: { StringEquals: { 'kms:ViaService': expect.anything() } } })]);
  });

  it('lets only the instance function create data keys, and only the sending functions reach the shard queues', () => {
    const can = (prefix: string, action: string) => statementsOf(template, prefix).some((statement) => actionsOf(statement).includes(action));
    expect(['InstanceFunction', 'EventsFunction', 'MessageFunction', 'AdminFunction'].filter((prefix) => can(prefix, 'kms:GenerateDataKey'))).toEqual(['InstanceFunction']);
    expect(['AuthorizerFunction', 'InstanceFunction', 'EventsFunction', 'MessageFunction', 'AdminFunction', 'HealthFunction'].filter((prefix) => can(prefix, 'sqs:SendMessage'))).toEqual(['InstanceFunction', 'MessageFunction']);
    const send = statementsOf(template, 'MessageFunction').find((statement) => actionsOf(statement).includes('sqs:SendMessage'));
    expect(JSON.stringify(send?.Resource)).toContain(':Zapfleet-dev-Stateful-shard-*.fifo');
    const overflow = statementsOf(template, 'MessageFunction').find((statement) => actionsOf(statement).includes('s3:PutObject'));
    expect(JSON.stringify(overflow?.Resource)).toContain('/commands/*');
  });

  it('lets the health check only describe the table', () => {
    expect(statementsOf(template, 'HealthFunction')).toEqual([expect.objectContaining({ Action: 'dynamodb:DescribeTable' })]);
  });

  it('lets API Gateway invoke each function once for the whole API rather than once per method', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')) as CfnResource[];
    // five route groups + the authorizer
    expect(permissions).toHaveLength(6);
    for (const permission of permissions) expect(permission.Properties.Principal).toBe('apigateway.amazonaws.com');
  });

  it('exposes the base URL as an output', () => {
    template.hasOutput('ApiUrl', { Value: Match.anyValue() });
  });
});

describe('ApiStack with CORS origins', () => {
  it('answers preflights without authorization and adds the single origin to gateway responses', () => {
    // Prepare
    const app = buildTestApp({ corsOrigins: 'https://app.example.com' });

    // Act
    const template = app.template(app.api);
    const options = (Object.values(template.findResources('AWS::ApiGateway::Method')) as Method[]).filter((method) => method.Properties.HttpMethod === 'OPTIONS');

    // Assess
    expect(options.length).toBeGreaterThan(0);
    for (const option of options) expect(option.Properties).toMatchObject({ AuthorizationType: 'NONE' });
    for (const option of options) expect(option.Properties.ApiKeyRequired ?? false).toBe(false);
    expect(unsuppressedNagFindings(app.api)).toEqual([]);
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Access-Control-Allow-Origin': "'https://app.example.com'" }),
    });
  });
});
