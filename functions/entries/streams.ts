import type { StreamControl } from '../../shared/domain/ports/stream-control.port.ts';
import { lazyStreamControl, type StreamControlInput } from '../aws.ts';
import { lazyManagement } from './lazy-clients.ts';

/**
 * Closes WebSocket streams through the management API (instance deletion, token rotation): rare,
 * so the handlers' module and the client load on the first close.
 */
export const managementStreams = (input: StreamControlInput): StreamControl =>
  lazyStreamControl(async () => {
    const { createAwsStreamControl } = await import('../events/websocket-aws.handlers.ts');
    return createAwsStreamControl({ doc: input.doc, tableName: input.tableName, clock: input.clock, logger: input.logger, management: lazyManagement(input.endpoint) });
  });
