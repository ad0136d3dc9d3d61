import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { CfnRoute, LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config.ts';
import { AppFunction } from '../constructs/app-function.ts';
import type { StatefulStack } from './stateful-stack.ts';

export interface WebSocketStackProps extends StackProps {
  config: StageConfig;
  stateful: StatefulStack;
}

/**
 * The API Gateway WebSocket API that replaces the embedded `GET /ws/:instance` (spec §3.7).
 *
 * Clients connect to `wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>?instance=<name>`
 * with the token in the `token` header, `Authorization: Bearer <token>` or `&token=<token>`
 * (browsers cannot set headers on an upgrade, so they use the query). WebSocket routes have no
 * path parameters, hence `?instance=` instead of `/ws/<name>`. The `$connect` function itself is the
 * authorizer: it runs the same token, instance-scope and rate-limit checks as the REST authorizer
 * plus the connection limit, and answers a refusal with the contract's status and JSON body, which
 * a separate API Gateway authorizer could not (it only yields a bare 401/403). API Gateway closes
 * connections after 2 hours and after 10 idle minutes: clients reconnect, and send the text
 * frame `ping` (answered `pong`) to stay active.
 */
export class WebSocketStack extends Stack {
  readonly webSocketApi: WebSocketApi;
  readonly stage: WebSocketStage;
  /** `https://<api-id>.execute-api.<region>.<suffix>/<stage>`: the `@connections` management endpoint. */
  readonly managementEndpoint: string;
  readonly handler: AppFunction;

  constructor(scope: Construct, id: string, props: WebSocketStackProps) {
    super(scope, id, props);
    const { config, stateful } = props;

    // `<BASE_URL>` is only rendered into event envelopes (the dispatcher's job); it is passed when
    // configured so the function's configuration matches the others.
    this.handler = new AppFunction(this, 'WebSocketFunction', { name: 'websocket', config, timeout: Duration.seconds(28) }).bindApp(stateful, 'unwrap', config.baseUrl);
    const integration = (name: string) => new WebSocketLambdaIntegration(name, this.handler);

    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      description: `zapfleet ${config.stage}: event push (spec §3.7)`,
      connectRouteOptions: { integration: integration('ConnectIntegration') },
      disconnectRouteOptions: { integration: integration('DisconnectIntegration') },
      defaultRouteOptions: { integration: integration('DefaultIntegration') },
    });

    const accessLogs = new LogGroup(this, 'WebSocketAccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = new WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: this.webSocketApi,
      stageName: config.stage,
      autoDeploy: true,
      throttle: { rateLimit: config.stageThrottle.rateLimit, burstLimit: config.stageThrottle.burstLimit },
      // No `$context` variable here carries the `$connect` query string, so tokens never reach the logs.
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            connectionId: '$context.connectionId',
            routeKey: '$context.routeKey',
            eventType: '$context.eventType',
            status: '$context.status',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.managementEndpoint = this.stage.callbackUrl;
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.stage.url,
      description: 'Event stream: connect to <this>?instance=<name>&token=<token> (or send the token in the token / Authorization header)',
    });

    // `$default` answers `ping` with `pong` through the management API.
    this.handler.bindWebSocketManagement(this.managementAccess());

    NagSuppressions.addResourceSuppressions(
      this.webSocketApi.node.findAll().filter((construct) => construct instanceof CfnRoute),
      [
        {
          id: 'AwsSolutions-APIG4',
          reason: 'The $connect function authenticates the token itself (same checks as the REST authorizer) so that refusals carry the contract\'s status and body; $disconnect and $default run only on a connection $connect accepted.',
        },
      ],
    );
  }

  /** What a function needs to push to or close this API's connections. */
  managementAccess() {
    return {
      managementEndpoint: this.managementEndpoint,
      grantManagement: (fn: AppFunction) => {
        this.stage.grantManagementApiAccess(fn);
      },
    };
  }
}
