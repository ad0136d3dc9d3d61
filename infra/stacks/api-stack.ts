import { createHash } from 'node:crypto';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiKey,
  ApiKeySourceType,
  AuthorizationType,
  Cors,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  Period,
  RequestAuthorizer,
  ResponseType,
  RestApi,
  type Method,
  type MethodOptions,
} from 'aws-cdk-lib/aws-apigateway';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { renderError } from '../../shared/http/error-map.ts';
import { routes, type RouteDef, type RouteModule } from '../../shared/http/routes.ts';
import type { LambdaName } from '../bundling.ts';
import type { StageConfig } from '../config.ts';
import { AppFunction } from '../constructs/app-function.ts';
import type { StatefulStack } from './stateful-stack.ts';
import type { WebSocketStack } from './websocket-stack.ts';

export interface ApiStackProps extends StackProps {
  config: StageConfig;
  stateful: StatefulStack;
  /** Absent: no WebSocket API; instance deletion and token rotation then have no streams to close. */
  webSocket?: WebSocketStack;
}

/** Route module → the function (route group) that serves it. The sandbox routes exist only embedded. */
const functionOfModule: Partial<Record<RouteModule, LambdaName>> = { instance: 'instance', events: 'events', message: 'message', admin: 'admin', system: 'health' };

/** API Gateway's own refusals, in the contract's error envelope (AWS-NOTES §1 "Gateway responses"). */
const gatewayResponses: { type: ResponseType; status?: string; message: string | null }[] = [
  // The authorizer always allows and lets the handler render auth errors with the contract's
  // messages; these only happen if it fails or is misconfigured.
  { type: ResponseType.UNAUTHORIZED, message: renderError('auth.invalid_token').message },
  // IAM denied an admin call, or the usage-plan key the authorizer chose is unknown.
  { type: ResponseType.ACCESS_DENIED, message: 'Access denied' },
  { type: ResponseType.INVALID_API_KEY, message: 'Access denied' },
  { type: ResponseType.THROTTLED, message: renderError('rate_limit.exceeded').message },
  { type: ResponseType.QUOTA_EXCEEDED, message: renderError('rate_limit.exceeded').message },
  { type: ResponseType.BAD_REQUEST_BODY, message: renderError('request.invalid_body').message },
  { type: ResponseType.REQUEST_TOO_LARGE, message: renderError('request.body_too_large').message },
  // API Gateway answers unknown paths and methods (and unsigned calls to the IAM-authorised admin
  // routes) with MISSING_AUTHENTICATION_TOKEN 403; the contract says 404 `Route not found`.
  { type: ResponseType.MISSING_AUTHENTICATION_TOKEN, status: '404', message: renderError('route.not_found').message },
  { type: ResponseType.INTEGRATION_TIMEOUT, message: 'Request timed out' },
  { type: ResponseType.AUTHORIZER_FAILURE, message: renderError('internal').message },
  { type: ResponseType.AUTHORIZER_CONFIGURATION_ERROR, message: renderError('internal').message },
  // No status on the defaults: it would re-status every other 4xx/5xx response (AWS-NOTES §1).
  // `messageString` is API Gateway's own message, already JSON-quoted.
  { type: ResponseType.DEFAULT_4XX, message: null },
  { type: ResponseType.DEFAULT_5XX, message: renderError('internal').message },
];

/** The body template of a gateway response (simple substitution, not VTL). */
export const gatewayResponseBody = (message: string | null) =>
  message === null ? '{"success":false,"error":{"message":$context.error.messageString}}' : JSON.stringify({ success: false, error: { message } });

/**
 * Usage-plan API key value of a tier (20–128 alphanumerics, unique per account and Region).
 * Derived from the stack and tier so redeploys keep it. It is not a credential: the API's key
 * source is the authorizer, clients cannot present a key, and the key only selects a usage plan.
 */
export const usageKeyValue = (stackName: string, tier: string) => `zf${createHash('sha256').update(`${stackName}/${tier}`).digest('hex').slice(0, 40)}`;

/**
 * The REST API: one function per route group behind a Lambda REQUEST authorizer, usage plans per
 * account tier, and the contract's error bodies for API Gateway's own answers.
 */
