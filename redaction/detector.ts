import type { Box, Frame } from './frame.js';

/** Every detector, built in or configured, looks like this to the pipeline. */
export interface Detector {
  /** e.g. blazeface, ppocr-det */
  readonly name: string;
  /** what the manifest records: the model's sha256 and decoding settings */
  readonly version: string;
  /** boxes in pixels of `frame`; throws on any failure (the pipeline then blanks the frame) */
  detect(frame: Frame): Promise<Box[]>;
}
