import type { BackendExit } from '../recorder/backends/backend.js';

export type GapCause =
  | 'camera_unreachable' | 'stalled' | 'recorder_crashed' | 'stream_unusable' | 'disk_full' | 'disk_unwritable'
  | 'daemon_down' | 'daemon_stopped' | 'clock_jump' | 'camera_disabled';

/** The daemon's own interruptions: the time it was not running, whatever its cameras did then. */
export function isDaemonGap(cause: string): boolean {
  return cause === 'daemon_down' || cause === 'daemon_stopped';
}

/**
 * Gaps the box decided, not the camera: the daemon not running, or the camera taken out of the
 * config (removed, or `enabled: false`). Each ends where the camera's watch begins again: from
 * there the camera's own state is the cause.
 */
export function isBoxGap(cause: string): boolean {
  return isDaemonGap(cause) || cause === 'camera_disabled';
}

/**
 * Why a recorder stopped, from what it said on the way out and whether media had flowed.
 * A run that had media and then timed out, or went silent for most of `stallMs` (the shorter
 * of the supervisor's stall timeout and the backend's own socket timeout), stalled; a run
 * that never had media could not reach its camera. (ffmpeg flushes a last progress report
 * as it gives up, so silence alone cannot be measured to the end.)
 */
export function classifyExit(exit: BackendExit, run: { hadMedia: boolean; msSinceMedia: number; stallMs: number; diskFull?: boolean }): GapCause {
  // The camera's address is not why: a port like 40421 read as "404", a path with "refused" or
  // "timeout" in it as the network (a stall on port 40421 was a camera_unreachable gap in CI).
  const r = exit.reason.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]*/gi, '<url>');
  // ffmpeg 5.1 may die of SIGSEGV on ENOSPC without saying so: the disk itself is asked too
  if (run.diskFull || /No space left|ENOSPC/i.test(r)) return 'disk_full';
  if (/Read-only file system|EROFS|Input\/output error|EIO|Permission denied|EACCES/i.test(r)) return 'disk_unwritable';
  // the box's own helper that starts the recorders died, and they with it (recorder/backends/spawner.ts)
  if (/^the recorder spawner /.test(r)) return 'recorder_crashed';
  // the camera answers but sends nothing the box can record: its settings are the fix, not the
  // network or the recorder (read as a crash before, which sent an installer to the wrong place)
  if (/stream has no video|not currently supported in container|timestamps went back/i.test(r)) return 'stream_unusable';
  if (/refused|unreachable|No route|Unauthorized|\b40[14]\b|Not Found|resolve/i.test(r)) return 'camera_unreachable';
  // the camera answered RTSP with an error status (busy, out of sessions, forbidden): the camera
  // turned the box away, nothing crashed (ffmpeg: "Server returned 5XX Server Error reply", read
  // as recorder_crashed before: an outside probe)
  if (/Server returned|method [A-Z_]+ failed|Forbidden|Service Unavailable/i.test(r)) return 'camera_unreachable';
  // a server that took the connection and answered nothing RTSP can read never sent media (ffmpeg:
  // "Invalid data found when processing input"; GStreamer: "Could not receive message. (Parse
  // error)", or "(Received end-of-file)" from one that said nothing and closed): the camera is not
  // reached, the recorder did not crash
  if (!run.hadMedia && /Invalid data found|Parse error|end-of-file/i.test(r)) return 'camera_unreachable';
  // the camera answered RTSP, but what it sent gave the recorder no picture to start on (nothing
  // at all, or video without its parameters, SPS/PPS): its settings, not the network or the
  // recorder (read as a crash, which sent the site manager to the wrong place: an outside probe)
  if (!run.hadMedia && /Error initializing output stream|Could not find codec parameters/i.test(r)) return 'stream_unusable';
  if (run.hadMedia && (/timed? ?out/i.test(r) || run.msSinceMedia >= run.stallMs * 0.8)) return 'stalled';
  if (exit.code === 0 || /timed? ?out|closed the stream|EOS|Connection|Could not (open|connect)/i.test(r)) return 'camera_unreachable';
  return 'recorder_crashed';
}
