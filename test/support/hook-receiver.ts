import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestStack } from './stack.ts';
import { waitFor } from './wait-for.ts';

/** One webhook delivery as the customer's receiver got it. */
export interface Hook {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are asserted field by field
  body: { event: string; data: Record<string, any>; instanceData: { instance: string } };
}

/** A customer's webhook receiver: a real HTTP server on 127.0.0.1 that answers 200 and keeps every delivery, in order. */
export const startHookReceiver = async (): Promise<{ url: string; hooks: Hook[]; close(): Promise<void> }> => {
  const hooks: Hook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      hooks.push({ body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hooks,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/**
 * Creates instance `name` with its webhook at `webhookURL`, links it (the sandbox phone scans the
 * QR) and waits until it is connected: its token and its number (digits).
 */
export const linkSandboxInstance = async (stack: TestStack, name: string, webhookURL: string): Promise<{ token: string; number: string }> => {
  const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name, webhookEnabled: true, webhookURL } });
  const token = created.body.instance.token as string;
  await stack.call('GET', `/api/instance/connect/${name}`, { token });
  const instance = await waitFor(async () => {
    const listed = await stack.call('GET', '/api/instance/list', { token });
    const found = listed.body.instances?.[0];
    return found?.status === 'connected' ? found : null;
  }, `${name} to connect`);
  return { token, number: (instance.numberJid as string).split('@')[0] as string };
};
