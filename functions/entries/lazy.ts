import type { Context } from 'aws-lambda';

/**
 * Builds a handler on the first invocation of an execution environment and reuses it afterwards.
 * Module scope stays free of remote calls (Lambda's 10 s init limit, AWS-NOTES §3): the KMS
 * decrypt of the pepper happens inside the first invocation.
 */
export const lazy = <E, R>(build: () => Promise<(event: E, context: Context) => Promise<R>>) => {
  let handler: Promise<(event: E, context: Context) => Promise<R>> | undefined;
  return async (event: E, context: Context): Promise<R> => {
    handler ??= build().catch((error: unknown) => {
      // A failed build (e.g. KMS throttling) must not poison the execution environment.
      handler = undefined;
      throw error;
    });
    return (await handler)(event, context);
  };
};
