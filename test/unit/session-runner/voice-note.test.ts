import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaRejected } from '../../../session-runner/messaging/outgoing-media.ts';
import { AmplitudeSummary, convertToVoiceNote, undecodableAudio, voiceNoteMimeType } from '../../../session-runner/messaging/voice-note.ts';

/**
 * Voice notes (spec §2.3 #20, `isVoice` true) with the real ffmpeg (scripts/ensure-ffmpeg.sh):
 * any audio becomes mono OGG/Opus with its duration and a waveform that follows the sound;
 * what is not audio is refused with the 400's message. Fixtures are synthesised by ffmpeg here.
 */

const run = promisify(execFile);

/** ffmpeg's own synthesiser: `expression` of `t` (seconds) for `seconds`, in the given file. */
const synthesise = async (path: string, expression: string, seconds: number, extra: string[] = []) => {
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `aevalsrc=exprs='${expression}':s=22050:d=${seconds}`, ...extra, '-y', path]);
};

/** The OGG's first page: `OggS`, then the `OpusHead` identification header (RFC 7845 §5.1). */
const opusHeadOf = (ogg: Buffer) => {
  const head = ogg.subarray(28);
  return { capture: ogg.subarray(0, 4).toString('latin1'), magic: head.subarray(0, 8).toString('latin1'), channels: head[9], inputRate: head.readUInt32LE(12) };
};

describe('convertToVoiceNote', () => {
  let directory = '';
  let mp3 = '';
  let stereoWav = '';

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'voice-note-test-'));
    mp3 = join(directory, 'tone.mp3');
    stereoWav = join(directory, 'half-silent.wav');
    await synthesise(mp3, 'sin(2*PI*440*t)', 3);
    // 2 s of silence, then 2 s of a loud tone, in stereo.
    await synthesise(stereoWav, 'if(lt(t,2),0,0.8*sin(2*PI*330*t))|if(lt(t,2),0,0.8*sin(2*PI*330*t))', 4);
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('converts an MP3 to mono OGG/Opus at 48 kHz with its duration', async () => {
    // Act
    const note = await convertToVoiceNote({ path: mp3 }, { directory });

    // Assess
    const ogg = await readFile(note.path);
    expect(note).toMatchObject({ mimeType: voiceNoteMimeType, size: ogg.length, seconds: 3 });
    expect(voiceNoteMimeType).toBe('audio/ogg; codecs=opus');
    expect(opusHeadOf(ogg)).toEqual({ capture: 'OggS', magic: 'OpusHead', channels: 1, inputRate: 48_000 });
    await note.remove();
  });

  it('gives a 64-value waveform that is flat where the audio is silent and full where it is loud', async () => {
    // Act
    const note = await convertToVoiceNote({ path: stereoWav }, { directory });

    // Assess
    expect(note.seconds).toBe(4);
    expect(opusHeadOf(await readFile(note.path)).channels).toBe(1);
    expect(note.waveform).toHaveLength(64);
    expect(note.waveform.every((value) => Number.isInteger(value) && value >= 0 && value <= 100)).toBe(true);
    expect(Math.max(...note.waveform.slice(0, 28))).toBeLessThanOrEqual(5);
    expect(Math.min(...note.waveform.slice(36))).toBeGreaterThanOrEqual(80);
    await note.remove();
  });

  it('accepts a file that already is OGG/Opus and reads the same duration from it', async () => {
    // Prepare
    const first = await convertToVoiceNote({ path: mp3 }, { directory });

    // Act
    const again = await convertToVoiceNote({ path: first.path }, { directory });

    // Assess
    expect(again.seconds).toBe(3);
    expect(opusHeadOf(await readFile(again.path)).magic).toBe('OpusHead');
    await first.remove();
    await again.remove();
  });

  it.each([
    ['bytes that are no media at all', Buffer.from('this is not audio, just some text that ffmpeg cannot read\n'.repeat(20))],
    ['a PNG image', Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')],
    ['an HLS playlist pointing at a local file', Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n')],
  ])('refuses %s with the 400 message and leaves no output behind', async (_case, bytes) => {
    // Prepare
    const path = join(directory, 'bad-input');
    await writeFile(path, bytes);
    const before = await readdir(directory);

    // Act
    const error = await convertToVoiceNote({ path }, { directory }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(MediaRejected);
    expect((error as Error).message).toBe(undecodableAudio);
    expect((await readdir(directory)).sort()).toEqual(before.sort());
  });

  it('refuses audio longer than the limit, stopping ffmpeg', async () => {
    // Act
    const error = await convertToVoiceNote({ path: mp3 }, { directory, maxSeconds: 1 }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(MediaRejected);
    expect((error as Error).message).toBe('Invalid audio: longer than 1 seconds');
  });

  it('is a server error, not a 400, when ffmpeg is missing', async () => {
    // Act
    const error = await convertToVoiceNote({ path: mp3 }, { directory, ffmpegPath: join(directory, 'no-ffmpeg-here') }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(MediaRejected);
    expect((error as Error).message).toBe('voice notes need ffmpeg, which is not installed on this runner');
  });
});

describe('AmplitudeSummary', () => {
  it('reads samples split across odd-sized chunks and still places the sound after merging its blocks', () => {
    // Prepare: 1 000 000 samples, the first half silent, the second at full scale, in odd-sized
    // chunks; at most 64 blocks, so blocks are merged many times over.
    const summary = new AmplitudeSummary(64);
    const pcm = Buffer.alloc(2_000_000);
    for (let at = 1_000_000; at < pcm.length; at += 2) pcm.writeInt16LE(at % 4 === 0 ? 32_000 : -32_000, at);

    // Act
    for (let at = 0; at < pcm.length; at += 333) summary.push(pcm.subarray(at, at + 333));

    // Assess
    const waveform = summary.waveform(4);
    expect(summary.samples).toBe(1_000_000);
    expect(waveform.slice(0, 2)).toEqual([0, 0]);
    expect(waveform[2]).toBeGreaterThanOrEqual(90);
    expect(waveform[3]).toBe(100);
  });
});
