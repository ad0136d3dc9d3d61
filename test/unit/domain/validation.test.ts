import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../../shared/domain/errors/domain-error.ts';
import { CreateInstanceBody, UpdateProxyBody, UpdateS3Body, UpdateSettingsBody } from '../../../shared/domain/instance/instance.schemas.ts';
import { contractMessage, formatPath, parseOrThrow, stringArray } from '../../../shared/domain/validation.ts';

/** The contract message a schema gives for `body`, or `null` when the body is valid. */
function messageOf(schema: z.ZodType, body: unknown): string | null {
  const result = schema.safeParse(body);
  return result.success ? null : contractMessage(result.error.issues);
}

const create = (body: Record<string, unknown>) => messageOf(CreateInstanceBody, body);

describe('contract messages for wrong JSON types', () => {
  it.each([
    [{ name: 5 }, "Invalid request body: 'name' must be a string"],
    [{ name: 'a', proxyEnabled: 'true' }, "Invalid request body: 'proxyEnabled' must be a boolean"],
    [{ name: 'a', proxyPort: true }, "Invalid request body: 'proxyPort' must be a string"],
    [{ name: 'a', webhookEvents: 'message.exchange' }, "Invalid request body: 'webhookEvents' must be an array of strings"],
    [{ name: 'a', webhookEvents: ['message.exchange', 7] }, "Invalid request body: 'webhookEvents' must be an array of strings"],
    [{ name: 'a', websocketEvents: {} }, "Invalid request body: 'websocketEvents' must be an array of strings"],
    [{ name: 'a', s3Enabled: 1 }, "Invalid request body: 's3Enabled' must be a boolean"],
    [{ name: 'a', callRejectMessage: ['busy'] }, "Invalid request body: 'callRejectMessage' must be a string"],
  ])('%j → %s', (body, expected) => {
    // Act
    const message = create(body);

    // Assess
    expect(message).toBe(expected);
  });

  it.each([
    ['a numeric string', '5'],
    ['a number with a fraction', 1.5],
    ['a boolean', true],
  ])('reports %s as chatwootAccountId as "must be an integer"', (_, value) => {
    // Act
    const message = create({ name: 'a', chatwootAccountId: value });

    // Assess
    expect(message).toBe("Invalid request body: 'chatwootAccountId' must be an integer");
  });

  it('reports a type error before any semantic error, wherever the fields are', () => {
    // Prepare: the name is blank and the proxy block is incomplete, but s3Bucket has the wrong type
    const body = { name: '', proxyEnabled: true, s3Enabled: true, s3Bucket: 42 };

    // Act
    const message = create(body);

    // Assess
    expect(message).toBe("Invalid request body: 's3Bucket' must be a string");
  });

  it('treats null as an absent optional field', () => {
    // Act
    const message = create({ name: 'a', token: null, proxyEnabled: null, webhookEvents: null, chatwootAccountId: null });

    // Assess
    expect(message).toBeNull();
  });

  it('does not accept the string "true" as a boolean', () => {
    // Act
    const message = messageOf(UpdateSettingsBody, { autoRejectCalls: 'true' });

    // Assess
    expect(message).toBe("Invalid request body: 'autoRejectCalls' must be a boolean");
  });

  it('names nested fields with a dotted path and indexes', () => {
    // Prepare
    const schema = z.object({
      groupSettings: z.object({ membersCanAddOthers: z.boolean() }).optional(),
      cards: z.array(z.object({ header: z.object({ title: z.string() }) })).optional(),
      tags: stringArray(),
      count: z.number().optional(),
    });

    // Act
    const nestedObject = messageOf(schema, { groupSettings: { membersCanAddOthers: 'yes' } });
    const nestedArray = messageOf(schema, { cards: [{ header: { title: 'ok' } }, { header: { title: 3 } }] });
    const notAnArray = messageOf(schema, { cards: { header: {} } });
    const notAnObject = messageOf(schema, { groupSettings: 'x' });
    const strings = messageOf(schema, { tags: [1] });
    const notANumber = messageOf(schema, { count: '3' });

    // Assess
    expect(nestedObject).toBe("Invalid request body: 'groupSettings.membersCanAddOthers' must be a boolean");
    expect(nestedArray).toBe("Invalid request body: 'cards[1].header.title' must be a string");
    expect(notAnArray).toBe("Invalid request body: 'cards' must be an array");
    expect(notAnObject).toBe("Invalid request body: 'groupSettings' must be an object");
    expect(strings).toBe("Invalid request body: 'tags' must be an array of strings");
    expect(notANumber).toBe("Invalid request body: 'count' must be a number");
  });

  it('formats paths of any depth', () => {
    // Act
    const paths = [formatPath(['cards', 0, 'header', 'title']), formatPath(['a', 'b']), formatPath([2, 'x']), formatPath(['m', 0, 1])];

    // Assess
    expect(paths).toEqual(['cards[0].header.title', 'a.b', '[2].x', 'm[0][1]']);
  });

  it('throws a ValidationError carrying the contract message from parseOrThrow', () => {
    // Act
    const attempt = () => parseOrThrow(CreateInstanceBody, { name: 'a b' });

    // Assess
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow('Invalid instance name');
  });

  it('returns the parsed body from parseOrThrow when valid', () => {
    // Act
    const body = parseOrThrow(CreateInstanceBody, { name: 'orion', proxyPort: 1080, unknownField: true });

    // Assess
    expect(body).toMatchObject({ name: 'orion', proxyPort: 1080 });
  });
});

