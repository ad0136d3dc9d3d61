import { QueryCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Linking and keeping numbers connected, over HTTP, with ZAPFLEET_DRIVER=sandbox: real Baileys
 * sockets in the in-process runner talk to the local WhatsApp sandbox edge.
 */

const sandboxEnv = { ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' };

describe('sessions through the WhatsApp sandbox', () => {
  let stack: TestStack;
  const dynamo = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

  const instanceOf = async (name: string, token = stack.accountToken) => {
    const listed = await stack.call('GET', `/api/instance/list?instanceName=${name}`, { token });
    return listed.body.instances?.[0];
  };
  const connected = (name: string) => waitFor(async () => {
    const instance = await instanceOf(name);
    return instance?.status === 'connected' ? instance : null;
  }, `${name} to connect`);
  const authItems = async (instanceId: string) =>
    (await dynamo.send(new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `AUTH#${instanceId}` } } }))).Items ?? [];
  const create = async (name: string) => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name } });
    expect(created.status).toBe(201);
    return created.body.instance as { id: string; token: string };
  };

  beforeAll(async () => {
    stack = await startTestStack(sandboxEnv, { defaultRateLimits: { global: 100_000 } });
  });
  afterAll(async () => {
    await stack?.stop();
    dynamo.destroy();
  });

  it('links with a QR code: connect answers the QR, the phone scans, the instance is connected with its number', async () => {
    const instance = await create('qr-link');
    const connect = await stack.call('GET', '/api/instance/connect/qr-link', { token: instance.token });
    expect(connect.status).toBe(200);
    expect(connect.body).toMatchObject({ success: true, message: 'QR code generated', status: 'qr' });
    expect(connect.body.qrCode).toMatch(/^.*2@[^,]+,[^,]+,[^,]+,[^,]+/);
    expect(connect.body.qrCodeBase64).toMatch(/^data:image\/png;base64,iVBORw0KGgo/);

    const linked = await connected('qr-link');
    expect(linked.numberJid).toMatch(/^\d{8,15}@s\.whatsapp\.net$/);
    expect(linked.connection).toMatchObject({ state: 'connected', numberJid: linked.numberJid, displayStatus: 'Connected', presenceStatus: 'unavailable' });
    expect((await authItems(instance.id)).length).toBeGreaterThan(0);

    const again = await stack.call('GET', '/api/instance/connect/qr-link', { token: instance.token });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ success: false, error: { message: 'Instance is already connected' } });
  });

  it('links with a pairing code when ?number= is given', async () => {
    const instance = await create('pairing-link');
    const connect = await stack.call('GET', '/api/instance/connect/pairing-link?number=%2B55%2011%2098765-4321', { token: instance.token });
    expect(connect.status).toBe(200);
    expect(connect.body).toMatchObject({ success: true, message: 'Pairing code generated', status: 'pairing' });
    expect(connect.body.pairingCode).toMatch(/^[A-Z0-9]{8}$/);
    const linked = await connected('pairing-link');
    expect(linked.numberJid).toBe('5511987654321@s.whatsapp.net');
  });

  it('refuses bad connect parameters and a reconnect without a saved session', async () => {
    await create('bad-params');
    const badNumber = await stack.call('GET', '/api/instance/connect/bad-params?number=12ab', { token: stack.accountToken });
    expect(badNumber.status).toBe(400);
    expect(badNumber.body.error.message).toBe('Invalid number: 12ab');
    const badHistory = await stack.call('GET', '/api/instance/connect/bad-params?history=0', { token: stack.accountToken });
    expect(badHistory.status).toBe(400);
    expect(badHistory.body.error.message).toBe("Invalid value for query parameter 'history'");
    const reconnect = await stack.call('POST', '/api/instance/reconnect/bad-params', { token: stack.accountToken });
    expect(reconnect.status).toBe(400);
    expect(reconnect.body.error.message).toBe('Instance has no saved session — call /connect first');
  });

  it('delivers a simulated inbound message and sends read receipts when autoReadMessages is on', async () => {
    const instance = await create('inbound');
    await stack.call('POST', '/api/instance/settings/inbound', { token: instance.token, body: { autoReadMessages: true } });
    await stack.call('GET', '/api/instance/connect/inbound', { token: instance.token });
    const linked = await connected('inbound');
    const number = (linked.numberJid as string).split('@')[0] as string;

    const sent = await stack.call('POST', '/sandbox/inbound/inbound', { token: instance.token, body: { from: '5511955554444', text: 'olá' } });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ success: true, message: 'Inbound message queued' });
    const read = await waitFor(async () => stack.sandbox?.inbound(number).find((message) => message.id === sent.body.messageId && message.status === 'read'), 'the read receipt');
    expect(read.text).toBe('olá');

    const missingFrom = await stack.call('POST', '/sandbox/inbound/inbound', { token: instance.token, body: {} });
    expect(missingFrom.status).toBe(400);
    expect(missingFrom.body.error.message).toBe("The 'from' field is required");
  });

  it('logs out: the session is wiped, the state is loggedout and reconnect needs a new link', async () => {
    const instance = await create('logout');
    await stack.call('GET', '/api/instance/connect/logout', { token: instance.token });
    await connected('logout');

    const logout = await stack.call('DELETE', '/api/instance/logout/logout', { token: instance.token });
    expect(logout.status).toBe(200);
    expect(logout.body).toEqual({ success: true, message: 'Instance logged out', instance: { status: 'loggedout' } });
    await waitFor(async () => (await authItems(instance.id)).length === 0, 'the auth state to be wiped');
    expect((await instanceOf('logout')).status).toBe('loggedout');
    const reconnect = await stack.call('POST', '/api/instance/reconnect/logout', { token: instance.token });
    expect(reconnect.status).toBe(400);
  });

  it('delete unlinks the device, closes the socket and removes the auth state', async () => {
    const instance = await create('to-delete');
    await stack.call('GET', '/api/instance/connect/to-delete', { token: instance.token });
    const linked = await connected('to-delete');
    const number = (linked.numberJid as string).split('@')[0];

    const deleted = await stack.call('DELETE', '/api/instance/delete/to-delete', { token: stack.accountToken });
    expect(deleted.status).toBe(200);
    // The sandbox lists only linked devices: an unlinked one (logged out on WhatsApp) is gone.
    await waitFor(async () => !stack.sandbox?.devices().some((device) => device.number === number), 'the device to be unlinked');
    await waitFor(async () => (await authItems(instance.id)).length === 0, 'the auth state to be wiped');
  });

  it('keeps linked numbers across a restart of the whole stack, without a new QR', async () => {
    const instance = await create('survivor');
    await stack.call('GET', '/api/instance/connect/survivor', { token: instance.token });
    const before = await connected('survivor');

    const reuse = { dataDir: stack.dataDir, tableName: stack.tableName, accountToken: stack.accountToken };
    await stack.halt();
    stack = await startTestStack({ ...sandboxEnv, ZAPFLEET_SANDBOX_SCAN_MS: '600000' }, { reuse });

    // The new sandbox knows no device: it sees the restored socket log in with the saved creds.
    const number = (before.numberJid as string).split('@')[0];
    await waitFor(async () => stack.sandbox?.devices().some((device) => device.number === number && device.connected), 'the saved session to log in again');
    const after = await connected('survivor');
    expect(after.numberJid).toBe(before.numberJid);
    expect(stack.sandbox?.maxConcurrentLogins()).toBe(1);
  });
});
