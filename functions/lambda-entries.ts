/**
 * The Lambda handlers, one per route group. Each lives in its own entry file under `entries/`, so
 * its bundle contains only its route group; `infra/bundling.ts` lists them for `infra/`. This module
 * re-exports them under their route-group names.
 */
export { handler as authorizer } from './entries/authorizer.ts';
export { handler as instance } from './entries/instance.ts';
export { handler as events } from './entries/events.ts';
export { handler as dispatcher } from './entries/dispatcher.ts';
export { handler as message } from './entries/message.ts';
export { handler as admin } from './entries/admin.ts';
export { handler as health } from './entries/health.ts';
export { handler as websocket } from './entries/websocket.ts';
export { handler as retrySweep } from './entries/retry-sweep.ts';
