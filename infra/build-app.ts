import { App } from 'aws-cdk-lib';
import { metricsNamespaceOf } from '../shared/observability/metrics.emf.ts';
import { stageConfigFrom } from './config.ts';
import { applyNag } from './nag.ts';
import { ApiStack } from './stacks/api-stack.ts';
import { EventsStack } from './stacks/events-stack.ts';
import { FleetStack } from './stacks/fleet-stack.ts';
import { ObservabilityStack } from './stacks/observability-stack.ts';
import { StatefulStack } from './stacks/stateful-stack.ts';
import { WebSocketStack } from './stacks/websocket-stack.ts';

const crossStackReferencesFlag = '@aws-cdk/core:defaultCrossStackReferences';

export interface ZapfleetApp {
  app: App;
  stateful: StatefulStack;
  webSocket: WebSocketStack;
  api: ApiStack;
  events: EventsStack;
  fleet: FleetStack;
  observability: ObservabilityStack;
}

/**
 * Builds every stack of one stage (`-c stage=<name>`, default `dev`, see ../config.ts). Stack
 * names carry the stage, so several stages can live in one account and Region.
 */
export const buildApp = (app: App = new App()): ZapfleetApp => {
  // Cross-stack references stay CloudFormation exports ("strong"): a producer stack cannot then
  // delete a value a consumer still imports. Set before any stack exists (feature flags are read then).
  if (app.node.tryGetContext(crossStackReferencesFlag) === undefined) app.node.setContext(crossStackReferencesFlag, 'strong');
  const config = stageConfigFrom(app.node);
  // Without CDK_DEFAULT_ACCOUNT/REGION (no credentials, e.g. CI) the stacks stay environment-
  // agnostic, so synthesis never needs to reach AWS (cdk.json also turns notices and telemetry off).
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const prefix = `Zapfleet-${config.stage}`;
  const tags = { project: 'zapfleet', stage: config.stage };

  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    env,
    tags,
    config,
    terminationProtection: config.production,
    description: `zapfleet ${config.stage}: table, KMS keys, shard and events queues, media bucket`,
  });
  const webSocket = new WebSocketStack(app, `${prefix}-WebSocket`, { env, tags, config, stateful, description: `zapfleet ${config.stage}: WebSocket API for event push` });
  const api = new ApiStack(app, `${prefix}-Api`, { env, tags, config, stateful, webSocket, description: `zapfleet ${config.stage}: REST API, authorizer, usage plans` });
  const metricsNamespace = metricsNamespaceOf(config.stage);
  const events = new EventsStack(app, `${prefix}-Events`, { env, tags, config, stateful, webSocket, baseUrl: api.baseUrl, metricsNamespace, description: `zapfleet ${config.stage}: events dispatcher and webhook retry sweep` });

  const fleet = new FleetStack(app, `${prefix}-Fleet`, {
    env,
    tags,
    description: `zapfleet ${config.stage}: VPC, ECS cluster and the session-runner Fargate service`,
    table: stateful.table,
    dataKey: stateful.dataKey,
    commandQueues: stateful.commandQueueRefs(),
    eventsQueue: stateful.eventsQueue,
    mediaBucket: stateful.mediaBucket,
    metricsNamespace,
    settings: { ...config.fleet, logRetention: config.logRetention, messageRetentionDays: config.messageRetentionDays },
  });
  fleet.addStackDependency(stateful);

  const observability = new ObservabilityStack(app, `${prefix}-Observability`, {
    env,
    tags,
    description: `zapfleet ${config.stage}: dashboard, alarms and the alarm topic`,
    stage: config.stage,
    production: config.production,
    metricsNamespace,
    restApi: api.restApi,
    functions: { ...api.functions, websocket: webSocket.handler, retrySweep: events.retrySweep },
    dispatcher: events.dispatcher,
    commandQueues: stateful.commandQueueRefs(),
    eventsQueue: stateful.eventsQueue,
    deadLetterQueues: { Commands: stateful.commandDeadLetterQueue, Events: stateful.eventsDeadLetterQueue },
    runnerService: { clusterName: fleet.cluster.clusterName, serviceName: fleet.service.serviceName },
    ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
  });
  observability.addStackDependency(stateful);

  applyNag(app);
  return { app, stateful, webSocket, api, events, fleet, observability };
};
