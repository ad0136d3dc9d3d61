import type { OutboundSend } from '../messages/send.command.ts';

/**
 * Commands from the control plane to the session runners, one SQS FIFO queue per shard
 * (`MessageGroupId` = instance id keeps per-instance order, `MessageDeduplicationId` = command id).
 */
interface CommandBase {
  commandId: string;
  instanceId: string;
  accountId: string;
  instanceName: string;
  /** RFC 3339, for logs and staleness checks. */
  issuedAt: string;
}

export type SessionCommand =
  | (CommandBase & {
      type: 'connect';
      /** The linking attempt this command starts; the API waits for its QR / pairing code. */
      attemptId: string;
      /** Digits only; present → pairing code instead of QR. */
      phoneNumber: string | null;
      historyDays: number | null;
    })
  | (CommandBase & { type: 'reconnect' })
  | (CommandBase & { type: 'logout' })
  /** The instance is being deleted: stop the socket, log out if linked, wipe the auth state. */
  | (CommandBase & { type: 'delete' })
  /** Settings changed: re-read them (presence is applied at once when connected). */
  | (CommandBase & { type: 'settings' })
  /** Send one message (spec §2.3): the API stored it as `pending`; the runner sends it and records the outcome. */
  | (CommandBase & { type: 'send'; send: OutboundSend });

export type SessionCommandType = SessionCommand['type'];

/** Sends commands to the shard that owns the instance. */
export interface CommandBus {
  send(command: SessionCommand): Promise<void>;
}
