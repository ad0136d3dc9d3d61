export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  uuid(): string;
  ulid(): string;
}

export type LogFields = Record<string, unknown>;

/** Structured logs; the adapter redacts secrets, but callers never pass them in the first place. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** RFC 3339, UTC, second precision (spec §0.12). */
export const rfc3339 = (date: Date): string => `${date.toISOString().slice(0, 19)}Z`;

/** Tokens appear in logs as their first 4 characters (spec §4). */
export const redactToken = (token: string): string => `${token.slice(0, 4)}…`;
