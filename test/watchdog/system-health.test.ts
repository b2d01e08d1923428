import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  diskSpace, parseThrottled, probeWritable, readClockSync, readSystemHealth, readTemperature,
} from '../../watchdog/system-health.js';

const MiB = 1024 * 1024;

function scratch(test: Pick<typeof t, 'teardown'>): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-health-'));
  test.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A tmpfs of `size` at a fresh mount point, or null where mounting is not allowed. */
function tmpfs(test: Pick<typeof t, 'teardown'>, options: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'edge-nvr-mnt-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' }).status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  test.teardown(() => {
    spawnSync('umount', [dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

t.test('reads real values from this machine', async (t) => {
  const h = await readSystemHealth();
  t.ok(h.uptime_s > 0, `uptime ${h.uptime_s} s`);
  t.equal(h.load.length, 3);
  t.ok(h.load.every((l) => Number.isFinite(l) && l >= 0), `load ${h.load.join(' ')}`);
  t.equal(h.memory.total_bytes, totalmem());
  t.ok(h.memory.available_bytes > 0 && h.memory.available_bytes < h.memory.total_bytes, 'MemAvailable between 0 and total');
  t.ok(h.temperature_c === null || (h.temperature_c > -40 && h.temperature_c < 150), `temperature ${h.temperature_c}`);
  t.ok(h.throttled === null || typeof h.throttled.now === 'boolean');
  t.type(h.clock.source, 'string');
  t.ok(h.clock.synchronized === null || typeof h.clock.synchronized === 'boolean');
  t.equal(h.clock.synchronized === null, h.clock.source === 'unknown', 'null exactly when no source could tell');
});

t.test('the clock source agrees with timedatectl where it answers', async (t) => {
  const td = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8' });
  const clock = await readClockSync();
  if (td.status === 0 && /^(yes|no)$/.test(td.stdout.trim())) {
    t.same(clock, { synchronized: td.stdout.trim() === 'yes', source: 'timedatectl' });
  } else {
    t.not(clock.source, 'timedatectl', `timedatectl cannot answer here (${(td.stderr || td.error?.message || '').trim().split('\n')[0]}), so another source or unknown`);
  }
});

t.test('temperature: the hottest CPU/SoC zone, other zones and broken sensors ignored', async (t) => {
  const root = scratch(t);
  const zone = (n: number, type: string, temp: string | null) => {
    mkdirSync(join(root, `thermal_zone${n}`));
    writeFileSync(join(root, `thermal_zone${n}`, 'type'), `${type}\n`);
    if (temp !== null) writeFileSync(join(root, `thermal_zone${n}`, 'temp'), `${temp}\n`);
  };
  mkdirSync(join(root, 'cooling_device0'));
  zone(0, 'CPU-therm', '48500');
  zone(1, 'GPU-therm', '71000'); // not the CPU
  zone(2, 'PMIC-Die', '100000'); // Jetson Nano's fixed fake reading
  zone(3, 'SOC0-therm', '52250');
  zone(4, 'cpu-thermal', '-273000'); // sensor error
  zone(5, 'x86_pkg_temp', null); // unreadable
  t.equal(await readTemperature(root), 52.25);
  t.equal(await readTemperature(join(root, 'missing')), null, 'no thermal class: null');
  const gpuOnly = scratch(t);
  mkdirSync(join(gpuOnly, 'thermal_zone0'));
  writeFileSync(join(gpuOnly, 'thermal_zone0', 'type'), 'GPU-therm\n');
  writeFileSync(join(gpuOnly, 'thermal_zone0', 'temp'), '40000\n');
  t.equal(await readTemperature(gpuOnly), null, 'no CPU zone: null');
  const real = await readTemperature();
  const zones = (() => { try { return readdirSync('/sys/class/thermal').filter((z) => z.startsWith('thermal_zone')); } catch { return []; } })();
  if (zones.length === 0) t.equal(real, null, 'this machine has no thermal zones');
  else t.ok(real === null || (real > -40 && real < 150), `this machine: ${real} °C`);
});

t.test('vcgencmd get_throttled bits', async (t) => {
  t.same(parseThrottled('throttled=0x0\n'), { now: false, since_boot: false, raw: '0x0' });
  t.same(parseThrottled('throttled=0x50000\n'), { now: false, since_boot: true, raw: '0x50000' }, 'under-voltage and throttling earlier');
  t.same(parseThrottled('throttled=0x50005\n'), { now: true, since_boot: true, raw: '0x50005' });
  t.equal(parseThrottled('VCHI initialization failed'), null);
});

t.test('diskSpace uses statfs and sees tmpfs', async (t) => {
  const dir = scratch(t);
  const d = await diskSpace(dir);
  t.ok(d.total_bytes > 0 && d.total_bytes >= d.free_bytes && d.free_bytes >= d.available_bytes && d.available_bytes > 0,
    `total ${d.total_bytes} >= free ${d.free_bytes} >= available ${d.available_bytes} > 0`);
  const df = execFileSync('df', ['-B1', '--output=size,avail', dir], { encoding: 'utf8' }).trim().split('\n')[1]!.trim().split(/\s+/).map(Number);
  t.equal(d.total_bytes, df[0], 'total as df reports it');
  t.ok(Math.abs(d.available_bytes - df[1]!) < 64 * MiB, 'available as df reports it (give or take other writers)');
  await t.rejects(diskSpace(join(dir, 'missing')), { code: 'ENOENT' }, 'a missing path is an error, not zeros');

  const small = tmpfs(t, 'size=4m');
  if (!small) return t.pass('a 4 MiB tmpfs', { skip: 'cannot mount a tmpfs here' });
  const s = await diskSpace(small);
  t.equal(s.total_bytes, 4 * MiB, 'a 4 MiB tmpfs is 4 MiB');
  writeFileSync(join(small, 'fill'), Buffer.alloc(3 * MiB));
  const after = await diskSpace(small);
  t.ok(after.available_bytes <= MiB, `3 MiB written, ${after.available_bytes} bytes left`);
});

t.test('probeWritable: ok where it can write, the error code where it cannot', async (t) => {
  const dir = scratch(t);
  t.same(await probeWritable(dir), { ok: true });
  t.same(readdirSync(dir), [], 'the probe file is gone');

  const proc = await probeWritable('/proc');
  t.equal(proc.ok, false);
  t.match(proc.error, /^(ENOENT|EACCES|EROFS|EPERM)$/, `/proc: ${proc.error}`);
  const sys = await probeWritable('/sys');
  t.equal(sys.ok, false);
  t.match(sys.error, /^(EACCES|EROFS|EPERM)$/, `/sys: ${sys.error}`);
  t.same(await probeWritable(join(dir, 'missing')), { ok: false, error: 'ENOENT' });

  const ro = tmpfs(t, 'ro,size=1m');
  if (ro) t.same(await probeWritable(ro), { ok: false, error: 'EROFS' }, 'a read-only mount (what ext4 does after an I/O error)');
  else t.pass('a read-only mount', { skip: 'cannot mount a tmpfs here' });

  const full = tmpfs(t, 'size=1m');
  if (full) {
    try {
      writeFileSync(join(full, 'fill'), Buffer.alloc(2 * MiB));
    } catch {
      // filled up to the last block
    }
    t.same(await probeWritable(full), { ok: false, error: 'ENOSPC' }, 'a full disk');
    t.same(readdirSync(full), ['fill'], 'the failed probe left nothing behind');
  } else {
    t.pass('a full disk', { skip: 'cannot mount a tmpfs here' });
  }
});
