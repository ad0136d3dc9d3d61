import { WA_CERT_DETAILS } from '@whiskeysockets/baileys';
import { afterEach, describe, expect, it } from 'vitest';
import { assertWhatsAppCertificateUntouched } from '../../../session-runner/baileys/wa-certificate.ts';

describe('WhatsApp certificate guard', () => {
  const original = WA_CERT_DETAILS.PUBLIC_KEY;
  afterEach(() => {
    WA_CERT_DETAILS.PUBLIC_KEY = original;
  });

  it('accepts the constants Baileys ships', () => {
    expect(() => assertWhatsAppCertificateUntouched()).not.toThrow();
  });

  it('refuses to start once a sandbox root key has been installed', () => {
    WA_CERT_DETAILS.PUBLIC_KEY = Buffer.alloc(32, 7);
    expect(() => assertWhatsAppCertificateUntouched()).toThrow(/certificate constants were modified/);
  });
});
