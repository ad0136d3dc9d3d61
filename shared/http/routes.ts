import type { RouteAuth } from '../domain/use-cases/authorize.use-case.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type RouteModule = 'instance' | 'events' | 'message' | 'admin' | 'system' | 'sandbox';

/**
 * The route table, shared by the embedded server (routing), the handlers (auth rules, 500
 * messages) and `infra/` (API Gateway resources). Paths use API Gateway's `{param}` syntax.
 */
export interface RouteDef {
  method: HttpMethod;
  path: string;
  module: RouteModule;
  operation: string;
  auth: RouteAuth;
  bucket: 'global' | 'create';
  /** TokenInstance gets 401 `Invalid token` (spec §0.4). */
  accountOnly: boolean;
  /** The endpoint's own 500 message (spec [500]). */
  failure: string;
}

const route = (
  method: HttpMethod,
  path: string,
  module: RouteModule,
  operation: string,
  failure: string,
  extra: Partial<Pick<RouteDef, 'auth' | 'bucket' | 'accountOnly'>> = {},
): RouteDef => ({ method, path, module, operation, failure, auth: 'token', bucket: 'global', accountOnly: false, ...extra });

export const routes: readonly RouteDef[] = [
  route('POST', '/api/instance/new', 'instance', 'create', 'Failed to create instance', { bucket: 'create', accountOnly: true }),
  route('GET', '/api/instance/list', 'instance', 'list', 'Failed to list instances'),
  route('GET', '/api/instance/connect/{instance}', 'instance', 'connect', 'Failed to connect: internal error'),
  route('POST', '/api/instance/reconnect/{instance}', 'instance', 'reconnect', 'Failed to reconnect: internal error'),
  route('DELETE', '/api/instance/logout/{instance}', 'instance', 'logout', 'Failed to logout instance'),
  route('DELETE', '/api/instance/delete/{instance}', 'instance', 'delete', 'Failed to delete instance: internal error', { accountOnly: true }),
  route('GET', '/api/instance/getSettings/{instance}', 'instance', 'getSettings', 'Failed to get settings configuration'),
  route('POST', '/api/instance/settings/{instance}', 'instance', 'updateSettings', 'Failed to update settings configuration'),
  route('GET', '/api/instance/getProxy/{instance}', 'instance', 'getProxy', 'Failed to get proxy configuration'),
  route('POST', '/api/instance/proxy/{instance}', 'instance', 'updateProxy', 'Failed to update proxy configuration'),
  route('GET', '/api/instance/getS3/{instance}', 'instance', 'getS3', 'Failed to get S3 configuration'),
  route('POST', '/api/instance/s3/{instance}', 'instance', 'updateS3', 'Failed to update S3 configuration'),
  route('GET', '/api/instance/metrics/{instance}', 'instance', 'metrics', 'Failed to get metrics'),
  route('POST', '/api/events/webhook/{instance}', 'events', 'saveWebhook', 'Failed to save webhook configuration'),
  route('GET', '/api/events/getWebhook/{instance}', 'events', 'getWebhook', 'Failed to get webhook configuration'),
  route('GET', '/api/events/webhook/{instance}', 'events', 'getWebhookAlias', 'Failed to get webhook configuration'),
  route('POST', '/api/events/websocket/{instance}', 'events', 'saveWebsocket', 'Failed to save websocket configuration'),
  route('GET', '/api/events/getWebsocket/{instance}', 'events', 'getWebsocket', 'Failed to get websocket configuration'),
  route('GET', '/api/events/deliveries/{instance}', 'events', 'listDeliveries', 'Failed to get deliveries'),
  route('POST', '/api/events/replay/{instance}', 'events', 'replay', 'Failed to replay events'),
  /** The 13 send routes (spec §2.3); operation = the kind. */
  route('POST', '/api/message/text/{instance}', 'message', 'text', 'Failed to send message: internal error'),
  route('POST', '/api/message/media/{instance}', 'message', 'media', 'Failed to send message: internal error'),
  route('POST', '/api/message/sticker/{instance}', 'message', 'sticker', 'Failed to send message: internal error'),
  route('POST', '/api/message/location/{instance}', 'message', 'location', 'Failed to send message: internal error'),
  route('POST', '/api/message/contact/{instance}', 'message', 'contact', 'Failed to send message: internal error'),
  route('POST', '/api/message/reaction/{instance}', 'message', 'reaction', 'Failed to send message: internal error'),
  route('POST', '/api/message/poll/{instance}', 'message', 'poll', 'Failed to send message: internal error'),
  route('POST', '/api/message/carousel/{instance}', 'message', 'carousel', 'Failed to send message: internal error'),
  route('POST', '/api/message/button/{instance}', 'message', 'button', 'Failed to send message: internal error'),
  route('POST', '/api/message/list/{instance}', 'message', 'list', 'Failed to send message: internal error'),
  route('POST', '/api/message/form/{instance}', 'message', 'form', 'Failed to send message: internal error'),
  route('POST', '/api/message/pix/{instance}', 'message', 'pix', 'Failed to send message: internal error'),
  route('POST', '/api/message/status/{instance}', 'message', 'status', 'Failed to send message: internal error'),
  route('POST', '/admin/accounts', 'admin', 'createAccount', 'Internal server error', { auth: 'admin' }),
  route('GET', '/admin/accounts', 'admin', 'listAccounts', 'Internal server error', { auth: 'admin' }),
  route('PATCH', '/admin/accounts/{id}', 'admin', 'updateAccount', 'Internal server error', { auth: 'admin' }),
  route('POST', '/admin/accounts/{id}/rotate-token', 'admin', 'rotateAccountToken', 'Internal server error', { auth: 'admin' }),
  route('DELETE', '/admin/accounts/{id}', 'admin', 'deleteAccount', 'Internal server error', { auth: 'admin' }),
  route('GET', '/health', 'system', 'health', 'Internal server error', { auth: 'none' }),
  /** Sandbox mode only: the embedded stack serves it when `ZAPFLEET_DRIVER=sandbox` (spec Z11). */
  route('POST', '/sandbox/inbound/{instance}', 'sandbox', 'sandboxInbound', 'Internal server error'),
];

export type RouteMatch =
  | { kind: 'route'; route: RouteDef; params: Record<string, string> }
  | { kind: 'method_not_allowed'; allow: HttpMethod[] }
  | { kind: 'not_found' };

/**
 * Exact, case-sensitive segment matching. A `{instance}` segment may be empty so that the
 * handler can answer 400 `Instance name is required` (spec §0.1); other parameters may not.
 */
export const matchRoute = (table: readonly RouteDef[], method: string, path: string): RouteMatch => {
  const segments = path.split('/');
  const allow: HttpMethod[] = [];
  for (const candidate of table) {
    const pattern = candidate.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, i) => {
      const segment = segments[i] as string;
      const param = /^\{(\w+)\}$/.exec(part)?.[1];
      if (!param) return part === segment;
      if (segment === '' && param !== 'instance') return false;
      params[param] = safeDecode(segment);
      return true;
    });
    if (!matches) continue;
    if (candidate.method === method) return { kind: 'route', route: candidate, params };
    allow.push(candidate.method);
  }
  return allow.length ? { kind: 'method_not_allowed', allow } : { kind: 'not_found' };
};

const safeDecode = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Malformed percent-encoding: keep it verbatim; no instance can have such a name.
    return segment;
  }
};

export const routeKey = (method: string, path: string) => `${method} ${path}`;
