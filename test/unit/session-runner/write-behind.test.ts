import { describe, expect, it } from 'vitest';
import {
  createWriteBehind,
  gateOutgoingFrames,
  pauseReadingWhenBacklogged,
  type FrameSocket,
} from '../../../session-runner/baileys/write-behind.ts';

interface KeyWrite {
  key: string;
  value: string | null;
}

/** A commit that resolves or rejects only when the test says so. */
function controlledCommits() {
  const calls: { writes: KeyWrite[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  const commit = (writes: KeyWrite[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ writes, resolve, reject });
    });
  return { calls, commit };
}

/** Runs queued immediates, microtasks and nextTicks until the world settles. */
const turn = async (times = 5) => {
  for (let i = 0; i < times; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

function recordingSocket() {
  const sent: string[] = [];
  const events: string[] = [];
  const socket: FrameSocket = {
    send: (data: unknown, optionsOrCallback?: unknown, callback?: (error?: Error) => void) => {
      sent.push(String(data));
      const done = typeof optionsOrCallback === 'function' ? (optionsOrCallback as () => void) : callback;
      done?.();
    },
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
  };
  return { socket, sent, events };
}

describe('write-behind of Signal keys', () => {
  it('does not write an outgoing receipt before the key commit made before it resolves', async () => {
    // Prepare
    const { calls, commit } = controlledCommits();
    const keys = createWriteBehind<KeyWrite>({ keyOf: (write) => write.key, commit });
    const { socket, sent } = recordingSocket();
    gateOutgoingFrames(socket, keys, () => undefined);
    let accepted = false;

    // Act
    keys.add([{ key: 'session.peer', value: 'ratchet-1' }]);
    socket.send('receipt msg-1', () => (accepted = true));
    await turn();

    // Assess
    expect(calls).toHaveLength(1);
    expect(accepted).toBe(true);
    expect(sent).toEqual([]);

    // Act
    calls[0]!.resolve();
    await turn();

    // Assess
    expect(sent).toEqual(['receipt msg-1']);
  });

  it('sends frames at once while no key write is pending, and in their order once held', async () => {
    // Prepare
    const { calls, commit } = controlledCommits();
    const keys = createWriteBehind<KeyWrite>({ keyOf: (write) => write.key, commit });
    const { socket, sent } = recordingSocket();
    gateOutgoingFrames(socket, keys, () => undefined);

    // Act
    socket.send('ping');
    keys.add([{ key: 'session.a', value: '1' }]);
    socket.send('receipt a');
    socket.send('presence');
    await turn();
    const whileHeld = [...sent];
    calls[0]!.resolve();
    await turn();

    // Assess
    expect(whileHeld).toEqual(['ping']);
    expect(sent).toEqual(['ping', 'receipt a', 'presence']);
  });

  it('coalesces writes made during a commit into the next one, the latest value of a key winning', async () => {
    // Prepare
    const { calls, commit } = controlledCommits();
    const keys = createWriteBehind<KeyWrite>({ keyOf: (write) => write.key, commit });

    // Act
    keys.add([{ key: 'session.a', value: '1' }]);
    await turn();
    keys.add([{ key: 'session.a', value: '2' }]);
    keys.add([{ key: 'session.b', value: 'x' }]);
    keys.add([{ key: 'session.a', value: '3' }]);
    const readBeforeDurable = keys.pending('session.a')?.value;
    calls[0]!.resolve();
    await turn();

    // Assess
    expect(readBeforeDurable).toBe('3');
    expect(calls.map((call) => call.writes)).toEqual([
      [{ key: 'session.a', value: '1' }],
      [
        { key: 'session.b', value: 'x' },
        { key: 'session.a', value: '3' },
      ],
    ]);
  });

  it('holds a frame until the commit that carries the writes made before it, not only the one in flight', async () => {
    // Prepare
    const { calls, commit } = controlledCommits();
    const keys = createWriteBehind<KeyWrite>({ keyOf: (write) => write.key, commit });
    const { socket, sent } = recordingSocket();
    gateOutgoingFrames(socket, keys, () => undefined);

    // Act
    keys.add([{ key: 'session.a', value: '1' }]);
    await turn();
    keys.add([{ key: 'session.b', value: '1' }]);
    socket.send('receipt b');
    calls[0]!.resolve();
    await turn();
    const afterFirstCommit = [...sent];
    calls[1]!.resolve();
    await turn();

    // Assess
    expect(afterFirstCommit).toEqual([]);
    expect(sent).toEqual(['receipt b']);
  });

  it('drops the held frames, reports the failure once and refuses later writes when a commit fails', async () => {
    // Prepare
    const { calls, commit } = controlledCommits();
    const keys = createWriteBehind<KeyWrite>({ keyOf: (write) => write.key, commit });
    const { socket, sent } = recordingSocket();
    const failures: unknown[] = [];
    gateOutgoingFrames(socket, keys, (error) => failures.push(error));
    const refused = new Error('fenced out');

    // Act
    keys.add([{ key: 'session.a', value: '1' }]);
    socket.send('receipt a');
    socket.send('receipt b');
    await turn();
    calls[0]!.reject(refused);
    await turn();
    let laterWrite: unknown = null;
    try {
      keys.add([{ key: 'session.c', value: '1' }]);
    } catch (error) {
      laterWrite = error;
    }
    let laterSend: Error | undefined;
    socket.send('receipt c', (error?: Error) => (laterSend = error));

    // Assess
    expect(sent).toEqual([]);
    expect(failures).toEqual([refused]);
    expect(laterWrite).toBe(refused);
    expect(laterSend).toBeInstanceOf(Error);
  });
});

describe('read back-pressure', () => {
  it('pauses reading at the high mark of queued messages and resumes at the low mark', async () => {
    // Prepare
    const { socket, events } = recordingSocket();
    let running = Promise.resolve();
    const mutex = {
      mutex<T>(code: () => Promise<T> | T): Promise<T> {
        const result = running.then(code);
        running = result.then(
          () => undefined,
          () => undefined,
        );
        return result;
      },
    };
    const pressure = pauseReadingWhenBacklogged(mutex, socket, { high: 3, low: 1 });
    const gates: (() => void)[] = [];
    const task = () => new Promise<void>((resolve) => gates.push(resolve));

    // Act
    const work = [mutex.mutex(task), mutex.mutex(task), mutex.mutex(task)];
    const pausedAtHigh = pressure.paused();
    await turn();
    gates.shift()!();
    await turn();
    const stillPaused = pressure.paused();
    gates.shift()!();
    await turn();
    gates.shift()!();
    await Promise.all(work);

    // Assess
    expect(pausedAtHigh).toBe(true);
    expect(stillPaused).toBe(true);
    expect(events).toEqual(['pause', 'resume']);
    expect(pressure.depth()).toBe(0);
  });

  it("pauses while the runner's own backlog is high and resumes once it came down, with no mutex activity meanwhile", async () => {
    // Prepare
    const { socket, events } = recordingSocket();
    const mutex = { mutex: <T>(code: () => Promise<T> | T): Promise<T> => Promise.resolve().then(code) };
    let runnerBacklog = 10;
    pauseReadingWhenBacklogged(mutex, socket, { high: 5, low: 2, extra: () => runnerBacklog, maxPauseMs: 10_000 });

    // Act
    await mutex.mutex(() => undefined);
    const afterMessage = [...events];
    runnerBacklog = 1;
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Assess
    expect(afterMessage).toEqual(['pause']);
    expect(events).toEqual(['pause', 'resume']);
  });

  it('resumes reading after the longest pause even while the backlog stays high (a queued message may wait for a server answer)', async () => {
    // Prepare
    const { socket, events } = recordingSocket();
    const mutex = { mutex: <T>(code: () => Promise<T> | T): Promise<T> => Promise.resolve().then(code) };
    const pressure = pauseReadingWhenBacklogged(mutex, socket, { high: 2, low: 0, maxPauseMs: 20 });
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => (release = resolve));

    // Act
    const work = [mutex.mutex(() => stuck), mutex.mutex(() => stuck), mutex.mutex(() => stuck)];
    await new Promise((resolve) => setTimeout(resolve, 60));
    const duringStall = [...events];
    release();
    await Promise.all(work);

    // Assess
    expect(duringStall).toEqual(['pause', 'resume']);
    expect(pressure.paused()).toBe(false);
  });
});
