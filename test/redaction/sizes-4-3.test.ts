import t from 'tap';
import { scenesAvailable } from '../support/scenes.js';
import { checkStill } from './still-scene.js';

// Generated scenes with plates and faces at least the size promised for stills: test/redaction/still-scene.ts.
const missing = scenesAvailable();
t.test('4:3 1024x768, night: every plate and face hidden, little else changed', { skip: missing }, (t) => checkStill(t, 1024, 768, true));
t.test('portrait 4:3 768x1024, night: every plate and face hidden, little else changed', { skip: missing }, (t) => checkStill(t, 768, 1024, true));
