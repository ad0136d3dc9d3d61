import type { LogFields, Logger } from '../domain/ports/runtime.port.ts';

/** Keys whose values never reach a log line, whatever the caller passed. */
const secretKeys = /(token|password|secret|authorization|apikey|api_key|accesskey|x-admin-key|cookie)/i;

const redact = (fields: LogFields | undefined): LogFields | undefined => {
  if (!fields) return undefined;
  const result: LogFields = {};
  for (const [key, value] of Object.entries(fields)) result[key] = secretKeys.test(key) ? '[redacted]' : value;
  return result;
};

export interface LoggerOptions {
  level?: 'info' | 'warn' | 'error' | 'silent';
  write?: (line: string) => void;
  base?: LogFields;
}

const rank = { info: 0, warn: 1, error: 2, silent: 3 } as const;

/** JSON lines on stdout (CloudWatch and `npm start` alike). */
export const createLogger = (options: LoggerOptions = {}): Logger => {
  const threshold = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => {
    if (rank[level] < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, message, ...options.base, ...redact(fields) }));
  };
  return {
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  };
};
