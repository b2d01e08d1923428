import type { CameraConfig } from '../../config/schema.js';
import { readSecret } from '../../config/load.js';
import { scrubCredentials, splitCredentials, withCredentials } from '../../common/credentials.js';
import type { TestCamera } from './test-camera.js';
import { resolveOnvifStream, type ResolvedOnvifStream } from './onvif.js';

export interface ResolvedSource {
  /** credentials included: only ever handed to the backend */
  url: string;
  /** for logs, errors and payloads */
  safeUrl: string;
  secrets: string[];
  /** sources whose URL is asked for at every (re)start, e.g. ONVIF: the camera may have been
   * re-addressed or replaced since */
  resolveUrl?: () => Promise<{ url: string; safeUrl: string }>;
}

/** Turns a camera's configured source into the URL its backend records. */
export function resolveSource(
  camera: CameraConfig, configPath: string, testCameras: Map<string, TestCamera>,
  onResolved?: (r: ResolvedOnvifStream) => void,
): ResolvedSource {
  const src = camera.source;
  switch (src.type) {
    case 'rtsp': {
      const password = readSecret(src, `${configPath}.source`);
      const url = withCredentials(src.url, src.username, password);
      const inline = splitCredentials(src.url).password;
      return { url, safeUrl: scrubCredentials(url), secrets: [password, inline].filter((s): s is string => !!s) };
    }
    case 'test': {
      const cam = testCameras.get(camera.id);
      if (!cam) throw new Error(`${configPath}.source: the test camera was not started`);
      return { url: cam.url, safeUrl: cam.url, secrets: [] };
    }
    case 'onvif': {
      const password = readSecret(src, `${configPath}.source`);
      const target = { host: src.host, username: src.username, password, profile: src.profile, timeoutMs: 5000, allowedStreamHosts: src.allowed_stream_hosts };
      return {
        url: '', safeUrl: `onvif://${src.host}`, secrets: password ? [password] : [],
        resolveUrl: async () => {
          const r = await resolveOnvifStream(target);
          onResolved?.(r);
          return { url: r.url, safeUrl: r.safeUrl };
        },
      };
    }
  }
}