describe('instance names (spec §0.13)', () => {
  it.each(['a', 'A.b-c_9', 'x'.repeat(64), 'Sales', '.a', 'a..b', '-', '_'])('accepts %j', (name) => {
    // Act
    const message = create({ name });

    // Assess
    expect(message).toBeNull();
  });

  it.each(['x'.repeat(65), '.', '..', '...', 'a b', 'á', 'a/b', 'a,b', 'a#b', ' a', 'a\n', 'inst%20x', 'ñandú'])('rejects %j as an invalid name', (name) => {
    // Act
    const message = create({ name });

    // Assess
    expect(message).toBe('Invalid instance name');
  });

  it.each([[{}], [{ name: null }], [{ name: '' }], [{ name: '   ' }], [{ name: '\t' }]])('requires a name: %j', (body) => {
    // Act
    const message = create(body);

    // Assess
    expect(message).toBe("The 'name' field is required");
  });

  it('checks the name before the custom token and the proxy block', () => {
    // Act
    const message = create({ name: 'a/b', token: 'short', proxyEnabled: true });

    // Assess
    expect(message).toBe('Invalid instance name');
  });
});

describe('custom token rule', () => {
  const tokenMessage = "Invalid request body: 'token' must be 16-128 characters of [A-Za-z0-9._~-]";

  it.each(['a'.repeat(16), 'A'.repeat(128), 'abc.DEF_123~-xyz', '0123456789abcdef'])('accepts %j', (token) => {
    // Act
    const message = create({ name: 'a', token });

    // Assess
    expect(message).toBeNull();
  });

  it.each(['a'.repeat(15), 'a'.repeat(129), '', 'abcdefghijklmnop/', 'abcdefghijklmnop q', 'abcdefghijklmnopé', 'abcdefghijklmnop+'])('rejects %j', (token) => {
    // Act
    const message = create({ name: 'a', token });

    // Assess
    expect(message).toBe(tokenMessage);
  });

  it('checks the token before the proxy block', () => {
    // Act
    const message = create({ name: 'a', token: 'short', proxyEnabled: true });

    // Assess
    expect(message).toBe(tokenMessage);
  });
});

describe('proxy block of POST /api/instance/new', () => {
  const complete = { name: 'a', proxyEnabled: true, proxyHost: 'proxy.example.com', proxyPort: '1080', proxyProtocol: 'socks5' };

  it.each([
    [{ proxyHost: undefined, proxyPort: undefined, proxyProtocol: undefined }, 'Invalid request body: proxyHost is required when proxyEnabled is true'],
    [{ proxyHost: '  ', proxyPort: 'bad', proxyProtocol: 'ftp' }, 'Invalid request body: proxyHost is required when proxyEnabled is true'],
    [{ proxyPort: undefined, proxyProtocol: undefined }, 'Invalid request body: proxyPort is required when proxyEnabled is true'],
    [{ proxyPort: '' }, 'Invalid request body: proxyPort is required when proxyEnabled is true'],
    [{ proxyPort: '0', proxyProtocol: 'ftp' }, 'Invalid request body: proxyPort must be between 1 and 65535'],
    [{ proxyPort: 65536 }, 'Invalid request body: proxyPort must be between 1 and 65535'],
    [{ proxyPort: '80a' }, 'Invalid request body: proxyPort must be between 1 and 65535'],
    [{ proxyPort: -1 }, 'Invalid request body: proxyPort must be between 1 and 65535'],
    [{ proxyProtocol: undefined }, 'Invalid request body: proxyProtocol is required when proxyEnabled is true'],
    [{ proxyProtocol: 'ftp' }, "Invalid request body: proxyProtocol must be 'http', 'https' or 'socks5'"],
  ])('%j → %s', (change, expected) => {
    // Act
    const message = create({ ...complete, ...change });

    // Assess
    expect(message).toBe(expected);
  });

  it.each([[{}], [{ proxyPort: 1080 }], [{ proxyPort: '65535', proxyProtocol: 'HTTPS' }], [{ proxyPort: 1, proxyProtocol: 'Http' }]])('accepts %j', (change) => {
    // Act
    const message = create({ ...complete, ...change });

    // Assess
    expect(message).toBeNull();
  });

  it('ignores the other proxy fields unless proxyEnabled is true', () => {
    // Act
    const message = create({ name: 'a', proxyEnabled: false, proxyHost: '', proxyPort: '0', proxyProtocol: 'ftp' });

    // Assess
    expect(message).toBeNull();
  });

  it('reports the proxy block before the S3 block', () => {
    // Act
    const message = create({ ...complete, proxyProtocol: 'ftp', s3Enabled: true });

    // Assess
    expect(message).toBe("Invalid request body: proxyProtocol must be 'http', 'https' or 'socks5'");
  });
});

