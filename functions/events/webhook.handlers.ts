import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createDeliveryRepository, createWebhookStore } from '../../shared/adapters/dynamodb/delivery-repository.dynamodb.ts';
import type { DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import {
  getWebhooks,
  listDeliveries,
  replayDeliveries,
  ReplayBody,
  saveWebhook,
  SaveWebhookBody,
  WebhookLimitError,
  WebhookNotFoundError,
  type WebhookConfigDeps,
} from '../../shared/domain/use-cases/webhooks.use-cases.ts';
import { httpHandler, moduleHandler } from '../../shared/http/http-handler.ts';
import { errorBody, ok, type HttpResult } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const routeOf = (operation: string): RouteDef => routes.find((route) => route.module === 'events' && route.operation === operation) as RouteDef;
const instanceOf = (instance: InstanceAggregate | null) => instance as InstanceAggregate;

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/**
 * 404/409 of the webhook endpoints. They have no domain error code yet (`domain-error.ts` is not
 * this module's file), so they are rendered here with the contract's exact messages.
 */
const contractErrors = async (run: () => Promise<HttpResult>): Promise<HttpResult> => {
  try {
    return await run();
  } catch (error) {
    if (error instanceof WebhookNotFoundError) return { status: 404, body: errorBody(error.message) };
    if (error instanceof WebhookLimitError) return { status: 409, body: errorBody(error.message) };
    throw error;
  }
};

/**
 * The webhook routes of the events module (spec #14, #15, Z1, Z2, Z3): parse → use case → map.
 * `dynamo` holds the delivery log and the webhook rows.
 */
export const webhookHandlers = (deps: AppDeps, options: { dynamo: DynamoContext }): Map<string, Handler> => {
  const deliveries = createDeliveryRepository(options.dynamo);
  const configDeps: WebhookConfigDeps = {
    vault: deps.vault,
    outbound: deps.outbound,
    clock: deps.clock,
    logger: deps.logger,
    webhooks: createWebhookStore(options.dynamo),
    deliveries,
  };
  const getWebhook = (operation: string): [string, Handler] => [
    operation,
    httpHandler(deps, routeOf(operation), {}, async (req) =>
      contractErrors(async () => {
        const found = await getWebhooks(configDeps, instanceOf(req.instance), { label: req.query.label });
        return found.kind === 'one'
          ? ok({ message: 'Webhook retrieved successfully', webhook: found.webhook })
          : ok({ message: `${plural(found.webhooks.length, 'webhook', 'webhooks')} found`, webhooks: found.webhooks });
      }),
    ),
  ];
  const entries: [string, Handler][] = [
    [
      'saveWebhook',
      httpHandler(deps, routeOf('saveWebhook'), { body: SaveWebhookBody }, async (req) =>
        contractErrors(async () => ok({ message: 'Webhook saved', webhook: await saveWebhook(configDeps, instanceOf(req.instance), req.body) })),
      ),
    ],
    getWebhook('getWebhook'),
    getWebhook('getWebhookAlias'),
    [
      'listDeliveries',
      httpHandler(deps, routeOf('listDeliveries'), {}, async (req) => {
        const page = await listDeliveries({ deliveries }, instanceOf(req.instance), req.query);
        return ok({ message: `${plural(page.deliveries.length, 'delivery', 'deliveries')} found`, deliveries: page.deliveries, nextCursor: page.nextCursor });
      }),
    ],
    [
      'replay',
      httpHandler(deps, routeOf('replay'), { body: ReplayBody }, async (req) =>
        contractErrors(async () => {
          const queued = await replayDeliveries({ deliveries, clock: deps.clock }, instanceOf(req.instance), req.body);
          return { status: 202, body: { success: true, message: `${plural(queued, 'delivery', 'deliveries')} queued for redelivery`, queued } };
        }),
      ),
    ],
  ];
  return new Map(
    entries.map(([operation, handler]) => {
      const route = routeOf(operation);
      return [`${route.method} ${route.path}`, handler];
    }),
  );
};

/** The events module's Lambda for the webhook routes (the WebSocket routes are merged in by their owner). */
export const webhookModule = (deps: AppDeps, options: { dynamo: DynamoContext }) => moduleHandler(webhookHandlers(deps, options));
