import { ConfigError, loadEmbeddedConfig } from './config.ts';
import { startStack } from './stack.ts';

// Node 20 is the supported runtime here; the SDK's notice about its future Node 22 floor is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** `npm start`: the embedded stack in one process, stopped cleanly by Ctrl-C or SIGTERM. */
const main = async (): Promise<void> => {
  let config;
  try {
    config = loadEmbeddedConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const stack = await startStack(config, { print: (line) => process.stdout.write(`${line}\n`) });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`zapfleet: ${signal} received, stopping\n`);
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`zapfleet: error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  // A WhatsApp library callback that rejects must not take every other session down with it.
  process.on('unhandledRejection', (reason: unknown) => {
    process.stderr.write(`zapfleet: unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}\n`);
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
};

main().catch((error: unknown) => {
  process.stderr.write(`zapfleet failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
