import t from 'tap';
import { BlazeFace } from '../../redaction/blazeface.js';
import { lfwCrops, tmp } from './media.js';

// skimage's lfw_subset: 100 face crops and 100 non-face crops of 25x25 pixels, from LFW photos.
// The detector runs on each crop as it is, with the settings the egress gate uses.
t.test('BlazeFace finds at least 90 of the 100 LFW face crops', async (t) => {
  const crops = lfwCrops(tmp());
  const detector = await BlazeFace.create({ tile: 'auto' });
  let faces = 0, falsePositives = 0;
  for (let i = 0; i < 200; i++) {
    const found = (await detector.detect(crops[i]!)).length > 0;
    if (i < 100 && found) faces++;
    if (i >= 100 && found) falsePositives++;
  }
  t.comment(`faces found: ${faces}/100; non-face crops with a detection: ${falsePositives}/100`);
  t.ok(faces >= 90, `faces found: ${faces}/100`);
  // Over-redaction is safe but costs detail; a jump here means the decoding broke.
  t.ok(falsePositives <= 10, `non-face crops with a detection: ${falsePositives}/100`);
});
