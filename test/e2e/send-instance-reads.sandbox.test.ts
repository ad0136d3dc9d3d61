import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The embedded stack looks the instance of a send up through its instance read cache: an instance
 * deleted or logged out just after a send that was served from it must still be refused at once.
 */
describe('send instance look-up (embedded read cache)', () => {
  let stack: TestStack;
  const tokens = new Map<string, string>();

  const send = (instance: string, token: string) => stack.call('POST', `/api/message/text/${instance}`, { token, body: { number: '5511933330009', message: 'Hi' } });
  const link = async (name: string) => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name } });
    tokens.set(name, created.body.instance.token as string);
    await stack.call('GET', `/api/instance/connect/${name}`, { token: tokens.get(name) as string });
    await waitFor(async () => {
      const listed = await stack.call('GET', '/api/instance/list', { token: tokens.get(name) as string });
      return listed.body.instances?.[0]?.status === 'connected' ? true : null;
    }, `${name} to connect`);
  };

  beforeAll(async () => {
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    await Promise.all([link('cache-deleted'), link('cache-logged-out')]);
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers 404 for a send right after the instance was deleted', async () => {
    // Prepare: a send that reads (and caches) the instance.
    const first = await send('cache-deleted', stack.accountToken);
    const deleted = await stack.call('DELETE', '/api/instance/delete/cache-deleted', { token: stack.accountToken });

    // Act
    const after = await send('cache-deleted', stack.accountToken);

    // Assess
    expect([first.status, deleted.status]).toEqual([200, 200]);
    expect(after.status).toBe(404);
    expect(after.body).toEqual({ success: false, error: { message: 'Instance not found' } });
  });

  it('answers 503 for a send right after the instance logged out', async () => {
    // Prepare
    const token = tokens.get('cache-logged-out') as string;
    const first = await send('cache-logged-out', token);
    const loggedOut = await stack.call('DELETE', '/api/instance/logout/cache-logged-out', { token });

    // Act
    const after = await send('cache-logged-out', token);

    // Assess
    expect([first.status, loggedOut.status]).toEqual([200, 200]);
    expect(after.status).toBe(503);
    expect(after.body).toEqual({ success: false, error: { message: 'Instance is not connected to WhatsApp' } });
  });
});
