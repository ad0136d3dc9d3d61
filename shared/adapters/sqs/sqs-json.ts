/**
 * JSON whose characters outside the Basic Multilingual Plane (emoji) are written as `\uXXXX`
 * surrogate pairs: the same JSON to a parser, but accepted by every SQS implementation (fauxqs,
 * the embedded stack's queue, refuses raw characters above U+FFFD). Lone surrogates are
 * already escaped by `JSON.stringify`.
 */
export const sqsSafeJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[\u{10000}-\u{10FFFF}]/gu, (char) => {
    const code = char.codePointAt(0) as number;
    const high = Math.floor((code - 0x10000) / 0x400) + 0xd800;
    const low = ((code - 0x10000) % 0x400) + 0xdc00;
    return `\\u${high.toString(16)}\\u${low.toString(16)}`;
  });
