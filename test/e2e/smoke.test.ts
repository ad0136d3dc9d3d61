import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';

describe('embedded stack', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => stack?.stop());

  it('answers /health with every component ready', async () => {
    const res = await stack.call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('creates an instance with the default account token and lists it', async () => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name: 'minha-instancia' } });
    expect(created.status).toBe(201);
    expect(created.body.instance.name).toBe('minha-instancia');
    const listed = await stack.call('GET', '/api/instance/list?instanceName=minha-instancia', { token: created.body.instance.token });
    expect(listed.status).toBe(200);
    expect(listed.body.message).toBe('1 Instance found');
    expect(listed.body.instances[0].id).toBe(created.body.instance.id);
  });
});
