import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { scrubCredentials } from '../../common/credentials.js';
import { ClockSteps } from '../../common/clock-steps.js';
import { relayUrl, type RelayedUrl } from '../sources/rtsp-relay.js';
import type { BackendEvents, RecorderBackend, RecorderBackendOptions } from './backend.js';
import { withParentDeathSignal } from './orphans.js';
import { killGroup, readLines, waitForExit, watchChildEnd } from './process-group.js';
import { spawnRecorder, type SpawnedChild } from './spawner.js';
import { fileWriteTimes, WriteClock } from './write-clock.js';

/** The ffmpeg command line; exported so benchmarks record exactly what the daemon records. */
export function ffmpegArgs(opts: RecorderBackendOptions, runStartMs: number): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    // Without both, a stalled camera hangs ffmpeg forever and a dead host takes minutes.
    '-rtsp_transport', 'tcp', '-timeout', String(opts.timeoutSeconds * 1_000_000),
    // Without it ffmpeg counts frames to guess the frame rate (about 20 of them: 2 s at 10 fps)
    // before writing anything, then writes what it held in one burst; the camera's stream
    // already says its rate, and a stream copy needs none.
    '-fpsprobesize', '0',
    '-i', opts.url,
    // Video only: cameras' G.711 audio does not fit MP4 without transcoding, and recording
    // conversations in public places is itself restricted in many jurisdictions.
    '-map', '0:v:0', '-c', 'copy',
    '-f', 'segment', '-segment_time', String(opts.segmentSeconds), '-reset_timestamps', '1',
    '-segment_format', 'mp4',
    // Fragmented: a kill or power cut leaves the file playable up to its last fragment. The
    // inner MP4 muxer needs its own flush_packets: the outer -flush_packets reaches only the
    // segment muxer, and without it each segment reaches the disk in one piece when it closes.
    '-segment_format_options', 'movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1',
    '-flush_packets', '1',
    // Each closed segment is reported here as "name,start,end"; no directory polling.
    '-segment_list', 'pipe:1', '-segment_list_type', 'csv',
    '-progress', 'pipe:3', '-stats_period', '1',
    join(opts.stagingDir, `${runStartMs}-%06d.mp4`),
  ];
}

/** How far a just-closed segment's modification time may be from now to be used (see onSegmentLine). */
const FILE_TIME_TRUST_MS = 5000;

/** ffmpeg's word that a packet's time went back (it then changes that packet's time). */
const TIMESTAMP_WENT_BACK = /Non-monotonous DTS|non monotonically increasing dts/i;
/** ffmpeg's warnings about one packet's times: never why a recorder ended */
const PACKET_WARNING = new RegExp(`${TIMESTAMP_WENT_BACK.source}|Timestamps are unset in a packet|Last message repeated`, 'i');

/**
 * One ffmpeg process recording one camera by stream copy. It runs in its own process group so
 * that stopping it never leaves a child behind, and any exit it was not asked for is reported
 * as a failure: ffmpeg exits 0, silently, when a camera goes away.
 */
export class FfmpegBackend extends EventEmitter<BackendEvents> implements RecorderBackend {
  readonly name = 'ffmpeg' as const;
  runStartMs = 0;
  private proc?: SpawnedChild;
  private stopRequested = false;
  private exited?: Promise<void>;
  /** media time -> wall clock, from when ffmpeg wrote the segment files (see WriteClock) */
  private clock = new WriteClock();
  /** closed segments waiting for a time that ffmpeg wrote in real time */
  private readonly pending: Array<{ name: string; startS: number; endS: number }> = [];
  private realTimeSeen = false;
  /**
   * When the wall clock the WriteClock's observations are in was read (monotonic ms): the camera
   * supervisor moves segments by any step of the wall clock after it (followClockSteps).
   */
  wallAnchorMono?: number;
  /** the wall clock against the monotonic one between segment lines: a second's difference is a step */
  private readonly wallSteps = new ClockSteps(1000);
  private stderrTail: string[] = [];
  /** what ffmpeg is given instead of a URL with credentials (see rtsp-relay.ts) */
  private relayed?: RelayedUrl;
  private launched?: Promise<void>;
  private lastOutUs = 0;
  private blockOutUs = 0;
  /** when ffmpeg last said it rewrote a timestamp that went back (see onStderr) */
  private timestampsBack: number[] = [];
  private timestampsWentBack = false;

