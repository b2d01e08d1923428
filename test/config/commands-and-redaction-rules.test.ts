import t from 'tap';
import { parseConfig } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';

const BASE = 'box: { id: box1 }\ncameras:\n  - { id: cam1, source: { type: test } }\n';

function issues(text: string): string[] {
  try {
    parseConfig(text, 'inline.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

t.test('allowed_clients without the shared secret is a config error, not an open door', async (t) => {
  t.same(issues(`${BASE}mqtt: { url: 'mqtt://b:1883', commands: { allowed_clients: [platform] } }\n`), [
    'mqtt.commands.allowed_clients: set without hmac_secret_file: a client name alone proves nothing (anyone who can publish on the broker can write it); expected hmac_secret_file too (see docs/mqtt.md#commands)',
  ]);
  t.same(issues(`${BASE}mqtt: { url: 'mqtt://b:1883', commands: { allowed_clients: [platform], hmac_secret_file: /etc/edge-nvr/cmd.secret } }\n`), [], 'with the secret it is a restriction');
  t.same(issues(`${BASE}mqtt: { url: 'mqtt://b:1883', commands: { max_export_s: 0 } }\n`), ['mqtt.commands.max_export_s: expected an integer from 1 to 86400, got 0']);
  const c = parseConfig(`${BASE}mqtt: { url: 'mqtt://b:1883', commands: { hmac_secret_file: /s } }\n`, 'inline');
  t.equal(c.mqtt?.commands?.max_export_s, 3600, 'an export may cover an hour by default');
});

t.test('switching faces or plates off needs a written reason', async (t) => {
  t.same(issues(`${BASE}redaction: { faces: false }\n`), [
    'redaction.faces: false lets faces leave the box in the clear; expected true, or set redaction.faces_off_reason to record why (it is audited and written in every manifest)',
  ]);
  t.same(issues(`${BASE}redaction: { plates: false, plates_off_reason: '     ' }\n`), [
    'redaction.plates: false lets plates leave the box in the clear; expected true, or set redaction.plates_off_reason to record why (it is audited and written in every manifest)',
  ], 'a blank reason is no reason');
  const c = parseConfig(`${BASE}redaction: { plates: false, plates_off_reason: a private car park; plates are blanked by masks }\n`, 'inline');
  t.equal(c.redaction.plates, false);
  t.equal(c.redaction.faces, true, 'faces stay on');
});
