/**
 * The chained audit log holds what changes the box's evidence or its rules: first-boot
 * provisioning, daemon start and clean stop, retention overrides, the box key's creation, holds
 * added and released (with the person from the system, not only a free-text flag), config
 * reloads with a summary of what changed, and each camera added, removed, enabled or disabled.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { auditEntries } from '../../recorder/catalog/audit-log.js';
import { auditRetentionOverrides } from '../../daemon/audit-trail.js';
import { parseConfig } from '../../config/load.js';
import { eventPayload } from '../../daemon/mqtt/outbox.js';
import { CameraSim } from '../support/camera-sim.js';
import { CLI, runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until } from '../support/daemon.js';
import { loadSchemas } from '../mqtt/subscriber.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Entry { id: number; actor: string; action: string; camera: string | null; reason: string | null; details: Record<string, unknown> }

t.test('provisioning, start, overrides, key, holds, reloads, cameras and the clean stop are in the chained audit log', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'edge-nvr-audit-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const sim = await new CameraSim({ mounts: ['cam1', 'cam2', 'cam3'], width: 320, height: 180, fps: 10 }).start();
  t.teardown(() => sim.kill());
  const data = join(root, 'var/lib/edge-nvr');
  const camera = (id: string, enabled = true) => [`  - id: ${id}`, `    enabled: ${enabled}`, '    source:', '      type: rtsp', `      url: ${sim.url(id)}`,
    '    record:', '      segment_seconds: 2', '      timeout_seconds: 3'];
  const configText = (cams: string[][]) => [
    'box:', '  id: audited', 'storage:', `  path: ${data}`, '  free_space_floor_mb: 0',
    '  retention:', '    min_days: 7', '    below_legal_minimum_reason: works council agreement 2026-03',
    'integrity:', '  verify_read_mb_s: 0', 'watchdog:', '  backoff_s: [0.5, 1]', 'log:', '  level: debug',
    'cameras:', ...cams.flat(), '',
  ].join('\n');

  // first boot: the config arrives on the boot partition
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nedge-nvr:x:4242:\n');
  mkdirSync(join(root, 'boot/firmware'), { recursive: true });
  writeFileSync(join(root, 'boot/firmware/edge-nvr.yaml'), configText([camera('cam1'), camera('cam2')]));
  const prov = spawnSync(join(REPO, 'scripts/provision'), ['--root', root], { encoding: 'utf8', env: { ...process.env, EDGE_NVR_BIN: `${process.execPath} ${CLI}` } });
  t.equal(prov.status, 0, `provision applies the config: ${prov.stdout}${prov.stderr}`);
  const config = join(root, 'etc/edge-nvr/config.yaml');
  t.match(readFileSync(join(root, 'etc/edge-nvr/provisioned.jsonl'), 'utf8'), /"result":"applied"/, 'and records what it did');

  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 1 && daemon.countLog(segmentIndexed('cam2')) >= 1, 40000, 'both cameras recording');

  const sudo = { env: { ...process.env, SUDO_USER: 'alice' } };
  const now = Date.now();
  const added = await runCli(['hold', 'add', '--data', data, '--camera', 'cam1', '--from', String(now - 60_000), '--to', String(now), '--reason', 'case 2026-0042', '--by', 'legal team', '--json'], sudo);
  t.equal(added.code, 0, added.stderr);
  const released = await runCli(['hold', 'release', String(JSON.parse(added.stdout).id), '--data', data], sudo);
  t.equal(released.code, 0, released.stderr);

  // reload: cam2 removed, cam3 added, cam1 disabled
  writeFileSync(config, configText([camera('cam1', false), camera('cam3')]));
  const reload = await runCli(['reload', '--config', config]);
  t.equal(reload.code, 0, `reload accepted: ${reload.stdout}${reload.stderr}`);
  await until(() => daemon.countLog(segmentIndexed('cam3')) >= 1, 40000, 'cam3 recording');
  t.equal((await daemon.stop()).code, 0);

  const audit = await runCli(['audit', '--data', data, '--json', '--verify']);
  t.equal(audit.code, 0, `the audit chain verifies: ${audit.stderr}`);
  const entries = (JSON.parse(audit.stdout) as { entries: Entry[] }).entries.reverse();
  const find = (action: string, camera?: string) => entries.find((e) => e.action === action && (camera === undefined || e.camera === camera));
  const order = (...actions: string[]) => actions.map((a) => entries.findIndex((e) => e.action === a));

  const p = find('provision');
  t.ok(p, 'first-boot provisioning is in the log');
  t.match(p?.details, { result: 'applied', installed: '/etc/edge-nvr/config.yaml', source: '/boot/firmware/edge-nvr.yaml' });
  t.match(p?.details.sha256, /^[0-9a-f]{64}$/, 'with the sha256 of the config it installed');
  t.match(find('daemon.start')?.details, { box: 'audited', cameras: ['cam1', 'cam2'] }, 'the daemon start, with its cameras');
  const override = find('retention.override');
  t.equal(override?.reason, 'works council agreement 2026-03', 'the retention override in force, with its reason');
  t.match(override?.details, { overrides: [{ scope: 'storage.retention', min_days: 7 }] });
  t.ok(find('key.created'), 'the box key\'s creation');
  t.match(find('key.created')?.details.fingerprint, /^[0-9a-f]{16}$/);

  const hold = find('hold.add');
  t.equal(hold?.actor, 'unix:alice (sudo) for legal team', 'a hold names the sudo user, and on whose behalf');
  t.equal(hold?.reason, 'case 2026-0042');
  t.equal(find('hold.release')?.actor, 'unix:alice (sudo)', 'and so does its release');

  const reloaded = find('config.reload');
  t.match(reloaded?.details, { added: ['cam3'], removed: ['cam2'], disabled: ['cam1'] }, 'the reload, with what changed');
  t.ok((reloaded?.details.changed_sections as string[]).includes('cameras'), 'and which sections');
  t.notOk(JSON.stringify(reloaded).includes('rtsp://'), 'never the values themselves (camera URLs may hold credentials)');
  t.equal(reloaded?.actor, 'signal:SIGHUP');
  t.ok(find('camera.added', 'cam3') && find('camera.removed', 'cam2') && find('camera.disabled', 'cam1'), 'each camera change is an entry of its own');
  t.equal(entries.at(-1)?.action, 'daemon.stop', 'the clean stop is the last entry');
  const [prv, start, stop] = order('provision', 'daemon.start', 'daemon.stop');
  t.ok(start! < prv! && prv! < stop!, 'in the order things happened: start, the provisioning found at start, ..., stop');

  // one event shape for holds, as MQTT publishes it (the MQTT command goes through the same helper)
  const catalog = Catalog.openReadOnly(data);
  t.teardown(() => catalog.close());
  const schemas = loadSchemas();
  for (const ev of catalog.events(0, 1000).filter((e) => e.type.startsWith('hold_'))) {
    const payload = eventPayload('audited', `m-${ev.id}`, ev, Date.now());
    t.ok(schemas['event.schema.json']!(payload), `${ev.type} from the CLI matches the published event schema: ${JSON.stringify(schemas['event.schema.json']!.errors)}`);
    t.match(payload.data, { hold_id: Number, camera: 'cam1', by: /^unix:alice/ });
  }
});

t.test('a change of an override\'s bounds is an entry of its own, under the same reason', async (t) => {
  const dir = t.testdir();
  const catalog = Catalog.open(join(dir, 'data'));
  t.teardown(() => catalog.close());
  const withMax = (days: number) => parseConfig([
    'box:', '  id: b', 'storage:', `  path: ${join(dir, 'data')}`, '  retention:', '    min_days: 3', `    max_days: ${days}`,
    '    below_legal_minimum_reason: works council agreement 2026-03',
    'cameras:', '  - id: cam1', '    source:', '      type: rtsp', '      url: rtsp://127.0.0.1:8554/cam1',
  ].join('\n'), 'inline');
  auditRetentionOverrides(catalog, withMax(20), 'test');
  auditRetentionOverrides(catalog, withMax(20), 'test');
  auditRetentionOverrides(catalog, withMax(3), 'signal:SIGHUP');
  const overrides = auditEntries(catalog).filter((e) => e.action === 'retention.override');
  t.equal(overrides.length, 2, 'one entry per change, none for the same bounds again');
  t.match(JSON.parse(overrides[0]!.details!), { overrides: [{ scope: 'storage.retention', min_days: 3, max_days: 3 }] }, 'the newest names the new maximum (a reload from 20 to 3 days left no entry)');
});
