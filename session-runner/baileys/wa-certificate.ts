import { WA_CERT_DETAILS } from '@whiskeysockets/baileys';

/** WhatsApp's long-term root key as Baileys 7.0.0-rc14 ships it. */
const whatsappRootKeyHex = '142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b';

/**
 * The sandbox works by pointing Baileys' (mutable) certificate constants at its own root. A
 * production runner must never run with them changed, or it would trust a fake edge: it checks
 * them at start-up and refuses to start otherwise.
 */
export const assertWhatsAppCertificateUntouched = (): void => {
  const key = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY).toString('hex');
  if (key !== whatsappRootKeyHex || WA_CERT_DETAILS.SERIAL !== 0 || WA_CERT_DETAILS.ISSUER !== 'WhatsAppLongTerm1') {
    throw new Error('WhatsApp certificate constants were modified (sandbox trust installed in a production process); refusing to start');
  }
};
