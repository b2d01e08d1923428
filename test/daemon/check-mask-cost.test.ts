import t from 'tap';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { captureMasksEnforced } from '../../daemon/commands/check.js';
import { maskedCores } from '../../recorder/capture-masks.js';
import { configHead } from '../support/onvif.js';

/** `n` synthetic cameras (1080p30 unless said) with capture masks enforced on the box */
function config(dir: string, n: number, picture = 'width: 1920, height: 1080, fps: 30'): string {
  const path = join(dir, `config-${n}-${picture.length}.yaml`);
  writeFileSync(path, configHead(join(dir, 'data')) + 'cameras:\n' + Array.from({ length: n }, (_, i) => [
    `  - id: cam${i}`, `    source: { type: test, ${picture} }`,
    '    capture_masks: [{ x: 0.1, y: 0.1, w: 0.2, h: 0.2 }]', '    capture_masks_on: box',
  ].join('\n')).join('\n') + '\n');
  return path;
}

t.test('check warns when the cameras masked on the box need more CPU than the box has, and not before', async (t) => {
  const dir = t.testdir();
  const perCamera = maskedCores(1920, 1080, 30);
  t.ok(perCamera > 0.5 && perCamera < 0.7, `a 1080p30 camera masked with x264: about ${perCamera.toFixed(2)} cores (the measured rate)`);
  const small = config(dir, 1, 'width: 1280, height: 720, fps: 15');
  const fits = await captureMasksEnforced({ config: loadConfig(small), configPath: small });
  t.match(fits, { ok: true, detail: /cam0: enforced on the box/ }, 'one 720p15 camera fits');
  t.notOk(fits.warn, 'no warning');
  const many = Math.ceil((availableParallelism() * 0.75) / perCamera) + 1;
  const path = config(dir, many);
  const tooMany = await captureMasksEnforced({ config: loadConfig(path), configPath: path });
  t.match(tooMany, { ok: true, warn: true, detail: new RegExp(`the cameras masked on the box need about ${(many * perCamera).toFixed(1)} cores of x264 .* this box's ${availableParallelism()}: .*capture_masks_on: camera`) },
    `${many} cameras on ${availableParallelism()} cores: a warning saying what they need and what to do`);
});
