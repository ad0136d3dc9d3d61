import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config.ts';
import { AppFunction } from '../constructs/app-function.ts';
import { mediaBucketPrefixes, type StatefulStack } from './stateful-stack.ts';
import type { WebSocketStack } from './websocket-stack.ts';

export interface EventsStackProps extends StackProps {
  config: StageConfig;
  stateful: StatefulStack;
  /** `<BASE_URL>` of event envelopes (ApiStack.baseUrl). */
  baseUrl: string;
  webSocket?: WebSocketStack;
  /** CloudWatch namespace of the EMF metrics (webhook attempts and latency) the dashboard reads. */
  metricsNamespace?: string;
}

/**
 * Event delivery (ARCHITECTURE §5): the dispatcher consumes the events queue and makes each
 * webhook's first attempt and the WebSocket push; a scheduled sweep makes the retries (webhook
 * backoff lives in the delivery log, not in SQS visibility).
 */
export class EventsStack extends Stack {
  readonly dispatcher: AppFunction;
  readonly retrySweep: AppFunction;

  constructor(scope: Construct, id: string, props: EventsStackProps) {
    super(scope, id, props);
    const { config, stateful, webSocket } = props;

    const readsEvents = (fn: AppFunction) => {
      // Large events arrive as S3 pointers under `events/`; event media is handed out as presigned
      // GETs of the platform bucket, which the signer must be allowed to read.
      fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [stateful.mediaBucket.arnForObjects('*')] }));
      NagSuppressions.addResourceSuppressions(
        fn,
        [{ id: 'AwsSolutions-IAM5', reason: `Reads event payloads (${mediaBucketPrefixes.eventPayloads}) and signs GETs for media, both keyed by instance and message ids known only at run time; read-only and limited to the platform media bucket.`, appliesTo: [{ regex: '/^Resource::.*MediaBucket[A-Za-z0-9.]*>?\\/\\*$/g' }] }],
        true,
      );
      return fn;
    };

    this.dispatcher = readsEvents(
      new AppFunction(this, 'DispatcherFunction', { name: 'dispatcher', config, timeout: config.dispatcherTimeout, memorySize: 1024 }).bindApp(stateful, 'unwrap', props.baseUrl),
    );
    // Live push to WebSocket clients (at most once: the retry sweep only retries webhooks).
    if (webSocket) this.dispatcher.bindWebSocketManagement(webSocket.managementAccess());
    this.dispatcher.addEventSource(
      new SqsEventSource(stateful.eventsQueue, {
        batchSize: 10,
        // Only the failed messages return to the queue (the handler answers `batchItemFailures`).
        reportBatchItemFailures: true,
        // Caps the pollers' concurrency so a webhook storm cannot take the account's Lambda
        // concurrency from the API functions. No reserved concurrency on purpose: new accounts
        // (concurrency limit 10) could not deploy it.
        maxConcurrency: config.dispatcherMaxConcurrency,
      }),
    );

    this.retrySweep = readsEvents(
      new AppFunction(this, 'RetrySweepFunction', { name: 'retrySweep', config, timeout: Duration.seconds(120), memorySize: 1024 }).bindApp(stateful, 'unwrap', props.baseUrl),
    );
    if (props.metricsNamespace) {
      // EMF lines on stdout only: no cloudwatch:PutMetricData permission is involved.
      for (const fn of [this.dispatcher, this.retrySweep]) fn.addEnvironment('ZAPFLEET_METRICS_NAMESPACE', props.metricsNamespace);
    }
    new Rule(this, 'RetrySweepSchedule', {
      description: `zapfleet ${config.stage}: attempts due webhook retries and replays`,
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(this.retrySweep, { retryAttempts: 0 })],
    });
  }
}
