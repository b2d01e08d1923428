import t from 'tap';
import { EventEmitter } from 'node:events';
import type { FrameSampler, SampledFrame } from '../../recorder/frame-sampler.js';
import { CameraMaskService, pushMasks } from '../../recorder/sources/onvif-masks.js';
import { CameraMaskWatch, type MaskLoss } from '../../watchdog/camera-mask-watch.js';
import { until } from '../support/daemon.js';
import { startOnvifCamera } from '../support/onvif.js';

const MASKS = [{ x: 0.5, y: 0, w: 0.5, h: 0.5 }];
const W = 160, H = 120;

/** noise everywhere, black under the mask when `masked` */
function picture(masked: boolean): SampledFrame {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = masked && x >= W / 2 && y < H / 2 ? 0 : Math.floor(Math.random() * 256);
      data.fill(v, (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  }
  return { camera: 'c', atMs: Date.now(), width: W, height: H, data };
}

t.test('sampled pictures: blank under the masks passes; detail under them on two pictures running is a loss; a flat picture proves nothing', async (t) => {
  const frames = new EventEmitter() as unknown as FrameSampler;
  const losses: MaskLoss[] = [];
  const watch = new CameraMaskWatch('c', { masks: MASKS, checkMs: 60_000, sampler: frames, onLost: (l) => losses.push(l) }).start();
  t.teardown(() => watch.stop());
  frames.emit('frame', picture(true));
  frames.emit('frame', picture(false));
  t.equal(losses.length, 0, 'one picture with detail is not yet a loss');
  t.equal(frames.hurry, true, 'the sampler is asked for the next keyframe to confirm');
  frames.emit('frame', picture(true));
  t.equal(frames.hurry, false, 'not confirmed: the sampler goes back to its pace');
  const flat = picture(false);
  flat.data.fill(40);
  frames.emit('frame', flat);
  frames.emit('frame', flat);
  t.equal(losses.length, 0, 'a flat picture (night, a covered lens) is no evidence');
  frames.emit('frame', picture(false));
  frames.emit('frame', picture(false));
  t.match(losses, [{ detectedBy: 'frame', reason: /detail under capture mask #1/ }], 'two pictures running with detail under the mask: lost, once');
  frames.emit('frame', picture(false));
  t.equal(losses.length, 1, 'reported once');
});

t.test('read back from the camera: masks gone is a loss at the next check; a camera that stops answering is one after two checks', async (t) => {
  const cam = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x', media2: true });
  const svc = await CameraMaskService.open({ host: cam.address, username: 'admin', password: 'pw' });
  await pushMasks(svc, MASKS);
  const losses: MaskLoss[] = [];
  const watch = new CameraMaskWatch('c', { masks: MASKS, service: svc, checkMs: 200, onLost: (l) => losses.push(l) }).start();
  t.teardown(() => watch.stop());
  t.equal(await watch.check(), null, 'held: nothing wrong');
  const before = Date.now();
  cam.reboot();
  await until(() => losses.length > 0, 5000, 'the loss');
  t.match(losses, [{ detectedBy: 'read_back', reason: /no longer holds 1 of its 1/ }]);
  t.ok(losses[0]!.verifiedMs <= before, 'it names the last time they were read back intact');

  await pushMasks(svc, MASKS);
  const silent: MaskLoss[] = [];
  const watch2 = new CameraMaskWatch('c', { masks: MASKS, service: svc, checkMs: 200, onLost: (l) => silent.push(l) }).start();
  t.teardown(() => watch2.stop());
  await cam.stop();
  await until(() => silent.length > 0, 5000, 'the loss of an unreachable camera');
  t.match(silent, [{ detectedBy: 'unreadable', reason: /cannot be read back/ }], 'unreadable twice: lost');
});

t.test('a camera that lists its masks while its picture shows the area: the loss dates from the last picture seen blank, not the last read-back', async (t) => {
  const cam = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x', media2: true });
  const svc = await CameraMaskService.open({ host: cam.address, username: 'admin', password: 'pw' });
  await pushMasks(svc, MASKS);
  const frames = new EventEmitter() as unknown as FrameSampler;
  const losses: MaskLoss[] = [];
  const watch = new CameraMaskWatch('c', { masks: MASKS, service: svc, checkMs: 50, sampler: frames, onLost: (l) => losses.push(l) }).start();
  t.teardown(() => watch.stop());
  const blank = picture(true);
  frames.emit('frame', blank);
  const flat = picture(false);
  flat.data.fill(40);
  await until(() => watch.verifiedMs > blank.atMs + 100, 5000, 'read-backs after the last blank picture');
  frames.emit('frame', { ...flat, atMs: Date.now() });
  frames.emit('frame', picture(false));
  frames.emit('frame', picture(false));
  t.match(losses, [{ detectedBy: 'frame' }], 'detail under the mask on two pictures: lost');
  t.equal(losses[0]!.verifiedMs, blank.atMs, 'unverified since the last picture that showed the mask blank (a flat one proves nothing), though every read-back passed');
});
