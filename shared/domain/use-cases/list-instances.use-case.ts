import type { TokenEntry } from '../auth/principal.ts';
import { DomainError } from '../errors/domain-error.ts';
import type { InstanceAggregate } from '../instance/instance.ts';
import { instanceListItem } from '../instance/instance.view.ts';
import type { SecretVault } from '../ports/keyring.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';

export interface ListInstancesDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  /** Where single-instance reads come from when the process keeps a read cache (embedded stack). */
  instanceReads?: Pick<InstanceRepository, 'get'>;
}

/** `a, b ,a` → `['a', 'b']`: spaces around commas allowed, empties and duplicates dropped. */
export const parseNameList = (value: string | undefined): string[] => [
  ...new Set((value ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '')),
];

/**
 * `GET /api/instance/list`.
 *
 * Input: the principal and the raw `instanceName` filter.
 * Output: list items ordered by `createdAt`.
 * Rules: a TokenInstance sees only its own instance (filter ignored); a TokenAccount with one
 * unknown name gets 404, with several names unknown ones are skipped.
 */
export const listInstances = async (deps: ListInstancesDeps, input: { principal: TokenEntry; instanceName?: string }) => {
  const { principal } = input;
  const reads = deps.instanceReads ?? deps.instances;
  let found: InstanceAggregate[];
  if (principal.kind === 'instance') {
    const own = await reads.get(principal.accountId, principal.instanceName);
    found = own ? [own] : [];
  } else {
    const names = parseNameList(input.instanceName);
    if (names.length === 1) {
      const one = await reads.get(principal.accountId, names[0] as string);
      if (!one) throw new DomainError('instance.not_found');
      found = [one];
    } else {
      const all = await deps.instances.listByAccount(principal.accountId);
      found = names.length === 0 ? all : all.filter((item) => names.includes(item.instance.name));
    }
  }
  return Promise.all(
    found.map(async (aggregate) => instanceListItem(aggregate, await deps.vault.instanceCipher(aggregate.instance.id, aggregate.instance.wrappedKey))),
  );
};

/** `DELETE /api/instance/delete/:instance`: every item of the instance goes, the quota slot is freed. */
export const deleteInstance = async (deps: Pick<ListInstancesDeps, 'instances'>, aggregate: InstanceAggregate): Promise<void> => {
  if (!(await deps.instances.delete(aggregate))) throw new DomainError('instance.not_found');
};
