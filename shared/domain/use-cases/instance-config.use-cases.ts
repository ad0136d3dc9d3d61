import { ValidationError } from '../errors/domain-error.ts';
import { DomainError } from '../errors/domain-error.ts';
import type { InstanceAggregate, InstanceRecord, Settings } from '../instance/instance.ts';
import { sealedFields, settingKeys } from '../instance/instance.ts';
import type { UpdateProxyBody, UpdateS3Body, UpdateSettingsBody } from '../instance/instance.schemas.ts';
import { normalisePort, normaliseProtocol } from '../instance/instance.schemas.ts';
import { proxyView, s3View } from '../instance/instance.view.ts';
import type { SecretVault } from '../ports/keyring.port.ts';
import type { OutboundTargetPolicy } from '../ports/outbound-target.port.ts';
import type { InstancePatch, InstanceRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock } from '../ports/runtime.port.ts';
import { isBlank } from '../validation.ts';
import { refusedTarget } from './create-instance.use-case.ts';

export interface InstanceConfigDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  outbound: OutboundTargetPolicy;
  clock: Clock;
}

const save = async (deps: InstanceConfigDeps, instance: InstanceRecord, patch: Omit<InstancePatch, 'updatedAt'>): Promise<InstanceRecord> => {
  const updated = await deps.instances.update(instance.accountId, instance.name, { ...patch, updatedAt: rfc3339(deps.clock.now()) });
  // Deleted between resolution and update: the caller sees what a later request would see.
  if (!updated) throw new DomainError('instance.not_found');
  return updated;
};

const cipherOf = (deps: InstanceConfigDeps, instance: InstanceRecord) => deps.vault.instanceCipher(instance.id, instance.wrappedKey);

/** `POST /api/instance/settings/:instance`: fields left out keep their stored value. */
export const updateSettings = async (deps: InstanceConfigDeps, { instance }: InstanceAggregate, body: UpdateSettingsBody): Promise<Settings> => {
  const settings = { ...instance.settings };
  for (const key of settingKeys) {
    const value = body[key];
    if (value !== null && value !== undefined) (settings as Record<string, unknown>)[key] = value;
  }
  return (await save(deps, instance, { settings })).settings;
};

/**
 * `POST /api/instance/proxy/:instance`. `enabled: false` deletes every stored field; otherwise
 * the configuration is replaced, except that an absent `password` keeps the stored one while a
 * username remains (spec D55).
 */
export const updateProxy = async (deps: InstanceConfigDeps, { instance }: InstanceAggregate, body: UpdateProxyBody) => {
  if (!body.enabled) return proxyView(await save(deps, instance, { proxy: null }));
  const username = isBlank(body.username) ? null : (body.username as string);
  let passwordSealed: string | null = null;
  if (username !== null) {
    if (body.password === undefined) passwordSealed = instance.proxy?.passwordSealed ?? null;
    else if (!isBlank(body.password)) passwordSealed = (await cipherOf(deps, instance)).seal(sealedFields.proxyPassword, body.password as string);
  }
  const proxy = {
    host: body.host as string,
    port: normalisePort(body.port as string | number) as string,
    protocol: normaliseProtocol(body.protocol as string)!,
    username,
    passwordSealed,
  };
  return proxyView(await save(deps, instance, { proxy }));
};

/**
 * `POST /api/instance/s3/:instance`. Disabling deletes the stored credentials; `secretKey` may be
 * omitted only to keep the secret of an S3 configuration that is already enabled (spec D58).
 */
export const updateS3 = async (deps: InstanceConfigDeps, { instance }: InstanceAggregate, body: UpdateS3Body) => {
  const cipher = await cipherOf(deps, instance);
  if (!body.enabled) return withoutSecretKey(s3View(await save(deps, instance, { s3: null }), cipher));
  const keepSecret = body.secretKey === undefined || body.secretKey === null || body.secretKey === '';
  if (keepSecret && !instance.s3) throw new ValidationError('Invalid S3 configuration: secretKey is required');
  const endpoint = isBlank(body.endpoint) ? null : (body.endpoint as string);
  if (endpoint) {
    const refused = await refusedTarget(deps.outbound, endpoint);
    if (refused) throw new ValidationError(`Invalid S3 configuration: endpoint is not an allowed destination (${refused})`);
  }
  const s3 = {
    region: body.region as string,
    bucket: body.bucket as string,
    accessKeySealed: cipher.seal(sealedFields.s3AccessKey, body.accessKey as string),
    secretKeySealed: keepSecret ? instance.s3!.secretKeySealed : cipher.seal(sealedFields.s3SecretKey, body.secretKey as string),
    endpoint,
    pathPrefix: body.pathPrefix ?? null,
  };
  return withoutSecretKey(s3View(await save(deps, instance, { s3 }), cipher));
};

/** The #12 response has no `secretKey` key at all. */
const withoutSecretKey = ({ secretKey: _secretKey, ...view }: ReturnType<typeof s3View>) => view;

export const getS3 = async (deps: Pick<InstanceConfigDeps, 'vault'>, { instance }: InstanceAggregate) =>
  s3View(instance, await deps.vault.instanceCipher(instance.id, instance.wrappedKey));
