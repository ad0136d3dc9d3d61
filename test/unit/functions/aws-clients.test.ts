import { describe, expect, it } from 'vitest';
import { lazyClient, lazyStreamControl } from '../../../functions/aws.ts';

describe('lazily loaded clients (functions/aws.ts)', () => {
  it('loads a client on its first request only, and passes every request to it', async () => {
    // Prepare
    let loads = 0;
    const sent: unknown[] = [];
    const client = lazyClient(async () => {
      loads += 1;
      return { send: async (command: never) => (sent.push(command), `sent ${String(command)}`) };
    });

    // Act
    const before = loads;
    const answers = await Promise.all([client.send('a' as never), client.send('b' as never)]);

    // Assess
    expect(before).toBe(0);
    expect(loads).toBe(1);
    expect(answers).toEqual(['sent a', 'sent b']);
    expect(sent).toEqual(['a', 'b']);
  });

  it('fails the request whose load failed, and loads again on the next one', async () => {
    // Prepare
    let loads = 0;
    const client = lazyClient(async () => {
      loads += 1;
      if (loads === 1) throw new Error('module not found');
      return { send: async (_command: never) => 'ok' };
    });

    // Act
    const first = await client.send('a' as never).catch((error: unknown) => (error as Error).message);
    const second = await client.send('b' as never);

    // Assess
    expect(first).toBe('module not found');
    expect(second).toBe('ok');
  });

  it('builds stream control on the first close only', async () => {
    // Prepare
    const closed: string[] = [];
    let loads = 0;
    const streams = lazyStreamControl(async () => {
      loads += 1;
      return {
        instanceDeleted: async (ref) => void closed.push(`deleted ${ref.instanceId}`),
        accountTokenRotated: async (ref) => void closed.push(`rotated ${ref.accountId}`),
      };
    });

    // Act
    const before = loads;
    await streams.instanceDeleted({ accountId: 'a-1', instanceId: 'i-1' });
    await streams.accountTokenRotated({ accountId: 'a-1', currentTokenHash: 'h' });

    // Assess
    expect(before).toBe(0);
    expect(loads).toBe(1);
    expect(closed).toEqual(['deleted i-1', 'rotated a-1']);
  });
});
