import t from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { CameraSim } from '../support/camera-sim.js';
import { runCli } from '../support/cli.js';
import { keyframeWarning, summarise } from '../../daemon/commands/probe.js';

t.test('probe reads codec, resolution, frame rate, bitrate and keyframe interval, never credentials', async (t) => {
  const PASSWORD = 'probe-Secret-42';
  const sim = await new CameraSim({ mounts: ['cam'], user: 'viewer', password: PASSWORD, fps: 15, gop: 30, width: 640, height: 360, bitrate: 800 }).start();
  t.teardown(() => sim.kill());
  const dir = t.testdir();
  const pw = join(dir, 'pw');
  writeFileSync(pw, PASSWORD + '\n');

  const r = await runCli(['probe', sim.url('cam', false), '--user', 'viewer', '--password-file', pw, '--segment-seconds', '3', '--json']);
  t.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  t.equal(p.video.codec, 'h264');
  t.same([p.video.width, p.video.height], [640, 360], 'resolution');
  t.ok(Math.abs(p.video.fps - 15) < 1.5, `frame rate ${p.video.fps}`);
  t.ok(Math.abs(p.video.keyframe_interval_s - 2) < 0.3 && !p.video.keyframe_interval_is_lower_bound, `keyframe interval ${p.video.keyframe_interval_s} s`);
  t.ok(p.bitrate_kbps > 100, `bitrate ${p.bitrate_kbps} kbit/s`);
  t.equal(p.audio, null, 'no audio');
  t.match(p.warnings[0], /keyframe interval 2(\.\d+)? s is too long for 3 s segments/, 'warns for short segments');

  const text = await runCli(['probe', sim.url('cam'), '--segment-seconds', '10']);
  t.equal(text.code, 0);
  t.match(text.stdout, /video: +h264 640x360/);
  t.notMatch(text.stdout, /WARNING/, 'no warning when segments are long enough');
  t.notMatch(text.stdout + text.stderr + r.stdout + r.stderr, PASSWORD, 'the password is never printed');
  t.match(text.stdout, 'rtsp://***@127.0.0.1', 'the URL is shown scrubbed');

  const wrong = await runCli(['probe', sim.url('cam', false), '--seconds', '2']);
  t.equal(wrong.code, 1, 'an unreadable stream fails');
  t.match(wrong.stderr, /401|Unauthorized|authoriz/i, 'saying why');

  // nothing listening: one line naming the camera once, and why
  const closed = await runCli(['probe', 'rtsp://127.0.0.1:1/cam', '--seconds', '1']);
  t.equal(closed.code, 1, 'an unreachable camera fails');
  t.equal(closed.stderr.trim(), 'edge-nvr probe: rtsp://127.0.0.1:1/cam: Connection refused', 'the camera named once, and why');
  const bad = await runCli(['probe', 'rtsp://user:pw@[::1/cam']);
  t.equal(bad.code, 2, 'a URL that does not parse is a usage error');
  t.match(bad.stderr, /is not a valid URL/);
  t.notMatch(bad.stderr, ':pw@', 'without its password');
  // a password with an unencoded / ? # @ or space: refused, never echoed (an outside probe: "pa ss" printed whole, "pass/word" in "is not a valid URL")
  for (const pw of ['pa ss', 'pass/word', 'p?ss', 'p#ss', 'Pa@localhost/9Zq']) {
    const r = await runCli(['probe', `rtsp://admin:${pw}@127.0.0.1:1/cam`, '--seconds', '1']);
    t.equal(r.code, 2, `${pw}: a usage error`);
    t.match(r.stderr, 'the URL holds an @ or a space past its host', `${pw}: saying why`);
    for (const part of ['admin', pw]) t.notMatch(r.stdout + r.stderr, part, `${pw}: "${part}" not shown`);
  }
});

t.test('a stream with no video and no audio is unreadable: exit 1, saying so', async (t) => {
  // an RTSP server answering DESCRIBE with garbage for an SDP (an outside probe sent 1 MB of it:
  // ffprobe read no stream and succeeded, and probe printed "video: none, audio: none", exit 0),
  // after a Digest challenge, so that the relay is on the way as for any camera with credentials
  const PASSWORD = 'probe-Garbage-7';
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    let pending = '';
    s.on('data', (d) => {
      pending += String(d);
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const cseq = /CSeq: *(\d+)/i.exec(head)?.[1] ?? '1';
        if (!/Authorization:/i.test(head)) s.write(`RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Digest realm="cam", nonce="n${cseq}"\r\nContent-Length: 0\r\n\r\n`);
        else if (head.startsWith('DESCRIBE')) {
          const sdp = 'garbage '.repeat(8192);
          s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`);
        } else s.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\nContent-Length: 0\r\n\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  const port = (server.address() as { port: number }).port;
  const pw = join(t.testdir(), 'pw');
  writeFileSync(pw, PASSWORD + '\n');

  const r = await runCli(['probe', `rtsp://127.0.0.1:${port}/x`, '--user', 'admin', '--password-file', pw, '--seconds', '1']);
  t.equal(r.code, 1, 'unreadable: exit 1');
  t.equal(r.stdout, '', 'no "video: none" report');
  t.equal(r.stderr.trim(), `edge-nvr probe: rtsp://***@127.0.0.1:${port}/x: the camera's stream has no video and no audio (its session description, SDP, names no stream ffprobe can read); set the camera, or pick a profile, that sends video`, 'saying why, in one line');
  const json = await runCli(['probe', `rtsp://127.0.0.1:${port}/x`, '--user', 'admin', '--password-file', pw, '--seconds', '1', '--json']);
  t.equal(json.code, 1, 'with --json too');
  t.notMatch(r.stderr + json.stderr + json.stdout, PASSWORD, 'no password');
});

// an outside probe: --seconds 3000000 overflowed Node's timer, which fired at once ("did not
// finish within 3000020 s"); a --password-file without --user was dropped without a word
t.test('probe refuses a --seconds past its bound and a --password-file without --user, before reaching the camera', async (t) => {
  const pw = join(t.testdir(), 'pw');
  writeFileSync(pw, 'secret-password\n');
  const long = await runCli(['probe', '--seconds', '3000000', 'rtsp://127.0.0.1:1/x']);
  t.equal(long.code, 2);
  t.equal(long.stderr, 'edge-nvr probe: --seconds: expected a number above 0 and at most 600, got "3000000"\n');
  t.notMatch(long.stderr, 'TimeoutOverflowWarning');
  const alone = await runCli(['probe', '--password-file', pw, 'rtsp://127.0.0.1:1/x']);
  t.equal(alone.code, 2);
  t.match(alone.stderr, '--password-file needs --user');
});

t.test('no keyframe at all in what was read: the interval is at least that long, and the warning says so', async (t) => {
  // said "every ? s" with no warning, the worst case (an outside probe's camera sent one keyframe in 200 s)
  const packets = Array.from({ length: 150 }, (_, i) => ({ stream_index: 0, pts_time: String(100 + i / 10), size: '900', flags: '__' }));
  const p = summarise('rtsp://10.0.0.5/x', { streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 640, height: 360 }], packets });
  t.equal(p.video?.keyframe_interval_s, 14.9, 'at least the 14.9 s read');
  t.equal(p.video?.keyframe_interval_is_lower_bound, true, 'a lower bound');
  t.match(keyframeWarning(p, 10) ?? '', /keyframe interval 14\.9 s is too long for 10 s segments/, 'warned');
});