export class ApiStack extends Stack {
  readonly restApi: RestApi;
  /** By route group: authorizer, instance, events, message, admin, health. */
  readonly functions: Record<string, AppFunction>;
  /** `<BASE_URL>`: the configured one, else the stage URL (no trailing slash). */
  readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, stateful, webSocket } = props;

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.restApi = new RestApi(this, 'RestApi', {
      // API Gateway's metrics are per API name: one per stage, or two stages in an account would
      // share the dashboard's and alarms' figures.
      restApiName: `zapfleet-${config.stage}`,
      description: `zapfleet ${config.stage}: the RyzeAPI-compatible HTTP API`,
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      // Usage plans match the key the authorizer returns as `usageIdentifierKey`; clients never send one.
      apiKeySourceType: ApiKeySourceType.AUTHORIZER,
      // Payloads are JSON or base64 inside JSON (media); API Gateway passes them through unchanged.
      binaryMediaTypes: [],
      // One CloudWatch role per account and Region (API Gateway's CfnAccount): this app sets it and
      // keeps it on teardown, since other APIs of the account may rely on it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: config.stage,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        // Standard fields carry the path without its query string: `?token=` never reaches the logs.
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        // Errors only, and never request/response bodies (tokens, message contents).
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        throttlingRateLimit: config.stageThrottle.rateLimit,
        throttlingBurstLimit: config.stageThrottle.burstLimit,
        methodOptions: {
          ...Object.fromEntries(
            routes.filter((route) => route.module === 'message').map((route) => [`${route.path}/${route.method}`, { throttlingRateLimit: config.sendThrottle.rateLimit, throttlingBurstLimit: config.sendThrottle.burstLimit }]),
          ),
          // Public and unmetered (no usage plan key): a low ceiling keeps it from being a lever on
          // the table's control plane (DescribeTable) or the account's API Gateway quota.
          '/health/GET': { throttlingRateLimit: 10, throttlingBurstLimit: 20 },
        },
      },
      ...(config.corsOrigins.length > 0
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: config.corsOrigins.includes('*') ? Cors.ALL_ORIGINS : config.corsOrigins,
              allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
              allowHeaders: ['Content-Type', 'Authorization', 'token', 'Idempotency-Key'],
              maxAge: Duration.minutes(10),
            },
          }
        : {}),
    });
    this.baseUrl = config.baseUrl ?? `https://${this.restApi.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${config.stage}`;

    const syncTimeout = Duration.seconds(28); // just under API Gateway's 29 s integration timeout
    const withManagement = (fn: AppFunction) => (webSocket ? fn.bindWebSocketManagement(webSocket.managementAccess()) : fn);
    // Unauthenticated: builds no app dependencies and can only describe the table.
    const healthFn = new AppFunction(this, 'HealthFunction', { name: 'health', config, timeout: Duration.seconds(5), memorySize: 256 });
    healthFn.addEnvironment('ZAPFLEET_TABLE_NAME', stateful.table.tableName);
    healthFn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:DescribeTable'], resources: [stateful.table.tableArn] }));
    const authorizerFn = new AppFunction(this, 'AuthorizerFunction', { name: 'authorizer', config, timeout: Duration.seconds(10) }).bindApp(stateful, 'pepper-only');
    this.functions = {
      authorizer: authorizerFn,
      instance: withManagement(new AppFunction(this, 'InstanceFunction', { name: 'instance', config, timeout: syncTimeout }).bindApp(stateful, 'unwrap-and-generate').bindCommandQueues(stateful)),
      events: new AppFunction(this, 'EventsFunction', { name: 'events', config, timeout: syncTimeout }).bindApp(stateful, 'unwrap'),
      message: new AppFunction(this, 'MessageFunction', { name: 'message', config, timeout: syncTimeout }).bindApp(stateful, 'unwrap').bindCommandQueues(stateful),
      admin: withManagement(new AppFunction(this, 'AdminFunction', { name: 'admin', config, timeout: syncTimeout }).bindApp(stateful, 'pepper-only')),
      health: healthFn,
    };
    for (const fn of Object.values(this.functions)) fn.addEnvironment('ZAPFLEET_BASE_URL', this.baseUrl);

    // The usage-plan key per tier, handed to the authorizer, which picks one per request.
    const tierKeys = config.usagePlans.map((tier) => ({ tier: tier.name, maxRatePerMinute: tier.maxRatePerMinute, key: usageKeyValue(this.stackName, tier.name) }));
    authorizerFn.addEnvironment('ZAPFLEET_USAGE_PLAN_KEYS', JSON.stringify(tierKeys));

    // Caching off (TTL 0, hence no identity sources): the token may come in the `token` header, as
    // `Authorization: Bearer` or as `?token=`, and a cached authorizer demands every configured
    // source (401 without running otherwise, AWS-NOTES §1). It also counts each request in the
    // per-token rate-limit window, which a cached result would skip.
    const authorizer = new RequestAuthorizer(this, 'Authorizer', {
      handler: authorizerFn,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(0),
    });

    const methods = new Map<RouteDef, Method>();
    for (const route of routes) {
      const name = functionOfModule[route.module];
      if (!name) continue;
      const fn = this.functions[name] as AppFunction;
      // One permission per function for the whole API instead of one per method: the function's
      // resource policy stays small however many routes it serves.
      const integration = new LambdaIntegration(fn, { scopePermissionToMethod: false });
      const options: MethodOptions =
        route.auth === 'admin'
          ? { authorizationType: AuthorizationType.IAM }
          : route.auth === 'none'
            ? { authorizationType: AuthorizationType.NONE }
            : { authorizer, authorizationType: AuthorizationType.CUSTOM, apiKeyRequired: true };
      methods.set(route, this.restApi.root.resourceForPath(route.path).addMethod(route.method, integration, options));
    }

    for (const tier of config.usagePlans) {
      const plan = this.restApi.addUsagePlan(`UsagePlan-${tier.name}`, {
        name: `${this.stackName}-${tier.name}`,
        description: `zapfleet ${config.stage}: accounts up to ${tier.maxRatePerMinute ?? 'any'} requests/min`,
        throttle: tier.throttle,
        quota: { limit: tier.monthlyQuota, period: Period.MONTH },
      });
      const perMethod = [...methods.entries()]
        .filter(([route]) => route.module === 'message' || route.operation === 'create')
        .map(([route, method]) => ({ method, throttle: route.module === 'message' ? tier.methods.send : tier.methods.createInstance }));
      plan.addApiStage({ api: this.restApi, stage: this.restApi.deploymentStage, throttle: perMethod });
      plan.addApiKey(new ApiKey(this, `UsagePlanKey-${tier.name}`, { description: `zapfleet ${config.stage}: ${tier.name} tier (selected by the authorizer)`, value: usageKeyValue(this.stackName, tier.name) }));
    }

    for (const response of gatewayResponses) {
      this.restApi.addGatewayResponse(`Gateway${response.type.responseType}`, {
        type: response.type,
        ...(response.status ? { statusCode: response.status } : {}),
        responseHeaders: this.gatewayResponseHeaders(config),
        templates: { 'application/json': gatewayResponseBody(response.message) },
      });
    }

    new CfnOutput(this, 'ApiUrl', { value: this.baseUrl, description: 'Base URL of the HTTP API (<BASE_URL>)' });
    this.suppressions();
  }

  /**
   * JSON content type, and CORS for error responses when it can be static: a gateway response
   * cannot echo one of several allowed origins, so with several none is sent on these errors.
   */
  private gatewayResponseHeaders(config: StageConfig): Record<string, string> {
    const headers: Record<string, string> = { 'Content-Type': "'application/json; charset=utf-8'" };
    const single = config.corsOrigins.includes('*') ? '*' : config.corsOrigins.length === 1 ? config.corsOrigins[0] : undefined;
    if (single) {
      headers['Access-Control-Allow-Origin'] = `'${single}'`;
      headers.Vary = "'Origin'";
    }
    return headers;
  }

  private suppressions() {
    NagSuppressions.addResourceSuppressions(
      this.restApi,
      [
        { id: 'AwsSolutions-APIG2', reason: 'Every request body is validated with zod in its handler against the published contract, which also renders the contract\'s exact validation messages; an API Gateway validator would answer with its own.' },
        { id: 'AwsSolutions-APIG3', reason: 'No WAF by default: abuse is limited by the usage plans\' throttles and quotas, stage and per-method throttles, and the exact per-token and per-IP rate limits in DynamoDB. Operators can attach a web ACL to the stage.' },
        {
          id: 'AwsSolutions-IAM4',
          reason: 'AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the account-wide role through which API Gateway writes execution and access logs; it only grants CloudWatch Logs actions.',
          appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
        },
        { id: 'AwsSolutions-COG4', reason: 'Authentication is zapfleet\'s own tokens (hashed with a KMS-protected pepper) checked by the Lambda REQUEST authorizer, and IAM (SigV4) for the admin routes; there are no Cognito users.' },
      ],
      true,
    );
    for (const route of routes.filter((candidate) => candidate.auth === 'none')) {
      NagSuppressions.addResourceSuppressions(
        this.restApi.root.resourceForPath(route.path),
        [{ id: 'AwsSolutions-APIG4', reason: `${route.method} ${route.path} is public by contract (spec Z10): a readiness probe that reveals nothing and touches no tenant data.` }],
        true,
      );
    }
  }
}
