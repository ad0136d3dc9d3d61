import { awsContext } from '../aws.ts';
import { messageModule } from '../message/message.handlers.ts';
import { sqsCommands } from './commands.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/** The 13 send routes (spec §2.3). */
export const handler = lazy(async () => messageModule((await awsContext(lambdaEnv(), { commands: sqsCommands })).deps));
