import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraSim, type CameraSimOptions } from './camera-sim.js';
import { writeConfig } from './daemon.js';
import { Mosquitto, type MosquittoOptions } from './mosquitto.js';

export interface MqttBox {
  dir: string;
  /** the daemon's data dir (storage.path) */
  data: string;
  sim: CameraSim;
  broker: Mosquitto;
  /** the HMAC secret that signs commands (in a 0600 file the config names) */
  secret: string;
  config: string;
}

/**
 * The start of an MQTT scenario: a real camera (`cam1`), a real broker, the secret for signed
 * commands in its own file, and a config naming them, each torn down with the test. The daemon
 * is not started: scenarios start it when their platform is listening.
 * `mqtt` and `commands` are lines added under those sections, `yaml` whole sections after them.
 */
export async function mqttBox(
  t: { testdir(): string; teardown(fn: () => unknown): void },
  opts: { sim?: CameraSimOptions; mqtt?: string[]; commands?: string[]; yaml?: string[]; broker?: MosquittoOptions } = {},
): Promise<MqttBox> {
  const dir = t.testdir();
  const sim = await new CameraSim({ mounts: ['cam1'], width: 320, height: 180, fps: 10, ...opts.sim }).start();
  t.teardown(() => sim.kill());
  const broker = await new Mosquitto(join(dir, 'broker'), opts.broker).start();
  t.teardown(() => broker.stop());
  const secret = `hmac-${randomBytes(24).toString('hex')}`;
  const secretFile = join(dir, 'hmac.secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const indent = (lines: string[] | undefined, by: string) => (lines ?? []).map((l) => by + l);
  const config = writeConfig(dir, [{ id: 'cam1', url: sim.url('cam1') }], {
    extraYaml: [
      'mqtt:', `  url: ${broker.url}`, ...indent(opts.mqtt, '  '),
      '  commands:', `    hmac_secret_file: ${secretFile}`, ...indent(opts.commands, '    '),
      ...(opts.yaml ?? []),
    ].join('\n'),
  });
  return { dir, data: join(dir, 'data'), sim, broker, secret, config };
}