  constructor(private readonly opts: RecorderBackendOptions, private readonly log?: Logger, private readonly binary = 'ffmpeg') {
    super();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    if (this.launched) throw new Error('an ffmpeg backend is started once');
    mkdirSync(this.opts.stagingDir, { recursive: true });
    this.runStartMs = Date.now();
    // ffmpeg's command line is world-readable (/proc/<pid>/cmdline): it never holds credentials
    this.launched = relayUrl(this.opts.url, { connectTimeoutMs: this.opts.timeoutSeconds * 1000 }).then((relayed) => {
      this.relayed = relayed;
      if (this.stopRequested) {
        relayed.close();
        this.emit('exit', { camera: this.opts.camera, requested: true, reason: 'stopped before ffmpeg started', code: null, signal: null });
      } else this.spawn(relayed.url);
    }, (err: Error) => {
      this.emit('exit', { camera: this.opts.camera, requested: this.stopRequested, reason: `cannot relay the camera's stream: ${err.message}`, code: null, signal: null });
    }).then(() => this.proc?.started); // stop() signals a child whose pid is known
  }

  private spawn(url: string): void {
    const [command, args] = withParentDeathSignal(this.binary, ffmpegArgs({ ...this.opts, url }, this.runStartMs));
    // through the spawner (spawner.ts): the event loop does not wait for the fork and exec
    const proc = spawnRecorder(command, args, ['null', 'socket', 'socket', 'socket']);
    this.proc = proc;
    // stdout, stderr, progress: the exit is reported once all three are read
    const { exited, streamClosed } = watchChildEnd(proc, 3, ({ code, signal, spawnError }) => {
      this.reportPending();
      this.relayed?.close();
      const reason = spawnError ? `cannot start ${this.binary}: ${spawnError.message}` : proc.lostWith ?? this.describeExit(code, signal);
      this.emit('exit', { camera: this.opts.camera, requested: this.stopRequested, reason, code, signal });
    });
    this.exited = exited;
    proc.once('spawn', () => {
      readLines(proc.stdout!, (l) => this.onSegmentLine(l), streamClosed);
      readLines(proc.stderr!, (l) => this.onStderr(l), streamClosed);
      readLines(proc.stdio[3]!, (l) => this.onProgress(l), streamClosed);
      this.log?.info({ camera: this.opts.camera, pid: proc.pid, url: this.opts.safeUrl }, 'ffmpeg recorder started');
      this.emit('spawned', { camera: this.opts.camera, pid: proc.pid });
    });
  }

