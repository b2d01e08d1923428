import type { Box, Frame } from './frame.js';
import type { RegionCache } from './region-cache.js';

/** How a detector is asked to look at one frame. */
export interface DetectOptions {
  /**
   * A still image (snapshot, photo): the finest level the detector has, whatever it costs, so
   * the smaller promise for stills holds (docs/redaction.md, "What is hidden").
   */
  still?: boolean;
  /** look only where an input overlaps one of these boxes (the second look after hiding) */
  near?: Box[];
  /** reuse the boxes of inputs whose pixels did not change since they were last looked at (video of a fixed camera) */
  cache?: RegionCache;
}

/** Every detector, built in or configured, looks like this to the pipeline. */
export interface Detector {
  /** e.g. blazeface, ppocr-det */
  readonly name: string;
  /** what the manifest records: the model's sha256 and decoding settings */
  readonly version: string;
  /** boxes in pixels of `frame`; throws on any failure (the pipeline then blanks the frame) */
  detect(frame: Frame, options?: DetectOptions): Promise<Box[]>;
}

/** Inputs to look at under `options`: those overlapping `near` when it is given. */
export function inputsNear<T extends { region: { x: number; y: number; w: number; h: number } }>(inputs: T[], near?: Box[]): T[] {
  if (!near) return inputs;
  return inputs.filter(({ region: r }) => near.some((b) => b.x < r.x + r.w && b.x + b.w > r.x && b.y < r.y + r.h && b.y + b.h > r.y));
}
