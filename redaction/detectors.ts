import type { Config } from '../config/schema.js';
import { BlazeFace } from './blazeface.js';
import type { Detector } from './detector.js';
import { OnnxDetector } from './onnx-detector.js';
import { TextDetector } from './text-detector.js';

/** Which detectors an egress job runs: the built-in ones switched on, and the configured ONNX ones (plain data: it crosses to the detection thread). */
export interface DetectorChoice {
  faces: boolean;
  plates: boolean;
  custom: Config['redaction']['detectors'];
}

export function detectorChoice(config?: Config): DetectorChoice {
  return { faces: config?.redaction.faces ?? true, plates: config?.redaction.plates ?? true, custom: config?.redaction.detectors ?? [] };
}

/** The chosen detectors, their models checked against their pins; `threads`: onnxruntime intra-op threads per session. */
export async function loadDetectors(choice: DetectorChoice, threads?: number): Promise<Detector[]> {
  return [
    ...(choice.faces ? [await BlazeFace.create({ tile: 'auto', threads })] : []),
    ...(choice.plates ? [await TextDetector.create({ threads })] : []),
    ...(await Promise.all(choice.custom.map((d, i) => OnnxDetector.create(d, `redaction.detectors[${i}]`, threads)))),
  ];
}

/** Detectors are loaded once per process (per thread): a session costs 50-200 ms. */
let shared: Promise<Detector[]> | undefined;
let sharedKey = '';
export function configuredDetectors(config?: Config): Promise<Detector[]> {
  const choice = detectorChoice(config);
  const key = JSON.stringify(choice);
  if (!shared || key !== sharedKey) {
    sharedKey = key;
    shared = loadDetectors(choice);
    shared.catch(() => { shared = undefined; });
  }
  return shared;
}
