import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaRejected, type PreparedMedia } from './outgoing-media.ts';

/**
 * A voice note (spec §2.3 #20, `mediaType: "audio"`, `isVoice` true by default), on the runner:
 * the downloaded or decoded file (outgoing-media.ts) → OGG/Opus, mono, 48 kHz, 32 kbit/s
 * (`audio/ogg; codecs=opus`, what WhatsApp's apps record), with its duration and a 64-value
 * waveform (0–100), both from one ffmpeg run: the first audio stream goes to the OGG file and,
 * as 8 kHz 16-bit PCM on stdout, to a running amplitude summary (never held whole in memory).
 * An input that already is OGG/Opus is converted too: the run is what yields duration and
 * waveform, and it normalises channel count and rate.
 *
 * Safety: ffmpeg is spawned without a shell, its arguments are fixed apart from the two paths,
 * which this module makes; only the `file` protocol and a list of plain audio/video container
 * demuxers are allowed, so playlists (HLS, concat) cannot make ffmpeg read other files or URLs.
 * The input is at most 100 MiB (the download cap); the run is killed after `timeoutMs` or once
 * the audio passes `maxSeconds`.
 *
 * A refusal is a `MediaRejected` whose message is the 400's (`Invalid audio: …`); ffmpeg missing
 * is a plain error (a 500: the server, not the request, is at fault).
 */

export const voiceNoteMimeType = 'audio/ogg; codecs=opus';
export const voiceNoteTimeoutMs = 120_000;
export const maxVoiceNoteSeconds = 2 * 60 * 60;
export const waveformLength = 64;

export const undecodableAudio = 'Invalid audio: could not be converted to a voice note';
export const audioTooLong = (maxSeconds: number) => `Invalid audio: longer than ${maxSeconds % 60 === 0 ? `${maxSeconds / 60} minutes` : `${maxSeconds} seconds`}`;

/** Demuxers of audio files and of videos whose sound may be sent (ffmpeg's names). */
const allowedFormats = [
  'ogg', 'mp3', 'wav', 'w64', 'flac', 'aac', 'mov', 'matroska', 'webm', 'amr', 'amrnb', 'amrwb', 'aiff', 'caf',
  'asf', 'au', 'avi', 'mpeg', 'mpegts', 'flv', 'wv', 'ape', 'ac3', 'eac3', 'dts', 'mpc', 'mpc8', 'tta', 'loas',
].join(',');

/** PCM rate of the analysis output: enough for a speech envelope, 16 KB per second of audio. */
const analysisRate = 8_000;

export interface VoiceNote extends PreparedMedia {
  /** Whole seconds, at least 1. */
  seconds: number;
  /** `waveformLength` values 0–100 (peak-normalised mean amplitude). */
  waveform: number[];
}

export interface VoiceNoteOptions {
  /** Where the OGG file is written (default: the OS temp directory). */
  directory?: string;
  timeoutMs?: number;
  maxSeconds?: number;
  /** The ffmpeg executable (default: `ffmpeg` on the PATH). */
  ffmpegPath?: string;
}

/**
 * Mean absolute amplitude per time block, in bounded memory: blocks double in length (merging
 * pairs) whenever there are too many, so hours of audio keep at most `maxBlocks` numbers.
 */
export class AmplitudeSummary {
  private blockSamples = 80;
  private readonly sums: number[] = [];
  private current = 0;
  private inCurrent = 0;
  private carry: number | null = null;
  samples = 0;

  constructor(private readonly maxBlocks = 8_192) {}

  /** Signed 16-bit little-endian PCM; a chunk may end in the middle of a sample. */
  push(chunk: Buffer): void {
    let at = 0;
    if (this.carry !== null && chunk.length > 0) {
      this.add(Math.abs(Buffer.from([this.carry, chunk[0] as number]).readInt16LE(0)));
      this.carry = null;
      at = 1;
    }
    for (; at + 1 < chunk.length; at += 2) this.add(Math.abs(chunk.readInt16LE(at)));
    if (at < chunk.length) this.carry = chunk[at] as number;
  }

