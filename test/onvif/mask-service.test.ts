import t from 'tap';
import { CameraMaskService, MASK_MARGIN, cameraHolds, fromOnvifPoint, missingMasks, pushMasks, toOnvifPoint } from '../../recorder/sources/onvif-masks.js';
import { startOnvifCamera } from '../support/onvif.js';

t.test('ONVIF normalized coordinates: y up, -1 to 1; the config: fractions, y down', async (t) => {
  t.same(toOnvifPoint([0, 0]), [-1, 1], 'top left');
  t.same(toOnvifPoint([1, 1]), [1, -1], 'bottom right');
  t.same(fromOnvifPoint(toOnvifPoint([0.3, 0.7])), [0.3, 0.7], 'and back');
});

t.test('a mask counts as held when enabled solid-colour masks cover all of it: any corner order, rounded outward, not inward', async (t) => {
  const rect = { x: 0.1, y: 0.2, w: 0.3, h: 0.4 };
  const mask = (points: Array<[number, number]>, type = 'Color', enabled = true) => ({ token: 'm', configurationToken: 'v', points, type, enabled });
  const held = (points: Array<[number, number]>, type = 'Color', enabled = true) => cameraHolds(rect, [mask(points, type, enabled)]);
  // what the box sends: the mask grown by MASK_MARGIN, then rounded by the camera to a grid of 0.005
  t.ok(held([[0.405, 0.195], [0.405, 0.605], [0.095, 0.605], [0.095, 0.195]]), 'grown, starting at another corner');
  t.ok(held([[0.095, 0.195], [0.095, 0.605], [0.405, 0.605], [0.405, 0.195]]), 'grown, counter-clockwise');
  t.notOk(held([[0.105, 0.2], [0.4, 0.195], [0.4, 0.6], [0.1, 0.6]]), 'one corner rounded inward by half a percent: a strip of the area shows');
  t.notOk(held([[0.1, 0.2], [0.4, 0.2], [0.4, 0.5], [0.1, 0.5]]), 'smaller');
  t.notOk(held([[0.09, 0.19], [0.41, 0.19], [0.41, 0.61], [0.09, 0.61]], 'Blurred'), 'blurred is not blank');
  t.notOk(held([[0.09, 0.19], [0.41, 0.19], [0.41, 0.61], [0.09, 0.61]], 'Color', false), 'disabled');
  t.ok(cameraHolds(rect, [mask([[0.09, 0.19], [0.26, 0.19], [0.26, 0.61], [0.09, 0.61]]), mask([[0.25, 0.19], [0.41, 0.19], [0.41, 0.61], [0.25, 0.61]])]),
    'two masks that cover it together');
  t.notOk(cameraHolds(rect, [mask([[0.09, 0.19], [0.24, 0.19], [0.24, 0.61], [0.09, 0.61]]), mask([[0.25, 0.19], [0.41, 0.19], [0.41, 0.61], [0.25, 0.61]])]),
    'two masks with a gap between them');
  t.ok(cameraHolds(rect, [mask([[0, 0], [1, 0], [1, 1], [0, 1]])]), 'a mask over the whole picture');
});

t.test('what the box creates reaches MASK_MARGIN beyond each configured mask, so a camera that rounds it inward still covers it', async (t) => {
  const cam = await startOnvifCamera(t, { username: 'admin', password: 'pw', streamUri: 'rtsp://127.0.0.1:1/x', media2: true });
  const svc = await CameraMaskService.open({ host: cam.address, username: 'admin', password: 'pw' });
  // an L (one inward corner), a triangle on the frame's edge, a rectangle
  const wanted = [{ points: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.5, 0.3], [0.5, 0.5], [0.1, 0.5]] }, { points: [[0.5, 0], [1, 0], [1, 0.5]] }, { x: 0.6, y: 0.6, w: 0.2, h: 0.3 }];
  t.same(await pushMasks(svc, wanted), { created: 3 });
  const onCamera = await svc.masks();
  t.ok(onCamera.every((c) => c.points.every(([x, y]) => x >= 0 && x <= 1 && y >= 0 && y <= 1)), 'every corner within the frame');
  // the camera rounds every corner MASK_MARGIN / 2 toward the middle of the frame (the frame's own edges stay)
  const inward = (v: number, by: number) => (v === 0 || v === 1 ? v : v + Math.sign(0.5 - v) * by);
  const rounded = onCamera.map((c) => ({ ...c, points: c.points.map(([x, y]) => [inward(x, MASK_MARGIN / 2), inward(y, MASK_MARGIN / 2)] as [number, number]) }));
  t.same(missingMasks(wanted, rounded), [], 'held after rounding');
  const exact = wanted.map((w, i) => ({ token: `e${i}`, configurationToken: 'v', points: ('points' in w ? w.points : [[w.x, w.y], [w.x + w.w, w.y], [w.x + w.w, w.y + w.h], [w.x, w.y + w.h]]) as Array<[number, number]>, type: 'Color', enabled: true }));
  // each corner 0.2 % toward the mask's own middle
  const shrunk = exact.map((c) => {
    const mx = c.points.reduce((a, p) => a + p[0], 0) / c.points.length, my = c.points.reduce((a, p) => a + p[1], 0) / c.points.length;
    return { ...c, points: c.points.map(([x, y]) => [x + Math.sign(mx - x) * 0.002, y + Math.sign(my - y) * 0.002] as [number, number]) };
  });
  t.equal(missingMasks(wanted, shrunk).length, 3, 'the configured corners moved inward by 0.2 % are not held');
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
