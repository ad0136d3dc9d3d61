import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { asIamAdmin } from '../../../functions/entries/admin.ts';
import { usageKeyFor, type UsagePlanKeys } from '../../../functions/entries/authorizer.ts';
import { lambdaEnv } from '../../../functions/entries/env.ts';
import { fromAuthorizerContext } from '../../../shared/http/auth-context.ts';

describe('usage-plan key selection (authorizer entry)', () => {
  const tiers: UsagePlanKeys = [
    { tier: 'standard', maxRatePerMinute: 100, key: 'standard0000000000000000' },
    { tier: 'business', maxRatePerMinute: 1_000, key: 'business0000000000000000' },
    { tier: 'enterprise', maxRatePerMinute: null, key: 'enterprise00000000000000' },
  ];

  it('meters an account with the first tier that covers its per-minute limit', () => {
    expect(usageKeyFor(tiers, 100)).toBe('standard0000000000000000');
    expect(usageKeyFor(tiers, 101)).toBe('business0000000000000000');
    expect(usageKeyFor(tiers, 1_000_000)).toBe('enterprise00000000000000');
  });

  it('meters requests without a principal (refused by the handler) with the smallest tier', () => {
    expect(usageKeyFor(tiers, undefined)).toBe('standard0000000000000000');
  });
});

describe('lambdaEnv', () => {
  it('expands the queue URL template into one URL per shard, in shard order', () => {
    // Act
    const env = lambdaEnv({ ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE: 'https://sqs.eu-west-1.amazonaws.com/1/zf-shard-{shard}.fifo', ZAPFLEET_SHARD_COUNT: '3' });

    // Assess
    expect(env.ZAPFLEET_COMMAND_QUEUE_URLS).toBe(
      'https://sqs.eu-west-1.amazonaws.com/1/zf-shard-0.fifo,https://sqs.eu-west-1.amazonaws.com/1/zf-shard-1.fifo,https://sqs.eu-west-1.amazonaws.com/1/zf-shard-2.fifo',
    );
  });

  it('keeps an explicit URL list', () => {
    expect(lambdaEnv({ ZAPFLEET_COMMAND_QUEUE_URLS: 'https://q/0', ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE: 'https://q/{shard}', ZAPFLEET_SHARD_COUNT: '2' }).ZAPFLEET_COMMAND_QUEUE_URLS).toBe('https://q/0');
  });

  it('refuses a template without a valid shard count', () => {
    expect(() => lambdaEnv({ ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE: 'https://q/{shard}', ZAPFLEET_SHARD_COUNT: 'x' })).toThrow('ZAPFLEET_SHARD_COUNT');
  });
});

describe('asIamAdmin (admin entry)', () => {
  const event = (identity: Record<string, unknown>) => ({ requestContext: { identity } }) as unknown as APIGatewayProxyEvent;

  it('marks a call API Gateway authorised with IAM as the admin', () => {
    const marked = asIamAdmin(event({ userArn: 'arn:aws:iam::123456789012:user/ops', caller: 'AIDAEXAMPLE' }));
    expect(fromAuthorizerContext(marked.requestContext.authorizer)).toMatchObject({ admin: true, principal: null, error: null });
  });

  it('leaves a call without an IAM identity unmarked (the handler then refuses it)', () => {
    const unmarked = asIamAdmin(event({ sourceIp: '203.0.113.7' }));
    expect(fromAuthorizerContext(unmarked.requestContext.authorizer).admin).toBe(false);
  });
});
