import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Key material of the embedded stack. `masterKeys` is ordered oldest → newest: the last key
 * wraps new data keys, every listed key can still unwrap (rotation = append a key).
 */
export interface LocalKeyMaterial {
  masterKeys: { id: string; key: Buffer }[];
  pepper: Buffer;
}

const KEY_FILE_NAME = 'keys.json';
const KEY_BYTES = 32;
const PEPPER_BYTES = 32;
const OWNER_ONLY = 0o600;

/** Key ids end up inside dot-separated wrapped keys, so they must not contain dots. */
export const MASTER_KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

interface KeyFileContents {
  version: 1;
  masterKeys: { id: string; key: string }[];
  pepper: string;
}

/**
 * Reads `<dataDir>/keys.json`, creating it (mode 0600, one master key, one pepper) on first start.
 * A file readable by group or others is tightened to 0600 rather than refused, so an operator who
 * copied the data dir with a permissive umask is not locked out.
 */
export async function loadOrCreateLocalKeyMaterial(dataDir: string): Promise<LocalKeyMaterial> {
  const path = join(dataDir, KEY_FILE_NAME);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;

  await createKeyFile(path);
  // Read back whatever won: another process may have created the file first.
  const created = await readKeyFile(path);
  if (created === undefined) throw new Error(`Local key file ${path} disappeared right after it was created`);
  return created;
}

async function readKeyFile(path: string): Promise<LocalKeyMaterial | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  if (!info.isFile()) throw new Error(`Invalid local key file ${path}: not a regular file`);
  if ((info.mode & 0o077) !== 0) await chmod(path, OWNER_ONLY);

  return parseKeyFile(path, await readFile(path, 'utf8'));
}

/**
 * Writes a temp file and then `link`s it into place. Unlike `rename`, `link` refuses to replace an
 * existing file, so two processes starting together cannot overwrite each other's keys after one
 * of them has already sealed secrets with its own.
 */
async function createKeyFile(path: string): Promise<void> {
  const contents: KeyFileContents = {
    version: 1,
    masterKeys: [{ id: `mk-${randomBytes(6).toString('hex')}`, key: randomBytes(KEY_BYTES).toString('base64') }],
    pepper: randomBytes(PEPPER_BYTES).toString('base64'),
  };
  const tempPath = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tempPath, 'wx', OWNER_ONLY);
    try {
      // The umask could only have narrowed the mode; set it explicitly so the result is exact.
      await handle.chmod(OWNER_ONLY);
      await handle.writeFile(`${JSON.stringify(contents, null, 2)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tempPath, path);
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    await syncDirectory(dirname(path));
  } finally {
    await unlink(tempPath).catch((error: unknown) => {
      if (!isErrno(error, 'ENOENT')) throw error;
    });
  }
}

/** Without this, a crash could lose the new directory entry after secrets were already sealed. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function parseKeyFile(path: string, text: string): LocalKeyMaterial {
  const invalid = (reason: string) => new Error(`Invalid local key file ${path}: ${reason}`);

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // The parser's message quotes the file's contents, which are keys: keep it out of the error.
    throw invalid('not valid JSON');
  }
  if (!isRecord(raw)) throw invalid('expected a JSON object');
  if (raw.version !== 1) throw invalid('unsupported "version" (expected 1)');
  if (!Array.isArray(raw.masterKeys) || raw.masterKeys.length === 0) {
    throw invalid('"masterKeys" must be a non-empty array');
  }

  const seen = new Set<string>();
  const masterKeys = raw.masterKeys.map((entry: unknown, index: number) => {
    if (!isRecord(entry)) throw invalid(`masterKeys[${index}] must be an object`);
    const { id, key } = entry;
    if (typeof id !== 'string' || !MASTER_KEY_ID_PATTERN.test(id)) {
      throw invalid(`masterKeys[${index}].id must match ${MASTER_KEY_ID_PATTERN.source}`);
    }
    if (seen.has(id)) throw invalid(`duplicate master key id "${id}"`);
    seen.add(id);
    const decoded = decodeBase64(key, KEY_BYTES);
    if (decoded === undefined) throw invalid(`masterKeys[${index}].key must be ${KEY_BYTES} bytes of base64`);
    return { id, key: decoded };
  });

  const pepper = decodeBase64(raw.pepper, PEPPER_BYTES);
  if (pepper === undefined) throw invalid(`"pepper" must be ${PEPPER_BYTES} bytes of base64`);

  return { masterKeys, pepper };
}

function decodeBase64(value: unknown, length: number): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  // Buffer.from skips invalid characters silently; a round trip catches a damaged value.
  if (bytes.length !== length || bytes.toString('base64') !== value) return undefined;
  return bytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
