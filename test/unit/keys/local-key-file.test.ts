import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateLocalKeyMaterial } from '../../../shared/adapters/keys/local-key-file.ts';

describe('loadOrCreateLocalKeyMaterial', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'zapfleet-keys-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates keys.json with mode 0600, creating the data dir if needed', async () => {
    // Prepare
    const dataDir = join(root, 'nested', 'data');

    // Act
    const material = await loadOrCreateLocalKeyMaterial(dataDir);

    // Assess
    const info = await stat(join(dataDir, 'keys.json'));
    expect(info.mode & 0o777).toBe(0o600);
    expect(material.masterKeys).toHaveLength(1);
    expect(material.masterKeys[0]?.key).toHaveLength(32);
    expect(material.masterKeys[0]?.id).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(material.pepper).toHaveLength(32);
    expect(material.pepper.equals(material.masterKeys[0]!.key)).toBe(false);
  });

  it('returns the same material on the next load', async () => {
    // Prepare
    const first = await loadOrCreateLocalKeyMaterial(root);

    // Act
    const second = await loadOrCreateLocalKeyMaterial(root);

    // Assess
    expect(second.masterKeys.map((k) => k.id)).toEqual(first.masterKeys.map((k) => k.id));
    expect(second.masterKeys[0]!.key.equals(first.masterKeys[0]!.key)).toBe(true);
    expect(second.pepper.equals(first.pepper)).toBe(true);
  });

  it('tightens a key file readable by others to 0600', async () => {
    // Prepare
    await loadOrCreateLocalKeyMaterial(root);
    const path = join(root, 'keys.json');
    await chmod(path, 0o644);

    // Act
    await loadOrCreateLocalKeyMaterial(root);

    // Assess
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('loads a rotated file with the newest key last', async () => {
    // Prepare
    await loadOrCreateLocalKeyMaterial(root);
    const path = join(root, 'keys.json');
    const contents = JSON.parse(await readFile(path, 'utf8'));
    contents.masterKeys.push({ id: 'k2', key: Buffer.alloc(32, 7).toString('base64') });
    await writeFile(path, JSON.stringify(contents));

    // Act
    const material = await loadOrCreateLocalKeyMaterial(root);

    // Assess
    expect(material.masterKeys).toHaveLength(2);
    expect(material.masterKeys[1]).toEqual({ id: 'k2', key: Buffer.alloc(32, 7) });
  });

  it.each([
    ['not JSON', '{"version": 1, "pepper": "c2VjcmV0LXBlcHBlcg==" ', /not valid JSON/],
    ['wrong version', JSON.stringify({ version: 2, masterKeys: [], pepper: '' }), /version/],
    ['no master keys', JSON.stringify({ version: 1, masterKeys: [], pepper: Buffer.alloc(32).toString('base64') }), /masterKeys/],
    [
      'short key',
      JSON.stringify({ version: 1, masterKeys: [{ id: 'k1', key: Buffer.alloc(16).toString('base64') }], pepper: Buffer.alloc(32).toString('base64') }),
      /masterKeys\[0\]\.key/,
    ],
    [
      'missing pepper',
      JSON.stringify({ version: 1, masterKeys: [{ id: 'k1', key: Buffer.alloc(32).toString('base64') }] }),
      /pepper/,
    ],
  ])('refuses a corrupt file (%s) with an error naming the path', async (_case, text, reason) => {
    // Prepare
    const path = join(root, 'keys.json');
    await writeFile(path, text, { mode: 0o600 });

    // Act
    const failure = await loadOrCreateLocalKeyMaterial(root).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toContain(`Invalid local key file ${path}`);
    expect(message).toMatch(reason);
    expect(message).not.toMatch(/c2VjcmV0/);
    expect(await readFile(path, 'utf8')).toBe(text);
  });
});
