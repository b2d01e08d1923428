/**
 * An export without the config (`export --data`, a camera removed from the config) burns the
 * masks the box last ran with: privacy masks alone left capture-masked areas of footage a camera
 * did not mask in the clear (an outside probe).
 */
import t from 'tap';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { rememberedPrivacyMasks, rememberPrivacyMasks } from '../../redaction/policy-record.js';
import type { Config } from '../../config/schema.js';

t.test('the remembered masks of a camera are its privacy and its capture masks', async (t) => {
  const catalog = Catalog.open(t.testdir());
  t.teardown(() => catalog.close());
  const privacy = { x: 0, y: 0, w: 0.2, h: 0.2 };
  const capture = { points: [[1, 0], [1, 0.3], [0.7, 0]] };
  rememberPrivacyMasks(catalog, { cameras: [{ id: 'pin', privacy_masks: [privacy], capture_masks: [capture] }] } as unknown as Config);
  t.same(rememberedPrivacyMasks(catalog, 'pin'), [privacy, capture]);
  t.same(rememberedPrivacyMasks(catalog, 'other'), [], 'a camera never configured has none');
});
