import type { EventEmitter } from 'node:events';
import type { Mask, MaskEncoder } from '../capture-masks.js';

/**
 * A segment the backend has closed: the file is complete on disk in the camera's staging
 * directory and will not be written again. The segment store moves, hashes and indexes it.
 */
export interface ClosedSegment {
  camera: string;
  /** absolute path of the finished file in the staging directory */
  stagedPath: string;
  startMs: number;
  endMs: number;
  /** set by the supervisor when the wall clock stepped while the segment was open (ms, + forward) */
  clockStepMs?: number;
}

/** Why a backend stopped; anything but `requested` is a failure to be supervised. */
export interface BackendExit {
  camera: string;
  requested: boolean;
  /** a one-line reason without credentials, e.g. "ffmpeg exited with status 0" */
  reason: string;
  code?: number | null;
  signal?: string | null;
}

export interface BackendEvents {
  segment: [ClosedSegment];
  exit: [BackendExit];
  /** the recording process runs (the spawner has started it, spawner.ts; an ffmpeg recorder waits for its relay first): stall detection counts from here */
  spawned: [{ camera: string; pid?: number }];
  /** media progress: bytes or frames moved, used for stall detection */
  progress: [{ camera: string; atMs: number }];
}

export interface RecorderBackendOptions {
  camera: string;
  /** the real URL, credentials included; never log it, use `safeUrl` */
  url: string;
  /** the same URL with credentials replaced, for logs and errors */
  safeUrl: string;
  /** where the backend writes segments while they are open */
  stagingDir: string;
  segmentSeconds: number;
  /** socket/read timeout for the camera connection */
  timeoutSeconds: number;
  /**
   * Capture masks blanked before anything is written (decode, blank, encode with `encoder`).
   * Only the GStreamer backend records masked; createBackend never gives them to another.
   */
  captureMasks?: { masks: Mask[]; encoder: MaskEncoder };
}

/**
 * One recording process (or pipeline) for one camera. Started once; after `exit` it is dead
 * and a new instance is made for a restart. `stop()` finalises the open segment (it is
 * emitted as a `segment` before `exit`) and resolves once everything is reaped.
 */
export interface RecorderBackend extends EventEmitter<BackendEvents> {
  readonly name: 'ffmpeg' | 'gstreamer';
  /** wall-clock ms at which this run started; staged files carry it in their names */
  readonly runStartMs: number;
  start(): void;
  stop(deadlineMs?: number): Promise<void>;
  /** OS process id where the backend is a child process (for supervision and tests) */
  readonly pid?: number;
  /** performance.now() when the backend took its wall-clock base: its segment times are in the
   * wall clock as it was then (the supervisor moves them when the clock stepped since) */
  readonly wallAnchorMono?: number;
}
