import type { WaConnectionFactory } from '../../shared/domain/ports/wa-connection.port.ts';
import type { WhatsAppSandbox } from '../sandbox/whatsapp-sandbox.ts';

/**
 * Sandbox mode has no human holding a phone: whenever a QR is shown the simulated phone scans it
 * (after `ZAPFLEET_SANDBOX_SCAN_MS`), and a pairing code is typed in as soon as it is issued.
 * The connections themselves are the real Baileys ones.
 */
export const withSimulatedPhone = (factory: WaConnectionFactory, sandbox: WhatsAppSandbox): WaConnectionFactory => ({
  open(options) {
    const connection = factory.open({
      ...options,
      onEvent: (event) => {
        if (event.type === 'qr') sandbox.qrShown(event.qr);
        options.onEvent(event);
      },
    });
    return {
      ...connection,
      requestPairingCode: async (phoneNumber) => {
        const code = await connection.requestPairingCode(phoneNumber);
        void sandbox.enterPairingCode(phoneNumber, code).catch(() => undefined);
        return code;
      },
    };
  },
});
