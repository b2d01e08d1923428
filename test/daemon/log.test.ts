import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, registerSecret } from '../../daemon/log.js';

function capture(isTTY: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return { stream, text: () => text };
}

t.test('on a terminal the log is readable lines; elsewhere JSON lines; both scrubbed', async (t) => {
  delete process.env.EDGE_NVR_LOG_FORMAT;
  registerSecret('hunter2-secret');
  const tty = capture(true);
  createLogger('info', tty.stream).warn({ camera: 'door', url: 'rtsp://admin:hunter2-secret@10.0.0.5/live', reload: { added: ['a', 'b'], ok: true } }, 'recorder stopped');
  const line = tty.text();
  t.match(line, /^\d\d:\d\d:\d\d {2}.*WARN .*recorder stopped .*camera.*=door/, 'time, level, message, fields');
  t.match(line, /reload\.added.*=a,b/, 'nested fields flattened, lists joined');
  t.notMatch(line, /^\{/, 'no JSON for a person');
  t.notMatch(line, /hunter2-secret/, 'the camera password is scrubbed');

  const pipe = capture(false);
  createLogger('info', pipe.stream).info({ password: 'swordfish', camera: 'door' }, 'hello');
  const rec = JSON.parse(pipe.text()) as Record<string, unknown>;
  t.match(rec, { msg: 'hello', camera: 'door', password: '***', level: 30 }, 'JSON lines for journald, secrets masked');

  const forced = capture(false);
  createLogger('info', forced.stream, 'pretty').info('x');
  t.match(forced.text(), /INFO +x/, 'log.format: pretty forces lines');
  process.env.EDGE_NVR_LOG_FORMAT = 'json';
  const env = capture(true);
  createLogger('info', env.stream).info('y');
  t.match(env.text(), /^\{"level":30/, 'EDGE_NVR_LOG_FORMAT=json overrides a terminal');
  delete process.env.EDGE_NVR_LOG_FORMAT;
});

t.test('on a terminal, what a camera wrote cannot recolour it or forge a line', async (t) => {
  const out = capture(false);
  const evil = '\x1b[2J\x1b[31mred\n12:00:00  INFO   forged\x9b1m';
  createLogger('info', out.stream, 'pretty').warn({ reason: evil, list: [evil], err: new Error(evil) }, `camera said ${evil}`);
  const text = out.text();
  t.equal(text.split('\n').length, 2, `one line: ${JSON.stringify(text)}`);
  t.same([...text.slice(0, -1)].filter((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)), [], 'no control character');
  t.match(text, 'camera said \\x1b[2J\\x1b[31mred\\x0a12:00:00', 'the message, escaped');
});
