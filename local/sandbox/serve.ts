import { startWhatsAppSandbox } from './whatsapp-sandbox.ts';

/**
 * Runs the WhatsApp sandbox as its own process (`tsx local/sandbox/serve.ts`), with the JSON
 * control API on. Prints one JSON line: the URL for Baileys' `waWebSocketUrl`, the control
 * base URL and the root key the client process must pass to `trustSandboxRoot` (base64).
 * Options come from SANDBOX_PORT, SANDBOX_HOST and ZAPFLEET_SANDBOX_SCAN_MS ("off" = never).
 */
const env = process.env;
const scan = env.ZAPFLEET_SANDBOX_SCAN_MS;
const sandbox = await startWhatsAppSandbox({
  port: Number(env.SANDBOX_PORT ?? 0),
  host: env.SANDBOX_HOST ?? '127.0.0.1',
  scanDelayMs: scan === 'off' ? null : Number(scan ?? 2000),
  control: true,
});
const controlUrl = sandbox.url.replace(/^ws:/, 'http:').replace(/\/ws\/chat$/, '/control');
process.stdout.write(
  `${JSON.stringify({ url: sandbox.url, controlUrl, rootPublicKey: Buffer.from(sandbox.rootPublicKey).toString('base64') })}\n`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void sandbox.stop().then(() => process.exit(0));
  });
}
