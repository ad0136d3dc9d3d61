import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWhatsAppSandbox, type WhatsAppSandbox } from '../../../local/sandbox/whatsapp-sandbox.ts';

/** The sandbox's control API for groups and channels (control-api.ts), as an out-of-process sandbox is driven. */

describe('sandbox control API: groups and channels', () => {
  let sandbox: WhatsAppSandbox;
  let base = '';
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${base}/control/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    sandbox = await startWhatsAppSandbox({ control: true, scanDelayMs: null });
    base = sandbox.mediaOrigin;
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('creates a group and a channel and returns their JIDs', async () => {
    const group = await post('create-group', { subject: 'Sales', creator: '5511900000001', participants: ['5511900000002'], announce: true });
    const channel = await post('create-newsletter', { name: 'News', owner: '5511900000001', subscribers: ['5511900000002'] });

    expect(group).toEqual({ status: 200, body: { jid: expect.stringMatching(/^\d+@g\.us$/) } });
    expect(channel).toEqual({ status: 200, body: { jid: expect.stringMatching(/^\d+@newsletter$/) } });
    expect(group.body.jid).not.toBe(channel.body.jid);
  });

  it.each([
    ['create-group', { subject: 'x', creator: '5511900000001', participants: '5511900000002' }, "'participants' must be an array of strings"],
    ['create-group', { creator: '5511900000001', participants: [] }, "'subject' must be a string"],
    ['create-newsletter', { name: 'x', owner: '5511900000001', admins: [1] }, "'admins' must be an array of strings"],
  ])('answers 400 to a malformed %s', async (route, body, error) => {
    expect(await post(route, body)).toEqual({ status: 400, body: { error } });
  });

  it('refuses a group text from a number that is not a member (409)', async () => {
    const group = await post('create-group', { subject: 'Closed', creator: '5511900000001', participants: [] });

    const response = await post('send-group-text', { groupJid: group.body.jid, fromNumber: '5511900000009', text: 'hi' });

    expect(response.status).toBe(409);
    expect(response.body.error).toMatch(/not in/);
  });
});
