import { z } from 'zod';
import { ValidationError } from './errors/domain-error.ts';

/**
 * Request validation in the contract's terms (spec §0.2, §0.6):
 * wrong JSON types are reported first as `Invalid request body: '<field>' must be <type>`;
 * only then do semantic checks run, in the order of the endpoint's request table, each with
 * its own exact message. Schemas declare types only; semantic checks live in one ordered
 * `superRefine`, which zod runs only when every type is right.
 */

const typeNames: Record<string, string> = {
  string: 'a string',
  boolean: 'a boolean',
  int: 'an integer',
  number: 'a number',
  array: 'an array',
  object: 'an object',
};

/** An optional string array whose type error reads "must be an array of strings". */
export const stringArray = () =>
  z
    .custom<string[]>((value) => Array.isArray(value) && value.every((item) => typeof item === 'string'), {
      params: { expectedType: 'an array of strings' },
    })
    .nullish();

/** A string or integer (ports): type error reads "must be a string". */
export const stringOrInteger = () =>
  z
    .custom<string | number>((value) => typeof value === 'string' || Number.isInteger(value), {
      params: { expectedType: 'a string' },
    })
    .nullish();

export const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text === '' ? String(key) : `${text}.${String(key)}`;
  }, '');

const typeErrorOf = (issue: z.core.$ZodIssue): string | null => {
  if (issue.code === 'invalid_type') {
    return typeNames[issue.expected] ?? `a ${issue.expected}`;
  }
  if (issue.code === 'custom') {
    const expected = (issue.params as { expectedType?: unknown } | undefined)?.expectedType;
    if (typeof expected === 'string') return expected;
  }
  return null;
};

/** Turns zod issues into the single contract message a client sees. */
export const contractMessage = (issues: readonly z.core.$ZodIssue[], prefix = 'Invalid request body'): string => {
  for (const issue of issues) {
    const expected = typeErrorOf(issue);
    if (expected !== null) return `${prefix}: '${formatPath(issue.path)}' must be ${expected}`;
  }
  const first = issues[0];
  return first?.message ?? prefix;
};

/** Parses `input` or throws a `ValidationError` carrying the contract message. */
export const parseOrThrow = <S extends z.ZodType>(schema: S, input: unknown): z.output<S> => {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(contractMessage(result.error.issues));
};

/** Adds a semantic issue whose message is the full contract text. */
export const fail = (ctx: z.RefinementCtx, message: string, path: PropertyKey[] = []): void => {
  ctx.addIssue({ code: 'custom', message, path });
};

const absoluteHttpUrl = /^https?:$/;

/** Absolute http(s) URL with a host and no user-info. */
export const isAbsoluteHttpUrl = (value: string, opts: { allowUserInfo?: boolean } = {}): boolean => {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (!absoluteHttpUrl.test(url.protocol) || url.hostname === '') return false;
  return opts.allowUserInfo === true || (url.username === '' && url.password === '');
};

export const isBlank = (value: string | null | undefined): boolean => value === null || value === undefined || value.trim() === '';
