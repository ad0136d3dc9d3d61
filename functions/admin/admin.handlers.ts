import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DomainError } from '../../shared/domain/errors/domain-error.ts';
import {
  CreateAccountBody,
  UpdateAccountBody,
  createAccount,
  deleteAccount,
  listAccounts,
  rotateAccountToken,
  updateAccount,
} from '../../shared/domain/use-cases/accounts.use-cases.ts';
import { httpHandler, moduleHandler } from '../../shared/http/http-handler.ts';
import { created, ok } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const routeOf = (operation: string): RouteDef => routes.find((route) => route.module === 'admin' && route.operation === operation) as RouteDef;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Account ids are UUIDs: anything else cannot name an account. */
const accountId = (params: Record<string, string>): string => {
  const id = params.id ?? '';
  if (!uuidPattern.test(id)) throw new DomainError('account.not_found');
  return id;
};

const countMessage = (count: number) => `${count} ${count === 1 ? 'account' : 'accounts'} found`;

/** The administration module (spec §2.10): accounts, authenticated by the admin key. */
export const adminHandlers = (deps: AppDeps): Map<string, Handler> => {
  const entries: [string, Handler][] = [
    [
      'createAccount',
      httpHandler(deps, routeOf('createAccount'), { body: CreateAccountBody }, async (req) => {
        const { account, token } = await createAccount(deps, {
          name: req.body.name as string,
          instanceQuota: typeof req.body.instanceQuota === 'number' ? req.body.instanceQuota : null,
        });
        return created({ message: 'Account created', account, token });
      }),
    ],
    [
      'listAccounts',
      httpHandler(deps, routeOf('listAccounts'), {}, async () => {
        const accounts = await listAccounts(deps);
        return ok({ message: countMessage(accounts.length), accounts });
      }),
    ],
    [
      'updateAccount',
      httpHandler(deps, routeOf('updateAccount'), { body: UpdateAccountBody }, async (req) =>
        ok({ message: 'Account updated', account: await updateAccount(deps, accountId(req.params), req.body) }),
      ),
    ],
    [
      'rotateAccountToken',
      httpHandler(deps, routeOf('rotateAccountToken'), {}, async (req) =>
        ok({ message: 'Token rotated', token: await rotateAccountToken(deps, accountId(req.params)) }),
      ),
    ],
    [
      'deleteAccount',
      httpHandler(deps, routeOf('deleteAccount'), {}, async (req) => {
        await deleteAccount(deps, accountId(req.params));
        return ok({ message: 'Account deleted' });
      }),
    ],
  ];
  return new Map(entries.map(([operation, handler]) => {
    const route = routeOf(operation);
    return [`${route.method} ${route.path}`, handler];
  }));
};

export const adminModule = (deps: AppDeps) => moduleHandler(adminHandlers(deps));
