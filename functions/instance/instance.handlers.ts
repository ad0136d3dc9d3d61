import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { TokenEntry } from '../../shared/domain/auth/principal.ts';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import { CreateInstanceBody, UpdateProxyBody, UpdateS3Body, UpdateSettingsBody } from '../../shared/domain/instance/instance.schemas.ts';
import { proxyView, settingsView } from '../../shared/domain/instance/instance.view.ts';
import { createInstance } from '../../shared/domain/use-cases/create-instance.use-case.ts';
import { getS3, updateProxy, updateS3, updateSettings } from '../../shared/domain/use-cases/instance-config.use-cases.ts';
import { deleteInstance, listInstances } from '../../shared/domain/use-cases/list-instances.use-case.ts';
import { connectInstance, logoutInstance, notifySettingsChanged, reconnectInstance, stopDeletedInstance } from '../../shared/domain/use-cases/session.use-cases.ts';
import { httpHandler, moduleHandler } from '../../shared/http/http-handler.ts';
import { created, ok } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const routeOf = (operation: string): RouteDef => routes.find((route) => route.module === 'instance' && route.operation === operation) as RouteDef;

/** Non-null after the wrapper's credentials and instance checks (token routes with `{instance}`). */
const principalOf = (principal: TokenEntry | null) => principal as TokenEntry;
const instanceOf = (instance: InstanceAggregate | null) => instance as InstanceAggregate;

const countMessage = (count: number) => `${count} ${count === 1 ? 'Instance' : 'Instances'} found`;

/** The instance module's route handlers: parse → use case → map. */
export const instanceHandlers = (deps: AppDeps): Map<string, Handler> => {
  const entries: [string, Handler][] = [
    [
      'connect',
      httpHandler(deps, routeOf('connect'), {}, async (req) => {
        const outcome = await connectInstance(deps, instanceOf(req.instance), req.query);
        return outcome.kind === 'qr'
          ? ok({ message: 'QR code generated', qrCode: outcome.qrCode, qrCodeBase64: outcome.qrCodeBase64, status: 'qr' })
          : ok({ message: 'Pairing code generated', pairingCode: outcome.pairingCode, status: 'pairing' });
      }),
    ],
    [
      'reconnect',
      httpHandler(deps, routeOf('reconnect'), {}, async (req) => {
        await reconnectInstance(deps, instanceOf(req.instance));
        return ok({ message: 'Reconnect initiated', status: 'connecting' });
      }),
    ],
    [
      'logout',
      httpHandler(deps, routeOf('logout'), {}, async (req) => {
        await logoutInstance(deps, instanceOf(req.instance));
        return ok({ message: 'Instance logged out', instance: { status: 'loggedout' } });
      }),
    ],
    [
      'create',
      httpHandler(deps, routeOf('create'), { body: CreateInstanceBody }, async (req) =>
        created({ message: 'Instance created', instance: await createInstance(deps, { principal: principalOf(req.principal), body: req.body }) }),
      ),
    ],
    [
      'list',
      httpHandler(deps, routeOf('list'), {}, async (req) => {
        const instances = await listInstances(deps, { principal: principalOf(req.principal), instanceName: req.query.instanceName });
        return ok({ message: countMessage(instances.length), instances });
      }),
    ],
    [
      'delete',
      httpHandler(deps, routeOf('delete'), {}, async (req) => {
        const { instance } = instanceOf(req.instance);
        await deleteInstance(deps, instanceOf(req.instance));
        await stopDeletedInstance(deps, instanceOf(req.instance));
        // Open WebSocket streams close with 1008 `Instance deleted` (spec D53); the delete stands if that fails.
        await deps.streams.instanceDeleted({ accountId: instance.accountId, instanceId: instance.id }).catch((error: unknown) => {
          deps.logger.warn('closing the deleted instance’s WebSocket streams failed', { instanceId: instance.id, error: String(error) });
        });
        return ok({ message: 'Instance deleted', instance: { status: 'deleted' } });
      }),
    ],
    [
      'getSettings',
      httpHandler(deps, routeOf('getSettings'), {}, async (req) =>
        ok({ message: 'Settings retrieved successfully', settings: settingsView(instanceOf(req.instance).instance.settings) }),
      ),
    ],
    [
      'updateSettings',
      httpHandler(deps, routeOf('updateSettings'), { body: UpdateSettingsBody }, async (req) => {
        const settings = await updateSettings(deps, instanceOf(req.instance), req.body);
        await notifySettingsChanged(deps, instanceOf(req.instance));
        return ok({ message: 'Settings updated successfully', settings });
      }),
    ],
    [
      'getProxy',
      httpHandler(deps, routeOf('getProxy'), {}, async (req) =>
        ok({ message: 'Proxy configuration retrieved successfully', proxy: proxyView(instanceOf(req.instance).instance) }),
      ),
    ],
    [
      'updateProxy',
      httpHandler(deps, routeOf('updateProxy'), { body: UpdateProxyBody }, async (req) =>
        ok({ message: 'Proxy configuration updated', proxy: await updateProxy(deps, instanceOf(req.instance), req.body) }),
      ),
    ],
    [
      'getS3',
      httpHandler(deps, routeOf('getS3'), {}, async (req) =>
        ok({ message: 'S3 configuration retrieved successfully', s3: await getS3(deps, instanceOf(req.instance)) }),
      ),
    ],
    [
      'updateS3',
      httpHandler(deps, routeOf('updateS3'), { body: UpdateS3Body }, async (req) =>
        ok({ message: 'S3 configuration updated', s3: await updateS3(deps, instanceOf(req.instance), req.body) }),
      ),
    ],
  ];
  return new Map(entries.map(([operation, handler]) => {
    const route = routeOf(operation);
    return [`${route.method} ${route.path}`, handler];
  }));
};

export const instanceModule = (deps: AppDeps) => moduleHandler(instanceHandlers(deps));
