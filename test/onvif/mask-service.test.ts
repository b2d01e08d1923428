import t from 'tap';
import { CameraMaskService, cameraHolds, fromOnvifPoint, missingMasks, pushMasks, toOnvifPoint } from '../../recorder/sources/onvif-masks.js';
import { startOnvifCamera } from '../support/onvif.js';

t.test('ONVIF normalized coordinates: y up, -1 to 1; the config: fractions, y down', async (t) => {
  t.same(toOnvifPoint([0, 0]), [-1, 1], 'top left');
  t.same(toOnvifPoint([1, 1]), [1, -1], 'bottom right');
  t.same(fromOnvifPoint(toOnvifPoint([0.3, 0.7])), [0.3, 0.7], 'and back');
});

t.test('a mask counts as held when an enabled solid-colour mask has its corners, from any corner, either way round', async (t) => {
  const rect = { x: 0.1, y: 0.2, w: 0.3, h: 0.4 };
  const held = (points: Array<[number, number]>, type = 'Color', enabled = true) => cameraHolds(rect, [{ token: 'm', configurationToken: 'v', points, type, enabled }]);
  t.ok(held([[0.4, 0.2], [0.4, 0.6], [0.1, 0.6], [0.1, 0.2]]), 'starting at another corner');
  t.ok(held([[0.1, 0.2], [0.1, 0.6], [0.4, 0.6], [0.4, 0.2]]), 'counter-clockwise');
  t.ok(held([[0.105, 0.2], [0.4, 0.195], [0.4, 0.6], [0.1, 0.6]]), 'rounded by the camera to its grid');
  t.notOk(held([[0.1, 0.2], [0.4, 0.2], [0.4, 0.5], [0.1, 0.5]]), 'smaller');
  t.notOk(held([[0.1, 0.2], [0.4, 0.2], [0.4, 0.6], [0.1, 0.6]], 'Blurred'), 'blurred is not blank');
  t.notOk(held([[0.1, 0.2], [0.4, 0.2], [0.4, 0.6], [0.1, 0.6]], 'Color', false), 'disabled');
});

t.test('pushing masks to a camera: created with its credentials, read back; refused when its options cannot hold them', async (t) => {
  const cam = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x', media2: true, maxMasks: 3 });
  const target = { host: cam.address, username: 'admin', password: 'pw' };
  const svc = await CameraMaskService.open(target);
  const wanted = [{ x: 0.1, y: 0.1, w: 0.2, h: 0.2 }, { points: [[0.5, 0], [1, 0], [1, 0.5]] }];
  t.same(await pushMasks(svc, wanted), { created: 2 });
  t.same(await pushMasks(svc, wanted), { created: 0 }, 'a second push finds them there');
  t.equal(cam.masks.size, 2);
  cam.reboot();
  t.equal(missingMasks(wanted, await svc.masks()).length, 2, 'after a reboot the camera holds none');
  await t.rejects(pushMasks(svc, [...wanted, { x: 0.6, y: 0.6, w: 0.1, h: 0.1 }, { x: 0.8, y: 0.8, w: 0.1, h: 0.1 }]), /holds at most 3 masks/, 'more masks than it takes');
  t.equal(cam.masks.size, 0, 'nothing created when they would not all fit');
  await t.rejects(CameraMaskService.open({ ...target, password: 'wrong' }), /authentication failed/, 'wrong password: a clear error');

  const rect = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x', media2: true, rectangleOnly: true });
  await t.rejects(pushMasks(await CameraMaskService.open({ ...target, host: rect.address }), wanted), /rectangles only/, 'a polygon on a camera that takes rectangles only');
  const old = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x' });
  await t.rejects(CameraMaskService.open({ ...target, host: old.address }), /no Media2 service/, 'a camera without Media2');
});
