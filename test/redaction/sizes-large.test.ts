import t from 'tap';
import { scenesAvailable } from '../support/scenes.js';
import { checkStill } from './still-scene.js';

// Generated scenes with plates and faces at least the size promised for stills: test/redaction/still-scene.ts.
const missing = scenesAvailable();
t.test('portrait 1080x1920: every plate and face hidden, little else changed', { skip: missing }, (t) => checkStill(t, 1080, 1920, false));
t.test('1440p 2560x1440: every plate and face hidden, little else changed', { skip: missing }, (t) => checkStill(t, 2560, 1440, false));