  async stop(deadlineMs = 5000): Promise<void> {
    this.stopRequested = true;
    await this.launched;
    const proc = this.proc;
    if (!proc || !this.exited) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      // SIGINT: ffmpeg closes the open segment and reports it before exiting.
      killGroup(proc, 'SIGINT');
      if (!(await waitForExit(this.exited, deadlineMs))) {
        this.log?.warn({ camera: this.opts.camera, pid: proc.pid }, 'ffmpeg ignored SIGINT; killing its process group');
        killGroup(proc, 'SIGKILL');
      }
    }
    await this.exited;
    // Anything ffmpeg forked (it should not) goes with the group.
    killGroup(proc, 'SIGKILL');
  }

  /**
   * A closed segment, "name,start,end" in output seconds. Its wall-clock times come from when
   * ffmpeg wrote it (WriteClock): created for its first packet, last written as the next
   * segment's first packet arrived. Reading this line now is a third, later bound. While ffmpeg
   * is still writing out what it buffered during its probe, a whole segment is written at once
   * and says nothing about the wall clock: such segments wait for the first one written in real
   * time (at least half its length between creation and last write), a second or two.
   */
  private onSegmentLine(line: string): void {
    const [name, start, end] = line.split(',');
    if (!name || start === undefined || end === undefined) return;
    const startS = Number(start);
    const endS = Number(end);
    if (!Number.isFinite(startS) || !Number.isFinite(endS)) return;
    // After a step of the wall clock, file times and the clock disagree: start the WriteClock
    // again in the new clock, anchored now (the supervisor marks the segment the step fell in).
    const stepped = this.wallSteps.check() !== undefined;
    if (stepped) {
      this.clock = new WriteClock(); // times before the step are in the old clock
      this.wallAnchorMono = undefined;
    }
    this.wallAnchorMono ??= performance.now();
    let written = stepped ? undefined : fileWriteTimes(join(this.opts.stagingDir, name));
    // The kernel stamps files with its clock, ours reads the same one: a just-closed file stamped
    // far from now (a clock faked for this process, a file system with odd times) says nothing
    // about our clock, and the line's own reading time stands alone.
    if (written && Math.abs(written.modifiedMs - Date.now()) > FILE_TIME_TRUST_MS) written = undefined;
    if (written?.bornMs !== undefined) this.clock.observe(startS, written.bornMs);
    // the line's reading time only without the file's: it is later still, and a daemon busy for
    // seconds would read as a camera whose clock lost time (WriteClock.unsettled)
    if (written) this.clock.observe(endS, written.modifiedMs);
    else this.clock.observe(endS, Date.now());
    const writingMs = written?.bornMs === undefined ? Infinity : written.modifiedMs - written.bornMs;
    if (writingMs >= (endS - startS) * 500) this.realTimeSeen = true;
    this.pending.push({ name, startS, endS });
    // while late observations may mean the camera's clock lost time, segments wait to be dated
    // (at most WriteClock.PERSIST_MS; see WriteClock)
    if (this.realTimeSeen && !this.clock.unsettled) this.reportPending();
  }

  private reportPending(): void {
    if (this.clock.offsetMs() === undefined) return;
    for (const { name, startS, endS } of this.pending.splice(0)) {
      const { startMs, endMs } = this.clock.date(startS, endS)!;
      this.emit('segment', { camera: this.opts.camera, stagedPath: join(this.opts.stagingDir, name), startMs, endMs });
    }
  }

  /**
   * `-progress` prints blocks of key=value lines ending in `progress=continue`, and a last one
   * ending in `progress=end` as ffmpeg exits, which flushes buffered packets and must not read
   * as fresh media. Lines keep coming while a stalled camera sends nothing: only a moving
   * output clock counts.
   */
  private onProgress(line: string): void {
    const [key, value] = line.split('=', 2);
    if (key === 'out_time_us') this.blockOutUs = Number(value);
    if (line !== 'progress=continue') return;
    if (this.blockOutUs > this.lastOutUs) {
      this.lastOutUs = this.blockOutUs;
      this.emit('progress', { camera: this.opts.camera, atMs: Date.now() });
    }
  }

  private onStderr(line: string): void {
    const clean = scrubCredentials(line).trim();
    if (!clean) return;
    if (TIMESTAMP_WENT_BACK.test(clean)) this.onTimestampBack();
    this.stderrTail.push(clean);
    if (this.stderrTail.length > 5) this.stderrTail.shift();
    this.log?.debug({ camera: this.opts.camera, ffmpeg: clean }, 'ffmpeg');
  }

  /**
   * A camera whose timestamps went back (its RTP clock reset, a backward jump): ffmpeg, copying
   * the stream into segments, then gives every packet the previous time plus one tick, for as
   * long as the camera's times stay behind (an hour for an hour's jump): files a second long
   * whose pictures all fall in the same millisecond. A packet or two (a reordered one) is no
   * such case; a run of them within 2 s is: the recorder is stopped, its open segment closed,
   * and the supervisor starts it again on a new timeline, a gap of a second or two whose cause
   * is the camera's stream.
   */
  private onTimestampBack(): void {
    const now = Date.now();
    this.timestampsBack = this.timestampsBack.filter((t) => now - t < 2000);
    this.timestampsBack.push(now);
    if (this.timestampsBack.length < 5 || this.timestampsWentBack || this.stopRequested || !this.proc) return;
    this.timestampsWentBack = true;
    this.log?.warn({ camera: this.opts.camera }, 'the camera\'s timestamps went back; restarting its recorder on a new timeline');
    killGroup(this.proc, 'SIGINT');
  }

  private describeExit(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.timestampsWentBack) return 'ffmpeg was stopped: the camera\'s timestamps went back (its stream clock was reset), which a stream copy cannot record on; restarted on a new timeline';
    const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    // ffmpeg only saw the relay's 503 or 401; the relay knows what the camera did
    // an audio-only stream: ffmpeg's last words ("add a trailing '?' to the map") would send a
    // person to the command line, when what to fix is the camera's stream (or the profile chosen)
    const noVideo = this.stderrTail.some((l) => /^Stream map '0:v[^']*' matches no streams/.test(l))
      ? 'the camera\'s stream has no video (audio only?); set the camera, or pick a profile, that sends video' : undefined;
    // a camera that went away leaves ffmpeg's warnings about the packets before as its last words
    // ("Non-monotonous DTS ... changing to 1", "Timestamps are unset in a packet"): a gap's
    // detail had read as a timestamp problem
    const last = this.relayed?.upstreamError ?? noVideo ?? this.stderrTail.filter((l) => !PACKET_WARNING.test(l)).at(-1);
    return `ffmpeg ${how}${last ? `: ${last}` : code === 0 && !this.stopRequested ? ': the camera closed the stream' : ''}`;
  }
}
