/**
 * A platform asks for the originals over MQTT (`cmd/evidence`): a camera really recorded by the
 * daemon, a real broker, a signed command from an allowed client. The bundle lands under
 * <data>/exports/, verifies offline, is listed by `edge-nvr exports`, and the range is held.
 * The same required fields as the CLI: a request lacking them, or from a client not allowed,
 * is refused and exports nothing.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxPublicKey } from '../../common/box-key.js';
import { commandHmac } from '../../daemon/mqtt/commands.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess, segmentIndexed, until } from '../support/daemon.js';
import { mqttBox } from '../support/mqtt-box.js';
import { Subscriber } from '../mqtt/subscriber.js';

const PREFIX = 'edge-nvr/test-box';

t.test('cmd/evidence from an authenticated platform writes a bundle that verifies offline', async (t) => {
  const { dir, data, broker, secret: SECRET, config } = await mqttBox(t, { commands: ['allowed_clients: [platform]'], yaml: ['integrity:', '  verify_read_mb_s: 0'] });
  const sub = await new Subscriber(broker.url, PREFIX).connect();
  t.teardown(() => sub.close());
  const started = Date.now();
  const daemon = new DaemonProcess(config).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  await until(() => daemon.countLog(segmentIndexed('cam1')) >= 2, 60000, 'two recorded segments');

  const args = {
    camera: 'cam1', from_ms: started - 60_000, to_ms: Date.now(), agency: 'Regional Police', approval: 'Court order 77/2026',
    officers: [{ name: 'Maria Lind', id: 'RP-301' }, { name: 'Omar Sahin', id: 'RP-412' }], reason: 'traffic accident, case 2026-881',
    destination: 'regional police evidence platform',
  };
  let n = 0;
  const send = async (client: string, a: Record<string, unknown>) => {
    const req: Record<string, unknown> = { id: `ev-${++n}`, client, nonce: randomBytes(12).toString('hex'), ts: Date.now(), args: a };
    req.hmac = commandHmac(SECRET, 'test-box', `${PREFIX}/cmd/evidence`, req);
    await sub.client.publishAsync(`${PREFIX}/cmd/evidence`, JSON.stringify(req), { qos: 1 });
    const reply = await sub.waitFor((m) => m.topic === `${PREFIX}/cmd/evidence/reply` && (m.json as { id: string }).id === req.id, 60000, `reply to ${req.id as string}`);
    return reply.json as { ok: boolean; error?: { code: string; message: string }; result?: { out: string; hold_id: number; segments: number; bundle_id: string } };
  };

  const stranger = await send('someone-else', args);
  t.equal(stranger.ok, false);
  t.equal(stranger.error?.code, 'unauthorized', 'a client not allowed is refused');
  const oneOfficer = await send('platform', { ...args, officers: [args.officers[0]] });
  t.equal(oneOfficer.error?.code, 'invalid', `one officer is refused: ${oneOfficer.error?.message}`);
  const sameId = await send('platform', { ...args, officers: [args.officers[0], { name: 'Maria Lind', id: 'RP-301' }] });
  t.match(sameId.error?.message, /two officers with different ID numbers/, 'two entries for one officer are refused');
  const noApproval = await send('platform', { ...args, approval: undefined });
  t.equal(noApproval.error?.code, 'invalid', 'no approval is refused');
  t.notOk(existsSync(join(data, 'exports')) && readdirSync(join(data, 'exports')).length, 'nothing exported for the refused requests');

  const ok = await send('platform', args);
  t.equal(ok.ok, true, JSON.stringify(ok.error));
  t.ok(ok.result!.segments >= 2, `${ok.result!.segments} original segments exported`);
  t.match(ok.result!.out, new RegExp(`^${join(data, 'exports')}/.*-evidence-ev-5\\.evidence$`), 'under <data>/exports/');
  const held = await sub.waitFor((m) => m.topic === `${PREFIX}/events` && (m.json as { type: string }).type === 'hold_added', 10000, 'hold_added');
  t.equal((held.json as { data: { hold_id: number; by: string } }).data.hold_id, ok.result!.hold_id, 'the hold is announced like any other');
  t.equal((held.json as { data: { by: string } }).data.by, 'mqtt:platform');

  writeFileSync(join(dir, 'box.pem'), boxPublicKey(data)!);
  const verified = await runCli(['verify-evidence', ok.result!.out, '--key', join(dir, 'box.pem')]);
  t.equal(verified.code, 0, verified.stdout.slice(-1500));
  t.match(verified.stdout, /Agency:\s+Regional Police/);
  t.match(verified.stdout, /Exported:.* by mqtt:platform/);

  const listed = await runCli(['exports', '--data', data, '--json']);
  const entries = (JSON.parse(listed.stdout) as { exports: Array<{ kind: string; state: string; camera: string; id: string }> }).exports;
  t.same(entries.map((e) => [e.kind, e.state, e.camera, e.id]), [['evidence', 'complete', 'cam1', ok.result!.bundle_id]], 'edge-nvr exports lists the bundle');
  const audit = JSON.parse((await runCli(['audit', '--data', data, '--json'])).stdout) as { entries: Array<{ action: string; actor: string }> };
  t.ok(audit.entries.some((e) => e.action === 'evidence' && e.actor === 'mqtt:platform'), 'registered with the client as actor');
  t.notOk(audit.entries.some((e) => e.actor === 'mqtt:someone-else'), 'the refused request is counted, not audited: the box cannot know who sent it (docs/mqtt.md)');

  // eight at once: one runs, four wait, the rest are refused (a sender with the secret cannot
  // start any number of copies of the originals at the same time)
  const burst = await Promise.all(Array.from({ length: 8 }, () => send('platform', args)));
  const refused = burst.filter((r) => !r.ok);
  t.equal(burst.filter((r) => r.ok).length, 5, 'one running and four waiting (a burst had four places in all: the first counted as waiting until it started)');
  t.equal(refused.length, 3, 'the rest refused');
  t.same([...new Set(refused.map((r) => r.error?.code))], ['unavailable'], 'refused as unavailable, to send again later');
  t.match(refused[0]?.error?.message, /waiting already/);
  t.equal((await daemon.stop()).code, 0);
  t.same(sub.messages.filter((m) => m.errors).map((m) => `${m.topic}: ${m.errors}`), [], 'every message validates against its published schema');
  const verified2 = await runCli(['verify', '--data', data]);
  t.equal(verified2.code, 0, `the box's own verify still holds after the export (hold, ledger, audit):\n${verified2.stdout.slice(-1200)}`);
});
