import type { LinkingAttempt, Profile, SessionState } from '../instance/instance.ts';

/** Names an instance the way the table keys it, plus its stable id. */
export interface InstanceRef {
  instanceId: string;
  accountId: string;
  instanceName: string;
}

export interface StateChange {
  state: SessionState;
  /** Why (`api_connect`, `qr_timeout`, `session_moved`, `logged_out_remote`, …; spec §3.2). */
  reason: string;
  numberJid?: string | null;
  profile?: Profile;
  hasSession?: boolean;
}

/** A session the fleet should keep open, found by shard at restore time. */
export interface DesiredSession extends InstanceRef {
  shard: number;
}

/** Runtime state of sessions, written by the runners and read by the API (DynamoDB). */
export interface SessionRepository {
  /**
   * Sets the instance's state (status, number, profile) and records the change in the
   * instance's state log, for the events issue to deliver as `instance.state`.
   * No-op when the instance no longer exists.
   */
  /** Returns the previous state (`null` for the first), or `undefined` when the instance is gone. */
  recordState(ref: InstanceRef, change: StateChange): Promise<SessionState | null | undefined>;
  /** The state log, oldest first (kept 7 days). */
  stateLog(instanceId: string): Promise<(StateChange & { at: string; previousState: SessionState | null })[]>;
  setLinking(ref: InstanceRef, linking: LinkingAttempt): Promise<void>;
  /** Marks a session as one the fleet keeps open (restore after restarts and moves). */
  keepOpen(session: DesiredSession): Promise<void>;
  forget(instanceId: string): Promise<void>;
  desiredOn(shard: number): Promise<DesiredSession[]>;
}
