import { execFile } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { access, open, readdir, readFile, statfs, unlink } from 'node:fs/promises';
import { loadavg, totalmem, freemem, uptime } from 'node:os';
import { join } from 'node:path';
import { settleWithin } from '../common/deadlines.js';

/**
 * The box's own health, for the MQTT health message, `edge-nvr status` and the watchdog.
 * Everything is read from the kernel (/proc, /sys, statfs) or from small tools with a timeout;
 * nothing here throws for a missing source: it reports null instead.
 */
export interface SystemHealth {
  uptime_s: number;
  /** 1, 5 and 15 minute load averages */
  load: [number, number, number];
  memory: { total_bytes: number; available_bytes: number };
  /** the hottest CPU/SoC thermal zone in °C; null when the box has none */
  temperature_c: number | null;
  /** Raspberry Pi firmware throttling (under-voltage, frequency cap, thermal); null elsewhere */
  throttled: { now: boolean; since_boot: boolean; raw: string } | null;
  /** null means nothing could tell: recordings are evidence, so callers treat null as an alarm */
  clock: { synchronized: boolean | null; source: string };
}

export interface DiskSpaceInfo {
  total_bytes: number;
  /** free for root */
  free_bytes: number;
  /** free for the service user (what the recorder can really use) */
  available_bytes: number;
}

const TOOL_TIMEOUT_MS = 3000;

export async function readSystemHealth(): Promise<SystemHealth> {
  const [memory, temperature_c, throttled, clock] = await Promise.all([
    readMemory(), readTemperature(), readThrottled(), readClockSync(),
  ]);
  const [l1, l5, l15] = loadavg();
  return { uptime_s: uptime(), load: [l1!, l5!, l15!], memory, temperature_c, throttled, clock };
}

/** MemAvailable (what can be allocated without swapping), not MemFree. */
export async function readMemory(meminfo = '/proc/meminfo'): Promise<SystemHealth['memory']> {
  const total_bytes = totalmem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(await readFile(meminfo, 'utf8'));
    if (m) return { total_bytes, available_bytes: Number(m[1]) * 1024 };
  } catch {
    // fall through
  }
  return { total_bytes, available_bytes: freemem() };
}

/**
 * Zones whose type names the CPU or SoC: Pi `cpu-thermal`, Jetson `CPU-therm`/`SOC0-therm`,
 * x86 `x86_pkg_temp`. Not board, PMIC (Jetson Nano's `PMIC-Die` reads a fixed 100 °C), GPU or
 * battery zones. Readings outside -40..150 °C are sensor errors and ignored.
 */
export const CPU_ZONE = /cpu|soc|x86_pkg_temp|coretemp|k10temp/i;

export async function readTemperature(root = '/sys/class/thermal'): Promise<number | null> {
  let zones: string[];
  try {
    zones = (await readdir(root)).filter((z) => z.startsWith('thermal_zone'));
  } catch {
    return null;
  }
  const readings = await Promise.all(zones.map(async (zone) => {
    try {
      const type = (await readFile(join(root, zone, 'type'), 'utf8')).trim();
      if (!CPU_ZONE.test(type)) return null;
      const c = Number((await readFile(join(root, zone, 'temp'), 'utf8')).trim()) / 1000;
      return Number.isFinite(c) && c > -40 && c < 150 ? c : null;
    } catch {
      return null; // some zones fail to read (EINVAL, ENODATA) while their sensor is off
    }
  }));
  const valid = readings.filter((c): c is number => c !== null);
  return valid.length ? Math.max(...valid) : null;
}

/** Bits of `vcgencmd get_throttled`: 0-3 now, 16-19 since boot (under-voltage, cap, throttle, soft limit). */
export function parseThrottled(output: string): SystemHealth['throttled'] {
  const m = /throttled=(0x[0-9a-f]+)/i.exec(output);
  if (!m) return null;
  const bits = parseInt(m[1]!, 16);
  return { now: (bits & 0xf) !== 0, since_boot: (bits & 0xf0000) !== 0, raw: m[1]! };
}

export async function readThrottled(): Promise<SystemHealth['throttled']> {
  const out = await run('vcgencmd', ['get_throttled']);
  return out === null ? null : parseThrottled(out);
}