describe('S3 block of POST /api/instance/new', () => {
  const complete = { name: 'a', s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'media', s3AccessKey: 'AKIAEXAMPLE', s3SecretKey: 'secret' };

  it.each([
    [{ s3Region: undefined, s3Bucket: undefined, s3AccessKey: undefined, s3SecretKey: undefined }, 'Invalid request body: s3Region is required when s3Enabled is true'],
    [{ s3Bucket: ' ', s3AccessKey: undefined }, 'Invalid request body: s3Bucket is required when s3Enabled is true'],
    [{ s3AccessKey: '', s3SecretKey: '' }, 'Invalid request body: s3AccessKey is required when s3Enabled is true'],
    [{ s3SecretKey: null, s3Endpoint: 'nope' }, 'Invalid request body: s3SecretKey is required when s3Enabled is true'],
    [{ s3Endpoint: 'ftp://files.example.com' }, 'Invalid request body: s3Endpoint must be an absolute http(s) URL'],
    [{ s3Endpoint: '/relative/path' }, 'Invalid request body: s3Endpoint must be an absolute http(s) URL'],
  ])('%j → %s', (change, expected) => {
    // Act
    const message = create({ ...complete, ...change });

    // Assess
    expect(message).toBe(expected);
  });

  it('limits s3PathPrefix to 256 characters', () => {
    // Act
    const atLimit = create({ ...complete, s3PathPrefix: 'p'.repeat(256) });
    const overLimit = create({ ...complete, s3PathPrefix: 'p'.repeat(257) });

    // Assess
    expect(atLimit).toBeNull();
    expect(overLimit).toMatch(/^Invalid request body: /);
    expect(overLimit).toContain('s3PathPrefix');
  });

  it('accepts a custom http(s) endpoint and ignores the block when disabled', () => {
    // Act
    const withEndpoint = create({ ...complete, s3Endpoint: 'https://nyc3.digitaloceanspaces.com' });
    const disabled = create({ name: 'a', s3Enabled: false, s3Region: '', s3Endpoint: 'ftp://x' });

    // Assess
    expect(withEndpoint).toBeNull();
    expect(disabled).toBeNull();
  });
});

describe('configuration endpoints', () => {
  it.each([
    [{ enabled: true }, 'Invalid proxy configuration: host is required'],
    [{ enabled: true, host: 'h', port: '70000', protocol: 'ftp' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
    [{ enabled: true, host: 'h', port: 8080 }, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'"],
    [{ enabled: true, host: 'h', port: 8080, protocol: 'ftp' }, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'"],
    [{}, "Invalid request body: 'enabled' must be a boolean"],
    [{ enabled: true, host: 7 }, "Invalid request body: 'host' must be a string"],
  ])('proxy %j → %s', (body, expected) => {
    // Act
    const message = messageOf(UpdateProxyBody, body);

    // Assess
    expect(message).toBe(expected);
  });

  it.each([
    [{ enabled: true }, 'Invalid S3 configuration: region is required'],
    [{ enabled: true, region: 'r' }, 'Invalid S3 configuration: bucket is required'],
    [{ enabled: true, region: 'r', bucket: 'b' }, 'Invalid S3 configuration: accessKey is required'],
    [{ enabled: true, region: 'r', bucket: 'b', accessKey: 'k', endpoint: 'mailto:x@example.com' }, 'Invalid S3 configuration: endpoint must be an absolute http(s) URL'],
    [{ enabled: 'yes' }, "Invalid request body: 'enabled' must be a boolean"],
  ])('s3 %j → %s', (body, expected) => {
    // Act
    const message = messageOf(UpdateS3Body, body);

    // Assess
    expect(message).toBe(expected);
  });

  it('requires at least one setting and bounds callRejectMessage', () => {
    // Act
    const none = messageOf(UpdateSettingsBody, { unknown: true });
    const allNull = messageOf(UpdateSettingsBody, { autoRejectCalls: null });
    const tooLong = messageOf(UpdateSettingsBody, { callRejectMessage: 'x'.repeat(4097) });
    const atLimit = messageOf(UpdateSettingsBody, { callRejectMessage: 'x'.repeat(4096) });

    // Assess
    expect(none).toBe('At least one setting must be provided');
    expect(allNull).toBe('At least one setting must be provided');
    expect(tooLong).toBe("Invalid request body: 'callRejectMessage' must be at most 4096 characters");
    expect(atLimit).toBeNull();
  });
});
