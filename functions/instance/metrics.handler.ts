import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { createDynamoMessageStore } from '../../shared/adapters/dynamodb/message-store.dynamodb.ts';
import type { TokenEntry } from '../../shared/domain/auth/principal.ts';
import { getMetrics, TooManyInstancesError, type MetricsDeps } from '../../shared/domain/use-cases/metrics.use-case.ts';
import { httpHandler } from '../../shared/http/http-handler.ts';
import { errorBody, ok } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const route = routes.find((candidate) => candidate.module === 'instance' && candidate.operation === 'metrics') as RouteDef;

/**
 * `GET /api/instance/metrics/:instance` (spec #13). `:instance` is a list of names, so the
 * wrapper's single-instance resolution is off and the use case checks every name. Merge the
 * returned map into the instance module's handlers.
 */
export const metricsHandlers = (deps: AppDeps, options: { dynamo: DynamoContext }): Map<string, Handler> => {
  const metricsDeps: MetricsDeps = { instances: deps.instances, messages: createDynamoMessageStore(options.dynamo, { clock: deps.clock }), clock: deps.clock };
  const handler = httpHandler(deps, route, { instanceList: true }, async (req) => {
    try {
      const metrics = await getMetrics(metricsDeps, req.principal as TokenEntry, req.params.instance ?? '');
      return ok({ message: 'Metrics retrieved successfully', metrics });
    } catch (error) {
      if (error instanceof TooManyInstancesError) return { status: 400, body: errorBody(error.message) };
      throw error;
    }
  });
  return new Map([[`${route.method} ${route.path}`, handler]]);
};