/**
 * Whether the kernel clock is synchronised, from the first source that can tell:
 * 1. `timedatectl` (timedated reads the kernel's STA_UNSYNC flag; needs systemd and D-Bus);
 * 2. `chronyc tracking` where chrony keeps the time ("Leap status : Not synchronised");
 * 3. the flag file systemd-timesyncd touches once it has synchronised (its absence proves nothing).
 * Node cannot call adjtimex(2) itself. When none answers: `{ synchronized: null, source: 'unknown' }`.
 */
export async function readClockSync(): Promise<SystemHealth['clock']> {
  const td = (await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']))?.trim();
  if (td === 'yes' || td === 'no') return { synchronized: td === 'yes', source: 'timedatectl' };
  const chrony = await run('chronyc', ['-n', 'tracking']);
  const leap = chrony && /^Leap status\s*:\s*(.+)$/m.exec(chrony)?.[1]?.trim();
  if (leap) return { synchronized: leap !== 'Not synchronised', source: 'chronyc' };
  if (await exists('/run/systemd/timesync/synchronized')) return { synchronized: true, source: 'timesyncd' };
  return { synchronized: null, source: 'unknown' };
}

/**
 * This boot's id (Linux gives each boot a random one). Elsewhere, one per process: each start
 * then counts as a boot, and a clock behind since before it is not corrected for what an earlier
 * run of the same boot recorded.
 */
export function readBootId(path = '/proc/sys/kernel/random/boot_id'): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return `process-${process.pid}-${randomBytes(8).toString('hex')}`;
  }
}

/** statfs works on every filesystem, tmpfs included (systeminformation leaves tmpfs out). */
export async function diskSpace(path: string): Promise<DiskSpaceInfo> {
  const s = await statfs(path);
  return { total_bytes: s.blocks * s.bsize, free_bytes: s.bfree * s.bsize, available_bytes: s.bavail * s.bsize };
}

/**
 * Why `storage.free_space_floor_mb` cannot be kept on the filesystem holding `dir`, or null. A
 * floor the size of the disk or more can never be met: space deletion would take every segment
 * not held, minutes-old footage first among the youngest (an outside probe's 100000000 MB, a
 * typo or bytes meant, deleted a 14 s segment under its 30-day minimum, and the box went on).
 */
export function floorIssue(dir: string, floorMb: number): string | null {
  const s = statfsSync(dir);
  const totalMb = Math.floor((s.blocks * s.bsize) / 2 ** 20);
  if (floorMb < totalMb) return null;
  return `storage.free_space_floor_mb: ${floorMb} MB is not below the size of the data filesystem (${totalMb} MB at ${dir}): space deletion would delete every recording not held; set it well below, in MB (the default is 1024)`;
}

const probing = new Map<string, Promise<{ ok: boolean; error?: string }>>();
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Writes, fsyncs and removes a small file in `dir`: a read-only remount (EROFS, what ext4 does
 * after an I/O error), a failing disk (EIO), a full one (ENOSPC) or lost permissions (EACCES)
 * come back as `{ ok: false, error: code }`. An fsync that hangs (a dying SD card) reports
 * ETIMEDOUT after 10 s; while it still hangs, later probes of the same dir report EBUSY at once
 * instead of tying up another libuv thread.
 */
export function probeWritable(dir: string): Promise<{ ok: boolean; error?: string }> {
  const running = probing.get(dir);
  if (running) return Promise.resolve({ ok: false, error: 'EBUSY: the previous probe has not finished' });
  const probe = writeProbe(dir).finally(() => probing.delete(dir));
  probing.set(dir, probe);
  return settleWithin(probe, PROBE_TIMEOUT_MS, { ok: false, error: 'ETIMEDOUT' }, { unref: true });
}

async function writeProbe(dir: string): Promise<{ ok: boolean; error?: string }> {
  const path = join(dir, `.edge-nvr-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let created = false;
  try {
    const fh = await open(path, 'wx', 0o600);
    created = true;
    try {
      await fh.writeFile('edge-nvr write probe\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(path);
    created = false;
    return { ok: true };
  } catch (err) {
    if (created) await unlink(path).catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    return { ok: false, error: e.code ?? e.message };
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** stdout of a tool that exited 0 within the timeout; null for anything else (missing, failed, hung). */
function run(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: TOOL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 }, (err, stdout) => {
      resolve(err ? null : stdout);
    });
  });
}
