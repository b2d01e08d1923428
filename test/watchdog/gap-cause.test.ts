import t from 'tap';
import { classifyExit } from '../../watchdog/gap-cause.js';

const exit = (reason: string, code: number | null = 1) => ({ camera: 'c', requested: false, reason, code, signal: null as string | null });
const live = { hadMedia: true, msSinceMedia: 200, stallMs: 5000 };
const never = { hadMedia: false, msSinceMedia: 9000, stallMs: 5000 };

t.test('what ffmpeg and GStreamer say on the way out maps to a cause', async (t) => {
  const cases: Array<[string, ReturnType<typeof exit>, Parameters<typeof classifyExit>[1], string]> = [
    ['ffmpeg exits 0 when the camera goes away', exit('ffmpeg exited with status 0: the camera closed the stream', 0), live, 'camera_unreachable'],
    ['refused', exit('ffmpeg exited with status 1: rtsp://***@10.0.0.5/x: Connection refused'), never, 'camera_unreachable'],
    ['401', exit('camera rtsp://***@h/x unauthorized (401)'), never, 'camera_unreachable'],
    ['timed out after media: a stall', exit('ffmpeg exited with status 0: rtsp://h/x: Connection timed out', 0), { ...live, msSinceMedia: 100 }, 'stalled'],
    ['timed out without media: unreachable', exit('ffmpeg exited with status 0: rtsp://h/x: Connection timed out', 0), never, 'camera_unreachable'],
    ['silent for most of the stall window', exit('gstreamer error: internal data stream error'), { ...live, msSinceMedia: 4500 }, 'stalled'],
    ['full disk', exit('ffmpeg exited with status 1: Error writing trailer: No space left on device'), live, 'disk_full'],
    ['read-only disk', exit('ffmpeg exited with status 1: Read-only file system'), live, 'disk_unwritable'],
    ['a crash on a full disk is the disk', exit('ffmpeg was killed by SIGSEGV', null), { ...live, diskFull: true }, 'disk_full'],
    ['an audio-only stream: the camera\'s settings', exit('ffmpeg exited with status 1: the camera\'s stream has no video (audio only?); set the camera, or pick a profile, that sends video'), never, 'stream_unusable'],
    ['a codec the segment format cannot hold', exit('ffmpeg exited with status 1: Could not write header for output file #0 (incorrect codec parameters ?): codec not currently supported in container'), live, 'stream_unusable'],
    ['the camera\'s timestamps went back: restarted, the camera\'s stream', exit('ffmpeg was stopped: the camera\'s timestamps went back (its stream clock was reset), which a stream copy cannot record on; restarted on a new timeline', 255), live, 'stream_unusable'],
    ['a server that answered nothing RTSP can read, never any media: not reached', exit('ffmpeg exited with status 1: rtsp://127.0.0.1:1/x: Invalid data found when processing input'), never, 'camera_unreachable'],
    ['GStreamer: the same server, never any media', exit('camera rtsp://127.0.0.1:1/x: Could not read from resource. (Could not receive message. (Parse error))'), never, 'camera_unreachable'],
    ['GStreamer: a server that took the connection, said nothing and closed it', exit('camera rtsp://h/x: Could not read from resource. (Could not receive message. (Received end-of-file))'), never, 'camera_unreachable'],
    ['a camera that answered RTSP and sent no picture to start on', exit('ffmpeg exited with status 1: Error initializing output stream 0:0 -- '), never, 'stream_unusable'],
    ['video without its parameters (no SPS)', exit('ffmpeg exited with status 1: Could not find codec parameters for stream 0 (Video: h264, none): unspecified size'), never, 'stream_unusable'],
    ['invalid data after media flowed: still the recorder', exit('ffmpeg exited with status 1: Invalid data found when processing input'), live, 'recorder_crashed'],
    ['the camera answered 503 (busy, out of sessions)', exit('ffmpeg exited with status 1: rtsp://h/x: Server returned 5XX Server Error reply'), never, 'camera_unreachable'],
    ['the camera answered 403', exit('ffmpeg exited with status 1: rtsp://h/x: Server returned 403 Forbidden (access denied)'), never, 'camera_unreachable'],
    ['the camera answered another 4xx', exit('ffmpeg exited with status 1: rtsp://h/x: Server returned 4XX Client Error, but not one of 40{0,1,3,4}'), never, 'camera_unreachable'],
    ['GStreamer: the camera answered 503', exit('gstreamer error: Could not open resource for reading and writing. (Service Unavailable (503))'), live, 'camera_unreachable'],
    // the address is not the reason: a port of 40421 or 4401, a path naming a refusal or a timeout
    ['a stall on a camera whose port holds "404"', exit('ffmpeg exited with status 0: rtsp://127.0.0.1:40421/ffmpeg: Connection timed out', 0), { ...live, msSinceMedia: 100 }, 'stalled'],
    ['a crash on a camera whose port holds "401"', exit('ffmpeg exited with status 1: rtsp://cam:4401/refused/timeout/x: Invalid data found when processing input'), live, 'recorder_crashed'],
    ['GStreamer names the location it could not read', exit("gstreamer error: Internal data stream error. (location 'rtsp://h:4040/Not Found')"), live, 'recorder_crashed'],
    ['the spawner died, and the recorder with it, after saying EOS', exit('the recorder spawner was killed by SIGKILL, and its recorders with it', null), live, 'recorder_crashed'],
    ['killed by a signal nobody sent', { ...exit('ffmpeg was killed by SIGSEGV', null), signal: 'SIGSEGV' }, live, 'recorder_crashed'],
  ];
  for (const [what, e, run, cause] of cases) t.equal(classifyExit(e, run), cause, what);
});
