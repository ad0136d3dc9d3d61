import { App } from 'aws-cdk-lib';
import { StatefulStack } from '../stacks/stateful-stack.ts';

const app = new App();

// Without CDK_DEFAULT_ACCOUNT/REGION (no credentials, e.g. CI) the stack stays environment-agnostic,
// so synthesis never needs to reach AWS.
const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };

new StatefulStack(app, 'Zapfleet-Stateful', {
  env,
  description: 'zapfleet stateful resources: the single DynamoDB table and its KMS keys',
});

app.synth();
