import { OnvifResponder, type OnvifResponderOptions } from './onvif-responder.js';

/** An ONVIF camera on loopback (HTTP and WS-Discovery on 127.0.0.1 only) for one test. */
export async function startOnvifCamera(t: { teardown(fn: () => unknown): void }, opts: OnvifResponderOptions): Promise<OnvifResponder> {
  const r = await new OnvifResponder({ host: '127.0.0.1', discoveryPort: 0, ...opts }).start();
  t.teardown(() => r.stop());
  return r;
}

/** box, storage and watchdog sections for a test config, to which a cameras: snippet is appended */
export function configHead(dataDir: string, extra: string[] = []): string {
  return [
    'box:', '  id: test-box',
    'storage:', `  path: ${dataDir}`, '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 0.001', '    below_legal_minimum_reason: test bench',
    'log:', '  level: debug',
    'watchdog:', '  backoff_s: [0.5, 1]',
    ...extra,
  ].join('\n') + '\n';
}
