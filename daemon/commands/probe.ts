/**
 * `edge-nvr probe <url>`: what a camera really sends, read with ffprobe over RTSP/TCP for a few
 * seconds of packets: codec, resolution, frame rate, bitrate, keyframe interval and audio. Warns
 * when the keyframe interval is too long for the segment length (a segment can only start on a
 * keyframe). Credentials never appear in the output.
 */
import { loadConfig, readSecret } from '../../config/load.js';
import { credentialsMisplaced, scrubCredentials, splitCredentials, withCredentials } from '../../common/credentials.js';
import { frameRate, probe, type Probe, type ProbedPacket } from '../../common/media-probe.js';
import { relayUrl } from '../../recorder/sources/rtsp-relay.js';
import { EXIT, parseCommand, parseNumber, UsageError, print, printError, printJson } from '../args.js';

const spec = {
  name: 'probe',
  summary: 'Read a camera stream for a few seconds: codec, resolution, frame rate, bitrate, keyframe interval, audio. Exit 0 read, 1 unreadable.',
  usage: 'probe <rtsp-url> [--user U --password-file F] [--seconds S] [--segment-seconds S] [--config F] [--json]',
  positionals: 1,
  options: {
    user: { type: 'string' }, 'password-file': { type: 'string' }, seconds: { type: 'string' },
    'segment-seconds': { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' },
  },
  help: {
    user: 'camera username (else the one in the URL)',
    'password-file': 'file holding the camera password',
    seconds: 'how long to read packets, in seconds (default 5, at most 600)',
    'segment-seconds': 'segment length to check the keyframe interval against (default: the config camera with this URL, else 60)',
    config: 'config file to take the segment length from',
    json: 'print the result as JSON',
  },
} as const;

export interface StreamProbe {
  url: string;
  video: { codec: string; width: number; height: number; fps: number | null; keyframe_interval_s: number | null; keyframe_interval_is_lower_bound: boolean; bitrate_kbps: number | null } | null;
  audio: { codec: string; sample_rate: number | null; channels: number | null } | null;
  bitrate_kbps: number | null;
  seconds_read: number;
}

/** ffprobe over RTSP/TCP for `seconds` of packets; rejects with a one-line, credential-free reason. */
export async function probeStream(url: string, seconds = 5, timeoutS = 5): Promise<StreamProbe> {
  // ffprobe's command line is world-readable: it gets a relay URL, never the credentials
  const relayed = await relayUrl(url, { connectTimeoutMs: timeoutS * 1000 });
  let read: StreamProbe;
  try {
    read = summarise(url, await probe(relayed.url, { rtspTimeoutS: timeoutS, readSeconds: seconds, packets: true }));
  } catch (err) {
    // the relay knows what the camera did; ffprobe saw only the relay's 503 or 401
    throw new Error(relayed.upstreamError ?? `${scrubCredentials(url)}: ${(err as Error).message.replace(/^\S+: /, '')}`);
  } finally {
    relayed.close();
  }
  // ffprobe succeeds on a session description naming no stream it knows (an outside probe's
  // camera sent 1 MB of garbage as SDP, and `probe` exited 0 with "video: none, audio: none"):
  // nothing was read, and the daemon could record nothing of it (stream_unusable)
  if (!read.video && !read.audio) {
    throw new Error(`${read.url}: the camera's stream has no video and no audio (its session description, SDP, names no stream ffprobe can read); set the camera, or pick a profile, that sends video`);
  }
  return read;
}

const rate = (r?: string) => { const f = frameRate(r); return f === null ? null : Math.round(f * 100) / 100; };

export function summarise(url: string, out: Probe): StreamProbe {
  const { streams, packets } = out;
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  const time = (p: ProbedPacket) => Number(p.pts_time ?? p.dts_time);
  const times = packets.map(time).filter(Number.isFinite);
  const span = times.length > 1 ? Math.max(...times) - Math.min(...times) : 0;
  const bytes = packets.reduce((s, p) => s + Number(p.size ?? 0), 0);
  let video: StreamProbe['video'] = null;
  if (v) {
    const vp = packets.filter((p) => p.stream_index === v.index);
    const keys = vp.filter((p) => p.flags?.includes('K')).map(time).filter(Number.isFinite).sort((x, y) => x - y);
    const intervals = keys.slice(1).map((k, i) => k - keys[i]!);
    const vt = vp.map(time).filter(Number.isFinite);
    const vspan = vt.length > 1 ? Math.max(...vt) - Math.min(...vt) : 0;
    const vbytes = vp.reduce((s, p) => s + Number(p.size ?? 0), 0);
    let fps = rate(v.avg_frame_rate) ?? rate(v.r_frame_rate);
    if (vspan > 0 && vt.length > 2) fps = Math.round(((vt.length - 1) / vspan) * 100) / 100;
    video = {
      codec: v.codec_name ?? 'unknown', width: v.width ?? 0, height: v.height ?? 0, fps,
      // one keyframe seen: the interval is at least the longer stretch of video around it; none
      // seen: at least the whole stretch read (said "every ? s" with no warning, the worst case:
      // an outside probe's camera sent one keyframe in 200 s)
      keyframe_interval_s: intervals.length ? Math.round(Math.max(...intervals) * 100) / 100
        : keys.length === 1 && vspan > 0 ? Math.round(Math.max(keys[0]! - Math.min(...vt), Math.max(...vt) - keys[0]!) * 100) / 100
          : keys.length === 0 && vspan > 0 ? Math.round(vspan * 100) / 100 : null,
      keyframe_interval_is_lower_bound: intervals.length === 0,
      bitrate_kbps: vspan > 0 ? Math.round((vbytes * 8) / vspan / 1000) : null,
    };
  }
  return {
    url: scrubCredentials(url), video,
    audio: a ? { codec: a.codec_name ?? 'unknown', sample_rate: a.sample_rate ? Number(a.sample_rate) : null, channels: a.channels ?? null } : null,
    bitrate_kbps: span > 0 ? Math.round((bytes * 8) / span / 1000) : null,
    seconds_read: Math.round(span * 10) / 10,
  };
}

/** A segment starts on a keyframe: an interval over half the segment makes lengths ragged. */
export function keyframeWarning(p: StreamProbe, segmentSeconds: number): string | null {
  const k = p.video?.keyframe_interval_s;
  if (k === null || k === undefined) return null;
  if (k > segmentSeconds / 2) {
    return `keyframe interval ${k} s is too long for ${segmentSeconds} s segments (segments can only start on a keyframe); set the camera's GOP/I-frame interval to at most ${Math.max(1, Math.floor(segmentSeconds / 2))} s`;
  }
  return null;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  const raw = parsed.positionals[0];
  if (!raw || !/^rtsps?:\/\//.test(raw)) throw new UsageError('expected an rtsp:// URL');
  // never echoed: the text past the host is a password's tail
  if (credentialsMisplaced(raw)) throw new UsageError('the URL holds an @ or a space past its host, where a password holding @, /, ?, # or a space typed unencoded ends up (its head would go to another host); give it with --user and --password-file, or percent-encoded (%40 for @, %2F for /)');
  if (!URL.canParse(raw)) throw new UsageError(`${scrubCredentials(raw)} is not a valid URL (a literal IPv6 address goes in brackets: rtsp://[fe80::1]:554/path)`);
  const v = parsed.values;
  // a password without a user was dropped without a word, and the camera's 401 looked like a wrong password
  if (v['password-file'] && !v.user) throw new UsageError('--password-file needs --user (the camera\'s user name): the password goes with it');
  const password = v['password-file'] ? readSecret({ password_file: v['password-file'] }, '--password-file', 'command line') : undefined;
  const url = v.user ? withCredentials(raw, v.user, password) : raw;
  // a timer holds at most 24.8 days: past it Node fired at once and the probe "did not finish"
  // (an outside probe); ten minutes is more than any probe of a stream needs
  const seconds = parseNumber('seconds', v.seconds, { above: 0, max: 600 }) ?? 5;
  let segmentSeconds = parseNumber('segment-seconds', v['segment-seconds'], { above: 0 });
  if (segmentSeconds === undefined && v.config) {
    const config = loadConfig(v.config);
    const strip = (u: string) => splitCredentials(u).url;
    const cam = config.cameras.find((c) => c.source.type === 'rtsp' && strip(c.source.url) === strip(raw));
    segmentSeconds = cam?.record.segment_seconds ?? config.cameras[0]?.record.segment_seconds;
  }
  segmentSeconds ??= 60;
  let p: StreamProbe;
  try {
    p = await probeStream(url, seconds);
  } catch (err) {
    printError(`edge-nvr probe: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  const warning = keyframeWarning(p, segmentSeconds);
  if (v.json) {
    printJson({ ...p, segment_seconds: segmentSeconds, warnings: warning ? [warning] : [] }, 2);
  } else {
    const lines = [`stream:    ${p.url}`];
    if (p.video) {
      lines.push(`video:     ${p.video.codec} ${p.video.width}x${p.video.height} @ ${p.video.fps ?? '?'} fps, ${p.video.bitrate_kbps ?? '?'} kbit/s`);
      lines.push(`keyframes: every ${p.video.keyframe_interval_is_lower_bound && p.video.keyframe_interval_s !== null ? 'at least ' : ''}${p.video.keyframe_interval_s ?? '?'} s`);
    } else lines.push('video:     none');
    lines.push(`audio:     ${p.audio ? `${p.audio.codec}${p.audio.sample_rate ? ` ${p.audio.sample_rate} Hz` : ''}${p.audio.channels ? ` ${p.audio.channels} ch` : ''}` : 'none'}`);
    lines.push(`bitrate:   ${p.bitrate_kbps ?? '?'} kbit/s in total over ${p.seconds_read} s`);
    if (warning) lines.push(`WARNING:   ${warning}`);
    print(lines.join('\n') + '\n');
  }
  return EXIT.ok;
}