  private add(amplitude: number): void {
    this.samples++;
    this.current += amplitude;
    if (++this.inCurrent < this.blockSamples) return;
    this.sums.push(this.current);
    this.current = 0;
    this.inCurrent = 0;
    if (this.sums.length >= this.maxBlocks) {
      for (let i = 0; i < this.sums.length / 2; i++) this.sums[i] = (this.sums[2 * i] ?? 0) + (this.sums[2 * i + 1] ?? 0);
      this.sums.length = Math.floor(this.sums.length / 2);
      this.blockSamples *= 2;
    }
  }

  /** `length` values 0–100: each the mean amplitude of its share of the audio, the loudest being 100. */
  waveform(length = waveformLength): number[] {
    const blocks = [...this.sums.map((sum) => ({ sum, count: this.blockSamples }))];
    if (this.inCurrent > 0) blocks.push({ sum: this.current, count: this.inCurrent });
    if (blocks.length === 0) return new Array<number>(length).fill(0);
    const means = Array.from({ length }, (_, i) => {
      const from = Math.floor((i * blocks.length) / length);
      const to = Math.max(from + 1, Math.floor(((i + 1) * blocks.length) / length));
      let sum = 0;
      let count = 0;
      for (const block of blocks.slice(from, to)) {
        sum += block.sum;
        count += block.count;
      }
      return count === 0 ? 0 : sum / count;
    });
    const loudest = Math.max(...means);
    return means.map((mean) => (loudest === 0 ? 0 : Math.round((100 * mean) / loudest)));
  }
}

const argumentsFor = (input: string, output: string): string[] => [
  '-hide_banner',
  '-nostdin',
  '-loglevel', 'error',
  '-protocol_whitelist', 'file',
  '-format_whitelist', allowedFormats,
  '-i', input,
  // The voice note.
  '-map', '0:a:0', '-map_metadata', '-1', '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg', '-y', output,
  // The same sound for the duration and the waveform.
  '-map', '0:a:0', '-ac', '1', '-ar', String(analysisRate), '-f', 's16le', 'pipe:1',
];

/** The input file as an OGG/Opus voice note in a new temporary file; the caller removes both. */
export const convertToVoiceNote = async (input: Pick<PreparedMedia, 'path'>, options: VoiceNoteOptions = {}): Promise<VoiceNote> => {
  const path = join(options.directory ?? tmpdir(), `zapfleet-voice-${randomBytes(12).toString('hex')}.ogg`);
  const remove = () => rm(path, { force: true });
  const maxSeconds = options.maxSeconds ?? maxVoiceNoteSeconds;
  const maxSamples = maxSeconds * analysisRate;
  const summary = new AmplitudeSummary();
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(options.ffmpegPath ?? 'ffmpeg', argumentsFor(input.path, path), { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
      let stopped: MediaRejected | null = null;
      const stop = (rejection: MediaRejected) => {
        stopped ??= rejection;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => stop(new MediaRejected('Invalid audio: conversion timed out')), options.timeoutMs ?? voiceNoteTimeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        summary.push(chunk);
        if (summary.samples > maxSamples) stop(new MediaRejected(audioTooLong(maxSeconds)));
      });
      // ffmpeg's own words are not shown to the caller; read them so the pipe never fills.
      child.stderr.resume();
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === 'ENOENT' ? new Error('voice notes need ffmpeg, which is not installed on this runner') : error);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        if (stopped) reject(stopped);
        else if (code !== 0) reject(new MediaRejected(undecodableAudio));
        else resolve();
      });
    });
    if (summary.samples === 0) throw new MediaRejected(undecodableAudio);
    const { size } = await stat(path);
    return {
      path,
      size,
      mimeType: voiceNoteMimeType,
      seconds: Math.max(1, Math.round(summary.samples / analysisRate)),
      waveform: summary.waveform(),
      remove,
    };
  } catch (error) {
    await remove();
    throw error;
  }
};
