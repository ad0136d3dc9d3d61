/**
 * The functions' environment as functions/aws.ts parses it. infra/ passes the shard queues as
 * `ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE` (`{shard}` = shard number) and `ZAPFLEET_SHARD_COUNT`,
 * because Lambda limits all variables of a function to 4 KB together, less than 64 queue URLs
 * take; this expands them into `ZAPFLEET_COMMAND_QUEUE_URLS` (in shard order).
 */
export const lambdaEnv = (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => {
  const template = env.ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE;
  if (env.ZAPFLEET_COMMAND_QUEUE_URLS || !template) return env;
  const count = Number(env.ZAPFLEET_SHARD_COUNT);
  if (!Number.isInteger(count) || count < 1) throw new Error('ZAPFLEET_SHARD_COUNT must be a positive integer');
  const urls = Array.from({ length: count }, (_, shard) => template.replaceAll('{shard}', String(shard)));
  return { ...env, ZAPFLEET_COMMAND_QUEUE_URLS: urls.join(',') };
};
