import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { stageConfigFrom, stages, validateStageConfig, type StageConfig } from '../../infra/config.ts';

const configOf = (context: Record<string, unknown>): StageConfig => stageConfigFrom(new App({ context }).node);

describe('stage configuration', () => {
  it('defaults to dev, which is not production', () => {
    expect(configOf({})).toMatchObject({ stage: 'dev', production: false });
  });

  it('selects prod with -c stage=prod: production, the 64 shards of the architecture', () => {
    expect(configOf({ stage: 'prod' })).toMatchObject({ stage: 'prod', production: true, shardCount: 64 });
  });

  it('names the known stages when given an unknown one', () => {
    expect(() => configOf({ stage: 'qa' })).toThrow('unknown stage qa; known: dev, prod');
  });

  it('applies the per-deploy overrides from context', () => {
    // Act
    const config = configOf({ corsOrigins: 'https://a.example.com, https://b.example.com', alarmEmail: 'ops@example.com', baseUrl: 'https://api.example.com', tokenPepperCiphertext: 'AQID' });

    // Assess
    expect(config).toMatchObject({ corsOrigins: ['https://a.example.com', 'https://b.example.com'], alarmEmail: 'ops@example.com', baseUrl: 'https://api.example.com', tokenPepperCiphertext: 'AQID' });
  });

  it('rejects what AWS would reject at deploy time', () => {
    const dev = stages.dev as StageConfig;
    expect(() => validateStageConfig({ ...dev, dispatcherMaxConcurrency: 1 })).toThrow('dispatcherMaxConcurrency');
    expect(() => validateStageConfig({ ...dev, corsOrigins: ['https://a.example.com/path'] })).toThrow('is not an origin');
    expect(() => validateStageConfig({ ...dev, usagePlans: dev.usagePlans.slice(0, 1) })).toThrow('last usage plan tier');
    expect(() => validateStageConfig({ ...dev, shardCount: 0 })).toThrow('shardCount');
  });

  it('rejects fleet settings that ECS or the runner would refuse', () => {
    const dev = stages.dev as StageConfig;
    const withFleet = (fleet: Partial<StageConfig['fleet']>) => ({ ...dev, fleet: { ...dev.fleet, ...fleet } });
    expect(() => validateStageConfig(withFleet({ cpu: 512, memoryMiB: 512 }))).toThrow('is not a Fargate task size');
    expect(() => validateStageConfig(withFleet({ minRunners: 0 }))).toThrow('minRunners');
    expect(() => validateStageConfig(withFleet({ maxRunners: dev.shardCount + 1 }))).toThrow('maxRunners');
    expect(() => validateStageConfig(withFleet({ natGateways: dev.fleet.maxAzs + 1 }))).toThrow('natGateways');
    expect(() => validateStageConfig(withFleet({ waVersion: '2.3000' }))).toThrow('waVersion');
    expect(() => validateStageConfig(withFleet({ pacing: { enabled: true, minGapMs: 5_000, maxGapMs: 1_000, dailyNewContacts: 10 } }))).toThrow('maxGapMs');
  });

  it('takes the WhatsApp Web version from -c waVersion, for every runner of the stage', () => {
    expect(configOf({ stage: 'prod', waVersion: '2.3000.1023456789' }).fleet).toMatchObject({ waVersion: '2.3000.1023456789', minRunners: 2 });
  });

  it('keeps every usage plan above the exact per-minute limit it meters, so plans only stop floods', () => {
    for (const config of Object.values(stages)) {
      for (const tier of config.usagePlans) {
        if (tier.maxRatePerMinute === null) continue;
        expect(tier.throttle.burstLimit).toBeGreaterThanOrEqual(tier.maxRatePerMinute);
        expect(tier.throttle.rateLimit * 60).toBeGreaterThanOrEqual(tier.maxRatePerMinute);
        expect(tier.methods.send.burstLimit).toBeGreaterThanOrEqual(tier.maxRatePerMinute);
      }
    }
  });
});
