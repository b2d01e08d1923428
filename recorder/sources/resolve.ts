import type { CameraConfig } from '../../config/schema.js';
import { readSecret } from '../../config/load.js';
import { scrubCredentials, withCredentials } from './url.js';
import type { TestCamera } from './test-camera.js';

export interface ResolvedSource {
  /** credentials included: only ever handed to the backend */
  url: string;
  /** for logs, errors and payloads */
  safeUrl: string;
  secrets: string[];
}

/** Turns a camera's configured source into the URL its backend records. */
export function resolveSource(camera: CameraConfig, configPath: string, testCameras: Map<string, TestCamera>): ResolvedSource {
  const src = camera.source;
  switch (src.type) {
    case 'rtsp': {
      const password = readSecret(src, `${configPath}.source`);
      const url = withCredentials(src.url, src.username, password);
      const inline = /^[a-z]+:\/\/[^/@]*:([^/@]*)@/i.exec(src.url)?.[1];
      return { url, safeUrl: scrubCredentials(url), secrets: [password, inline && decodeURIComponent(inline)].filter((s): s is string => !!s) };
    }
    case 'test': {
      const cam = testCameras.get(camera.id);
      if (!cam) throw new Error(`${configPath}.source: the test camera was not started`);
      return { url: cam.url, safeUrl: cam.url, secrets: [] };
    }
    case 'onvif':
      throw new Error(`${configPath}.source: ONVIF sources are not supported by this build yet; give the camera's rtsp url instead`);
  }
}
