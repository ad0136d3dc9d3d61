import { randomUUID } from 'node:crypto';
import type { AccountRecord } from '../../shared/domain/account/account.ts';
import { defaultSettings, emptyProfile, type InstanceRecord } from '../../shared/domain/instance/instance.ts';

/** A fresh 64-hex token hash. */
export const hashOf = (): string => randomUUID().replaceAll('-', '').repeat(2);

/** An account record as the repositories store it (quota 10, default limits). */
export const accountRecord = (overrides: Partial<AccountRecord> = {}): AccountRecord => ({
  id: randomUUID(),
  name: 'acme',
  instanceQuota: 10,
  instanceCount: 0,
  rateLimits: { global: 100, create: 20 },
  tokenHash: hashOf(),
  createdAt: '2026-04-28T10:30:00Z',
  updatedAt: '2026-04-28T10:30:00Z',
  ...overrides,
});

/** A disconnected instance record with default settings and no optional blocks. */
export const instanceRecord = (accountId: string, name: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id: randomUUID(),
  accountId,
  name,
  wrappedKey: 'local.v1.k1.wrapped-data-key',
  tokenHash: hashOf(),
  tokenSealed: 'v1.sealed-token',
  status: 'disconnected',
  numberJid: null,
  profile: { ...emptyProfile },
  settings: { ...defaultSettings },
  proxy: null,
  s3: null,
  websocket: null,
  createdAt: '2026-04-28T10:31:00Z',
  updatedAt: '2026-04-28T10:31:00Z',
  ...overrides,
});
